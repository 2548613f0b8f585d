/** `list`, `show`, `download`: reading entries of a mirror. */
import { type Command, InvalidArgumentError } from "commander";
import type { Register } from "../context.ts";
import type { Ctx } from "../context.ts";
import type { MirrorCliOptions } from "../mirror_options.ts";
import type { Entry, EntryRef, Mirror, MirrorSet } from "../../layout/mod.ts";
import { errorCode, errorMessage, UsageError } from "../../errors.ts";
import { runPool } from "../../core/pool.ts";
import {
  addLockfileOptions,
  type LockfileCliOptions,
  lockQueries,
  readCliLock,
} from "../lockfile.ts";
import { columnWidths, formatBytes, table } from "../output.ts";
import { Progress, withTarballProgress } from "../progress.ts";
import { signatureText, treeLines } from "../present.ts";

async function open(ctx: Ctx, o: MirrorCliOptions) {
  const { openCliMirrors } = await import("../mirror_options.ts");
  const r = await openCliMirrors(o, ctx.globals, ctx.signal, ctx.out);
  for (const n of r.mirrors.notes()) ctx.out.info(`note: ${n}`);
  return r;
}

function mirrorInfo(m: Mirror) {
  return { url: m.url, name: m.name, layouts: m.layout.versions, notes: m.notes() };
}

function sortRefs(refs: EntryRef[]): EntryRef[] {
  // Collators made once: `localeCompare` with options builds one per comparison.
  const text = new Intl.Collator();
  const numeric = new Intl.Collator(undefined, { numeric: true });
  return [...refs].sort((a, b) =>
    text.compare(a.name, b.name) || numeric.compare(a.version, b.version) ||
    text.compare(a.hash, b.hash)
  );
}

/** The JSON shape of an entry (`show --json`). */
function entryJson(
  e: Entry,
  inCache: Map<string, boolean>,
  hashes: Map<string, { ok: boolean; computed?: string }>,
) {
  return {
    name: e.ref.name,
    version: e.ref.version,
    hash: e.ref.hash,
    arch: e.ref.arch ?? null,
    compiler: e.ref.compiler ?? null,
    mirror: e.ref.mirror ?? null,
    layout: e.ref.layout,
    signature: {
      status: e.signatureStatus ?? (e.signedBy ? "verified" : e.signed ? "untrusted" : "unsigned"),
      signed: e.signed,
      verified: !!e.signedBy,
      fingerprint: e.signedBy ?? null,
      keyIds: e.signerKeyIds ?? [],
      error: e.signatureError ?? null,
    },
    substitution: e.substitution ?? null,
    metadataPath: e.metadataPath,
    tarball: { path: e.tarballPath, ...e.tarball },
    specBlob: e.specBlob ? { path: e.specBlob.path, ...e.specBlob.descriptor } : null,
    legacy: e.legacy ?? null,
    spec: {
      formatVersion: e.spec.formatVersion,
      root: e.spec.root,
      nodes: [...e.spec.nodes.values()].map((n) => ({
        name: n.name,
        version: n.version,
        hash: n.hash,
        arch: n.arch ? `${n.arch.platform}-${n.arch.platformOs}-${n.arch.target}` : null,
        compiler: n.compiler ? `${n.compiler.name}@${n.compiler.version}` : null,
        namespace: n.namespace ?? null,
        external: n.external ?? null,
        inMirrors: inCache.get(n.hash) ?? false,
        dagHash: {
          ok: hashes.get(n.hash)?.ok ?? false,
          computed: hashes.get(n.hash)?.computed ?? null,
        },
        dependencies: n.dependencies,
      })),
    },
  };
}

function hashText(h: { ok: boolean; computed?: string } | undefined): string {
  if (!h) return "-";
  if (h.ok) return "matches the spec";
  if (!h.computed) return "not recomputed (spec from an era whose hash cannot be reproduced)";
  return `MISMATCH: the spec hashes to ${h.computed} (Spack uses the stored hash; reported only)`;
}

