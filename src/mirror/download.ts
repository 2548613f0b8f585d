/**
 * Downloading specs' files out of mirrors into a directory, at the paths they have in the
 * mirror: the metadata (whose signature the entry checked), the spec blob and the tarball,
 * each verified against its sha256 and size while written.
 *
 * A run is all or nothing: files are written under temporary names and moved into place only
 * when every file of every spec arrived and verified; otherwise they are removed with the
 * directories the run created, and nothing of the run is left in the target.
 *
 * @module
 */
import { mkdir, open as openFile, rename, rm, rmdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import process from "node:process";
import { runPool } from "../core/pool.ts";
import { verifyStream } from "../core/digest.ts";
import { collect } from "../core/streams.ts";
import { checkStorePath } from "../storage/path.ts";
import { checkSubstitution, signatureWarning } from "../layout/mod.ts";
import type { Entry, EntryRef, ReadOptions } from "../layout/types.ts";
import type { MirrorSet } from "../layout/open.ts";

/** One file a download wrote. */
export interface DownloadedFile {
  /** Its path in the mirror, and under the target directory. */
  path: string;
  size: number;
  /** The sha256 it was verified against (none for the metadata and legacy tarballs). */
  sha256?: string;
  /** False for unsigned or untrusted metadata and legacy tarballs, which cannot be checked. */
  verified: boolean;
}

/** One spec a download fetched. */
export interface DownloadedSpec {
  name: string;
  version: string;
  hash: string;
  mirror?: string;
  files: DownloadedFile[];
}

/** What `specsToDownload` resolved. */
export interface DownloadPlan {
  /** The specs to fetch, each once, in query order (a root before its dependencies). */
  refs: EntryRef[];
  /** The query each root spec was named by (checked for substitution when fetched). */
  rootQueries: Map<string, string>;
  /** Dependencies left out because they are not in the build cache (each once). */
  skipped: EntryRef[];
}

/**
 * The specs `queries` name in `mirrors`, with (`deps`) their link and run dependencies that
 * are in the build cache.
 */
export async function specsToDownload(
  mirrors: Pick<MirrorSet, "resolve" | "closure">,
  queries: string[],
  opts: { deps?: boolean; requireSignature?: boolean; signal?: AbortSignal } = {},
): Promise<DownloadPlan> {
  const refs: EntryRef[] = [];
  const skipped: EntryRef[] = [];
  const seen = new Set<string>();
  const rootQueries = new Map<string, string>();
  for (const query of queries) {
    const root = await mirrors.resolve(query, { signal: opts.signal });
    rootQueries.set(root.hash, query);
    let got = [root];
    if (opts.deps) {
      const all = await mirrors.closure(root.hash, {
        requireSignature: opts.requireSignature,
        signal: opts.signal,
      });
      for (const r of all.filter((r) => !r.inBuildcache && !seen.has(r.hash))) {
        seen.add(r.hash);
        skipped.push(r);
      }
      got = all.filter((r) => r.inBuildcache);
    }
    for (const r of got) {
      if (!seen.has(r.hash)) refs.push(r);
      seen.add(r.hash);
    }
  }
  return { refs, rootQueries, skipped };
}

/** Options of `downloadSpecs`. */
export interface DownloadOptions {
  /** The target directory (created when missing). */
  to: string;
  /** Specs fetched at once (default 4). */
  jobs?: number;
  /** Refuse metadata that is unsigned or signed by a key not trusted (the reader's default). */
  requireSignature?: boolean;
  /** Root specs' queries (from `specsToDownload`): a substituted spec is refused. */
  rootQueries?: Map<string, string>;
  signal?: AbortSignal;
  /**
   * Where entries are read through (default `mirrors`): a wrapper that counts the tarballs'
   * bytes for a progress display, for example.
   */
  entries?: { entry(hash: string, opts?: ReadOptions): Promise<Entry> };
  /** A spec whose signature is not verified (admitted by `requireSignature` false). */
  onWarning?(message: string): void;
  /** A legacy tarball, written without verification. */
  onLegacy?(message: string): void;
  /** A spec whose files all arrived (moved into place only when the whole run did). */
  onSpec?(spec: DownloadedSpec): void;
}

/** What `downloadSpecs` did. */
export interface DownloadResult {
  /** The specs fetched, in the order of the refs given. */
  specs: DownloadedSpec[];
  /** One line per spec whose signature is not verified. */
  warnings: string[];
  bytes: number;
}

/**
 * Fetches the files of `refs` from `mirrors` into `opts.to`, verified; all or nothing (see the
 * module). Rejects with the first failure, after the fetches running then have stopped and
 * the run's files are removed.
 */
export async function downloadSpecs(
  mirrors: MirrorSet,
  refs: EntryRef[],
  opts: DownloadOptions,
): Promise<DownloadResult> {
  const entries = opts.entries ?? mirrors;
  const specs: DownloadedSpec[] = new Array(refs.length);
  const warnings: string[] = [];
  let bytes = 0;
  const run: DownloadRun = { pending: [], dirs: [] };
  const worker = async (r: EntryRef, i: number) => {
    const e = await entries.entry(r.hash, {
      requireSignature: opts.requireSignature,
      signal: opts.signal,
    });
    const query = opts.rootQueries?.get(r.hash);
    if (query !== undefined) checkSubstitution(query, e);
    const warning = signatureWarning(e);
    if (warning) {
      const w = `${e.ref.name}/${e.ref.hash.slice(0, 7)}: ${warning}`;
      warnings.push(w);
      opts.onWarning?.(w);
    }
    const files = await downloadEntry(mirrors, e, opts, run);
    bytes += files.reduce((a, f) => a + f.size, 0);
    specs[i] = {
      name: e.ref.name,
      version: e.ref.version,
      hash: r.hash,
      mirror: r.mirror,
      files,
    };
    opts.onSpec?.(specs[i]);
  };
  let ok = false;
  try {
    // runPool waits for the running workers before it throws, so cleanup comes last.
    await runPool(refs, opts.jobs ?? 4, worker);
    ok = true;
  } finally {
    await finishDownloadRun(run, ok);
  }
  return { specs, warnings, bytes };
}

/**
 * Files of one download run: written under temporary names, moved into place only when every
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

/** Writes one entry's files under `opts.to` (staged in `run`). */
async function downloadEntry(
  mirrors: MirrorSet,
  e: Entry,
  opts: DownloadOptions,
  run: DownloadRun,
): Promise<DownloadedFile[]> {
  const signal = opts.signal;
  const m = mirrors.mirrors.find((x) => (x.name ?? x.url) === e.ref.mirror) ?? mirrors.mirrors[0];
  const files: DownloadedFile[] = [];
  const dest = (p: string) => {
    checkStorePath(p);
    return join(opts.to, ...p.split("/"));
  };
  // Metadata: the bytes entry() checked (re-read only for a reader that does not keep them).
  const meta = e.metadataText !== undefined
    ? new TextEncoder().encode(e.metadataText)
    : await collect(await m.store.read(e.metadataPath, { signal }));
  files.push({
    path: e.metadataPath,
    size: await writeFileStaged(dest(e.metadataPath), meta, run),
    verified: e.signed && !!e.signedBy,
  });
  if (e.specBlob) {
    const d = e.specBlob.descriptor;
    const body = (await m.store.read(e.specBlob.path, { signal })).pipeThrough(
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
    const body = await m.store.read(e.tarballPath, { signal });
    opts.onLegacy?.(`${e.ref.name}/${e.ref.hash.slice(0, 7)}: ${e.legacy}; tarball not verified`);
    files.push({
      path: e.tarballPath,
      size: await writeFileStaged(dest(e.tarballPath), body, run),
      verified: false,
    });
  } else {
    files.push({
      path: e.tarballPath,
      size: await writeFileStaged(dest(e.tarballPath), await e.openTarball({ signal }), run),
      sha256: e.tarball.checksum,
      verified: true,
    });
  }
  return files;
}
