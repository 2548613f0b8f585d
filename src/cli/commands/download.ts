/** `download`: a spec's files, verified, into a directory. */
import { InvalidArgumentError } from "commander";
import type { Register } from "../context.ts";
import type { Ctx } from "../context.ts";
import type { MirrorCliOptions } from "../mirror_options.ts";
import type { Entry, EntryRef, MirrorSet } from "../../layout/mod.ts";
import { UsageError } from "../../errors.ts";
import { runPool } from "../../core/pool.ts";
import {
  addLockfileOptions,
  type LockfileCliOptions,
  lockQueries,
  readCliLock,
} from "../lockfile.ts";
import { formatBytes } from "../output.ts";
import { Progress, withTarballProgress } from "../progress.ts";
import { addMirror, openReadMirrors } from "../read_options.ts";

/**
 * Files of one `download` run: written under temporary names, moved into place only when every
 * file of the run arrived and verified, or removed with the directories the run created.
 */
interface DownloadRun {
  pending: { tmp: string; path: string }[];
  /** Directories this run created (the first of each `mkdir -p`). */
  dirs: string[];
}

async function writeFileStaged(
  path: string,
  body: ReadableStream<Uint8Array> | Uint8Array,
  run: DownloadRun,
): Promise<number> {
  const { mkdir, rm, open: openFile } = await import("node:fs/promises");
  const { dirname } = await import("node:path");
  const made = await mkdir(dirname(path), { recursive: true });
  if (made) run.dirs.push(made);
  const tmp = `${path}.part-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const fh = await openFile(tmp, "wx");
  run.pending.push({ tmp, path });
  let size = 0;
  try {
    if (body instanceof Uint8Array) {
      await fh.writeFile(body);
      size = body.byteLength;
    } else {
      for await (const chunk of body) {
        await fh.write(chunk);
        size += chunk.byteLength;
      }
    }
    await fh.close();
  } catch (e) {
    await fh.close().catch(() => {});
    await rm(tmp, { force: true });
    throw e;
  }
  return size;
}

/** Moves a run's files into place, or (`ok` false) removes them and the directories it made. */
async function finishDownloadRun(run: DownloadRun, ok: boolean): Promise<void> {
  const { rename, rm, rmdir } = await import("node:fs/promises");
  if (ok) {
    for (const f of run.pending) await rename(f.tmp, f.path);
    return;
  }
  for (const f of run.pending) await rm(f.tmp, { force: true });
  // Deepest first; a directory something else was put in meanwhile stays.
  const dirs = new Set<string>();
  for (const d of run.dirs) {
    for (const f of run.pending) {
      for (let p = f.path; p.startsWith(d + "/") || p === d; p = p.slice(0, p.lastIndexOf("/"))) {
        if (p !== f.path) dirs.add(p);
      }
    }
  }
  for (const d of [...dirs].sort((a, b) => b.length - a.length)) {
    await rmdir(d).catch(() => {});
  }
}

async function download(
  ctx: Ctx,
  mirrors: MirrorSet,
  e: Entry,
  to: string,
  run: DownloadRun,
): Promise<{ path: string; size: number; sha256?: string; verified: boolean }[]> {
  const { collect } = await import("../../core/streams.ts");
  const { verifyStream } = await import("../../core/digest.ts");
  const { checkStorePath } = await import("../../storage/path.ts");
  const { join } = await import("node:path");
  const m = mirrors.mirrors.find((x) => (x.name ?? x.url) === e.ref.mirror) ?? mirrors.mirrors[0];
  const files: { path: string; size: number; sha256?: string; verified: boolean }[] = [];
  const dest = (p: string) => {
    checkStorePath(p);
    return join(to, ...p.split("/"));
  };
  // Metadata: the bytes entry() checked (re-read only for a reader that does not keep them).
  const meta = e.metadataText !== undefined
    ? new TextEncoder().encode(e.metadataText)
    : await collect(await m.store.read(e.metadataPath, { signal: ctx.signal }));
  files.push({
    path: e.metadataPath,
    size: await writeFileStaged(dest(e.metadataPath), meta, run),
    verified: e.signed && !!e.signedBy,
  });
  if (e.specBlob) {
    const d = e.specBlob.descriptor;
    const body = (await m.store.read(e.specBlob.path, { signal: ctx.signal })).pipeThrough(
      verifyStream({ digest: d.checksum, size: d.size }, `spec blob "${e.specBlob.path}"`),
    );
    files.push({
      path: e.specBlob.path,
      size: await writeFileStaged(dest(e.specBlob.path), body, run),
      sha256: d.checksum,
      verified: true,
    });
  }
  if (e.legacy) {
    // Legacy tarballs cannot be verified against their checksum (it is of an inner file).
    const body = await m.store.read(e.tarballPath, { signal: ctx.signal });
    ctx.out.warn(`${e.ref.name}/${e.ref.hash.slice(0, 7)}: ${e.legacy}; tarball not verified`);
    files.push({
      path: e.tarballPath,
      size: await writeFileStaged(dest(e.tarballPath), body, run),
      verified: false,
    });
  } else {
    files.push({
      path: e.tarballPath,
      size: await writeFileStaged(
        dest(e.tarballPath),
        await e.openTarball({ signal: ctx.signal }),
        run,
      ),
      sha256: e.tarball.checksum,
      verified: true,
    });
  }
  return files;
}

const register: Register = (program, act) => {
  const downloadCmd = addMirror(
    program
      .command("download")
      .description(
        "fetch a spec's metadata and blobs into a directory (same paths as in the mirror), verifying each",
      )
      .argument("[spec...]", "NAME, NAME@VERSION, /HASH or NAME/HASH (or --lockfile/-e)")
      .requiredOption("--to <dir>", "destination directory (created when missing)")
      .option("--deps", "also fetch its link and run dependencies", false)
      .option("-j, --jobs <n>", "specs fetched at once", (v: string) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 1) {
          throw new InvalidArgumentError(`--jobs must be a whole number above 0, not "${v}"`);
        }
        return n;
      }, 4),
  );
  addLockfileOptions(downloadCmd);
  downloadCmd
    .addHelpText(
      "after",
      "\nExamples:\n  spackle download -m ./mirror fooapp --to ./dl\n" +
        "  spackle download -m https://cache.example.org --deps zlib@1.3.1 --to /tmp/zlib\n" +
        "  spackle download -m https://cache.example.org --lockfile spack.lock --deps --to ./dl",
    )
    .action(
      act(
        async (
          ctx,
          queries: string[],
          o: MirrorCliOptions & LockfileCliOptions & { to: string; deps: boolean; jobs: number },
        ) => {
          const lock = await readCliLock(o);
          if (!queries.length && !lock) {
            throw new UsageError("Cannot download: give a spec, --lockfile or -e");
          }
          const { mirrors, requireSignature } = await openReadMirrors(ctx, o);
          if (lock) {
            const { requireLockSpecs } = await import("../../mirror/lockfile.ts");
            await requireLockSpecs(lock.lock, mirrors, lock.label, {
              all: lock.all,
              noDeps: !o.deps,
              signal: ctx.signal,
            });
          }
          const refs: EntryRef[] = [];
          const seen = new Set<string>();
          const rootQueries = new Map<string, string>();
          for (const query of lockQueries(queries, lock)) {
            const root = await mirrors.resolve(query, { signal: ctx.signal });
            rootQueries.set(root.hash, query);
            let got = [root];
            if (o.deps) {
              const all = await mirrors.closure(root.hash, {
                requireSignature,
                signal: ctx.signal,
              });
              for (const r of all.filter((r) => !r.inBuildcache && !seen.has(r.hash))) {
                seen.add(r.hash);
                ctx.out.info(
                  `skipping ${r.name}@${r.version}/${r.hash.slice(0, 7)}: not in the build cache`,
                );
              }
              got = all.filter((r) => r.inBuildcache);
            }
            for (const r of got) {
              if (!seen.has(r.hash)) refs.push(r);
              seen.add(r.hash);
            }
          }
          type Done = {
            name: string;
            version: string;
            hash: string;
            mirror?: string;
            files: Awaited<ReturnType<typeof download>>;
          };
          const done: Done[] = new Array(refs.length);
          const warnings: string[] = [];
          const { checkSubstitution, signatureWarning } = await import("../../layout/mod.ts");
          ctx.onInterrupt(() =>
            `nothing downloaded into "${o.to}" (${
              done.filter(Boolean).length
            } of ${refs.length} specs had arrived; a download is kept only whole)`
          );
          let bytes = 0;
          const progress = Progress.for(ctx.out);
          progress.setTotal(undefined, refs.length);
          const counted = withTarballProgress(mirrors, progress);
          const worker = async (r: typeof refs[number], i: number) => {
            const e = await counted.entry(r.hash, { requireSignature, signal: ctx.signal });
            const query = rootQueries.get(r.hash);
            if (query !== undefined) checkSubstitution(query, e);
            const warning = signatureWarning(e);
            if (warning) {
              const w = `${e.ref.name}/${e.ref.hash.slice(0, 7)}: ${warning}`;
              warnings.push(w);
              if (progress.enabled) progress.log(`warning: ${w}`);
              else ctx.out.warn(w);
            }
            const files = await download(ctx, mirrors, e, o.to, run);
            bytes += files.reduce((a, f) => a + f.size, 0);
            const line = `downloaded ${e.ref.name}@${e.ref.version}/${
              r.hash.slice(0, 7)
            } (${files.length} files)`;
            if (progress.enabled) progress.log(line);
            else ctx.out.info(line);
            done[i] = {
              name: e.ref.name,
              version: e.ref.version,
              hash: r.hash,
              mirror: r.mirror,
              files,
            };
          };
          // Nothing appears in the target unless every file of the run arrived and verified.
          const run: DownloadRun = { pending: [], dirs: [] };
          let ok = false;
          try {
            // runPool waits for the running workers before it throws, so cleanup comes last.
            await runPool(refs, o.jobs, worker);
            ok = true;
          } finally {
            progress.stop();
            await finishDownloadRun(run, ok);
          }
          if (ctx.out.json) {
            ctx.out.data({ to: o.to, specs: done, warnings });
            return;
          }
          ctx.out.out(
            `${done.length} spec${done.length === 1 ? "" : "s"}, ${
              formatBytes(bytes)
            } into ${o.to}`,
          );
        },
      ),
    );
};
export default register;