function addMirror(cmd: Command, signatures = true): Command {
  const collect = (v: string, p?: string[]) => [...(p ?? []), v];
  cmd.option(
    "-m, --mirror <url>",
    "mirror path, URL (file://, https://, s3://) or configured name; repeat to search several in order",
    collect,
  );
  if (signatures) {
    cmd
      .option(
        "--keyring <dir>",
        "directory of trusted public keys (default: SPACKLE_KEYRING, ~/.config/spackle/keyring)",
      )
      .option("-k, --key <file>", "also trust this armored public key (repeatable)", collect)
      .option("--allow-unsigned", "read unsigned metadata and signatures by untrusted keys", false);
  }
  return cmd;
}

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
  addMirror(
    program
      .command("list")
      .alias("ls")
      .description("list the specs in build caches (from their indexes)")
      .argument("[query...]", "filters: NAME, NAME@VERSION, /HASH, %COMPILER, arch=, os=, target=")
      .option("-l, --long", "show full hashes", false)
      .option(
        "-a, --all",
        "also list index entries not in the cache (externals, build-only)",
        false,
      ),
    false,
  )
    .addHelpText(
      "after",
      "\nExamples:\n  spackle list -m ./mirror\n  spackle list -m https://cache.example.org zlib@1.3 target=x86_64_v3\n" +
        "  spackle list -m ./a -m ./b --json /abc12",
    )
    .action(
      act(async (ctx, query: string[], o: MirrorCliOptions & { long: boolean; all: boolean }) => {
        const { mirrors } = await open(ctx, { ...o, allowUnsigned: true });
        const refs = sortRefs((await mirrors.list(query, { signal: ctx.signal }))
          .filter((r) => o.all || r.inBuildcache));
        if (ctx.out.json) {
          ctx.out.data({
            mirrors: mirrors.mirrors.map(mirrorInfo),
            ...(mirrors.skipped.length
              ? {
                skipped: mirrors.skipped.map((s) => ({
                  mirror: s.source,
                  error: { code: errorCode(s.error), message: errorMessage(s.error) },
                })),
              }
              : {}),
            specs: refs,
          });
          return;
        }
        const row = (r: EntryRef) => [
          r.name,
          r.version,
          o.long ? r.hash : r.hash.slice(0, 7),
          r.arch ?? "-",
          r.compiler ?? "-",
          ...(o.all ? [r.inBuildcache ? "" : "(not in cache)"] : []),
        ];
        // Rows are made a part at a time and written in large writes, with collections asked
        // for as the garbage grows: tens of thousands of rows would otherwise all be held.
        const { MemoryPacer } = await import("../../core/memory_pacer.ts");
        const pacer = new MemoryPacer({ headroom: 8 << 20, every: 256 << 10 });
        const widths: number[] = [];
        const PART = 2000;
        for (let i = 0; i < refs.length; i += PART) {
          columnWidths(refs.slice(i, i + PART).map(row), widths);
          pacer.add(PART * 64);
        }
        for (let i = 0; i < refs.length; i += PART) {
          const lines = table(refs.slice(i, i + PART).map(row), widths);
          const text = lines.map((line) => line.trimEnd()).join("\n");
          ctx.out.out(text);
          pacer.add(text.length);
        }
        ctx.out.info(`${refs.length} spec${refs.length === 1 ? "" : "s"}`);
      }),
    );

  addMirror(
    program
      .command("show")
      .description(
        "show one spec: metadata, dependency tree with dependency types, blob sizes and digests, signature status",
      )
      .argument("<spec>", "NAME, NAME@VERSION, /HASH or NAME/HASH"),
  )
    .addHelpText(
      "after",
      "\nExamples:\n  spackle show -m ./mirror fooapp\n  spackle show -m ./mirror --json libzz/irttwv2\n" +
        "  spackle show -m https://cache.example.org --allow-unsigned zlib@1.3.1",
    )
    .action(act(async (ctx, query: string, o: MirrorCliOptions) => {
      // Reading is not trusting: every entry is shown, with its signature status.
      const { mirrors } = await open(ctx, o);
      const ref = await mirrors.resolve(query, { signal: ctx.signal });
      const e = await mirrors.entry(ref.hash, { inspect: true, signal: ctx.signal });
      const inCache = new Map<string, boolean>();
      for (const h of e.spec.nodes.keys()) {
        inCache.set(h, (await mirrors.ref(h, { signal: ctx.signal }))?.inBuildcache ?? false);
      }
      const { checkDagHash } = await import("../../spec/dag_hash.ts");
      const hashes = new Map(
        [...e.spec.nodes.values()].map((n) => [n.hash, checkDagHash(n, e.spec.formatVersion)]),
      );
      if (ctx.out.json) {
        ctx.out.data(entryJson(e, inCache, hashes));
        return;
      }
      const c = ctx.out.color;
      const out = (l: string) => ctx.out.out(l);
      out(c.bold(`${e.ref.name}@${e.ref.version}/${e.ref.hash}`));
      const rows: string[][] = [
        ["mirror", `${e.ref.mirror ?? ""} (layout v${e.ref.layout})`],
        ["arch", e.ref.arch ?? "-"],
        ["compiler", e.ref.compiler ?? "-"],
        ["spec format", String(e.spec.formatVersion)],
        ["dag hash", hashText(hashes.get(e.ref.hash))],
        ["signature", signatureText(e, c.red)],
        ...(e.substitution ? [["SUBSTITUTED", c.red(e.substitution)]] : []),
        ["metadata", e.metadataPath],
        [
          "tarball",
          `${e.tarballPath}\n${" ".repeat(14)}${
            formatBytes(e.tarball.size)
          } (${e.tarball.size} bytes) sha256:${e.tarball.checksum}`,
        ],
      ];
      if (e.specBlob) {
        const d = e.specBlob.descriptor;
        rows.push([
          "spec blob",
          `${e.specBlob.path}\n${" ".repeat(14)}${
            formatBytes(d.size)
          } (${d.size} bytes) sha256:${d.checksum}`,
        ]);
      }
      if (e.legacy) rows.push(["legacy", e.legacy]);
      for (const [k, v] of rows) {
        const [first, ...rest] = v.split("\n");
        out(`  ${(k + ":").padEnd(13)}${first}`);
        for (const r of rest) out(r);
      }
      out("");
      out(c.bold("dependencies:"));
      for (const l of treeLines(e.spec, inCache)) out("  " + l);
    }));

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
          const { mirrors, requireSignature } = await open(ctx, o);
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
