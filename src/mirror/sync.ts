/**
 * `sync`: copies entries (with their runtime closure, or everything) from any mirror to a v3
 * mirror. v3 sources are copied verbatim (signatures preserved): blobs first, verified by
 * checksum and size while streaming, then the manifest. Blobs already at the destination with
 * the right size are skipped (content addressing) and manifests already identical are skipped,
 * so an interrupted run resumes where it stopped. v2 sources are migrated. The destination
 * index (and key index) is rebuilt once at the end.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { IntegrityError, NotFoundError, UsageError } from "../errors.ts";
import { clearsignedBody, isClearsigned } from "../layout/clearsign.ts";
import { parseManifest } from "../layout/manifest.ts";
import { openMirror } from "../layout/mirror.ts";
import {
  parseV3KeyManifestPath,
  parseV3SpecManifestPath,
  V3_KEY_DIR,
  V3_SPEC_DIR,
  v3BlobPath,
  v3IndexManifestPath,
  v3SpecManifestPath,
} from "../layout/v3/paths.ts";
import { V3Writer } from "../layout/v3/writer.ts";
import { detectLayout } from "../layout/detect.ts";
import { updateIndex } from "../push/update_index.ts";
import type { Verifier } from "../sign/types.ts";
import type { ReadStore, Store } from "../storage/store.ts";
import { migrate } from "./migrate.ts";

/** Options of `syncMirror`. */
export interface SyncOptions {
  /** Spec queries: copy these entries and their runtime closure (default: everything). */
  specs?: string[];
  /** Objects copied at once (default 8). */
  jobs?: number;
  /** Work out what would be copied, write nothing. */
  dryRun?: boolean;
  /** Verifies v2 spec files when a v2 source is migrated (unsigned migration otherwise). */
  verifier?: Verifier;
  signal?: AbortSignal;
  /** Called after each manifest is handled. */
  onProgress?: (e: SyncedEntry) => void;
}

/** What happened to one manifest (spec or key). */
export interface SyncedEntry {
  path: string;
  status: "copied" | "present" | "would-copy" | "migrated" | "left";
  reason?: string;
}

/** What a sync did. */
export interface SyncResult {
  /** Layout of the source that was read. */
  source: 2 | 3;
  entries: SyncedEntry[];
  blobsCopied: number;
  blobsPresent: number;
  bytesCopied: number;
  /** Number of specs in the rebuilt destination index (absent on a dry run). */
  indexSpecs?: number;
  keys?: string[];
}

async function readText(store: ReadStore, path: string, signal?: AbortSignal): Promise<string> {
  return await new Response(await store.read(path, { signal })).text();
}

/** A pass-through stream failing unless the body has `size` bytes and checksum `sum`. */
function checking(
  algorithm: string,
  sum: string,
  size: number,
  label: string,
): TransformStream<Uint8Array, Uint8Array> {
  const hash = createHash(algorithm);
  let n = 0;
  return new TransformStream({
    transform(chunk, c) {
      n += chunk.byteLength;
      if (n > size) {
        throw new IntegrityError(`Cannot copy ${label}: longer than the declared ${size} bytes`);
      }
      hash.update(chunk);
      c.enqueue(chunk);
    },
    flush() {
      if (n !== size) {
        throw new IntegrityError(`Cannot copy ${label}: ${n} bytes, ${size} were declared`);
      }
      const got = hash.digest("hex");
      if (got !== sum) {
        throw new IntegrityError(
          `Cannot copy ${label}: ${algorithm} is "${got}", the manifest says "${sum}"`,
        );
      }
    },
  });
}

/** Runs `fn` over `items` with at most `jobs` at once. */
async function pool<T>(items: T[], jobs: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(jobs, items.length)) }, worker));
}

async function listPaths(store: ReadStore, prefix: string, signal?: AbortSignal) {
  const out: string[] = [];
  if (!store.list) return out;
  for await (const p of store.list(prefix, { signal })) out.push(p);
  return out.sort();
}

/** The spec manifest paths to copy from a v3 source. */
async function specManifests(src: ReadStore, opts: SyncOptions): Promise<string[]> {
  const listed = (await listPaths(src, V3_SPEC_DIR, opts.signal)).filter((p) =>
    parseV3SpecManifestPath(p)
  );
  const byHash = new Map<string, string>();
  for (const p of listed) byHash.set(parseV3SpecManifestPath(p)!.hash, p);
  const mirror = await openMirror(src, { layout: 3, signal: opts.signal });
  if (!opts.specs?.length) {
    if (src.list) return listed;
    const refs = await mirror.list(undefined, { signal: opts.signal });
    return refs.filter((r) => r.inBuildcache).map((r) =>
      v3SpecManifestPath(r.name, r.version, r.hash)
    );
  }
  const paths = new Set<string>();
  for (const q of opts.specs) {
    const root = await mirror.resolve(q, { signal: opts.signal });
    const closure = await mirror.closure(root.hash, {
      signal: opts.signal,
      requireSignature: false,
    });
    for (const r of closure) {
      if (!r.inBuildcache) continue;
      paths.add(byHash.get(r.hash) ?? v3SpecManifestPath(r.name, r.version, r.hash));
    }
  }
  return [...paths];
}

/**
 * Copies entries from `src` (v3, v2 or a bundle) to the v3 mirror `dst`. With a v2-only
 * source the whole mirror is migrated (`specs` must be empty).
 */
export async function syncMirror(
  src: ReadStore,
  dst: Store,
  opts: SyncOptions = {},
): Promise<SyncResult> {
  const signal = opts.signal;
  const layout = await detectLayout(src, { signal });
  if (!layout.versions.includes(3)) {
    if (!layout.versions.includes(2)) {
      throw new NotFoundError(`Cannot sync from "${src.url.href}": it holds no build cache`);
    }
    if (opts.specs?.length) {
      throw new UsageError(
        `Cannot sync selected specs from the v2 mirror "${src.url.href}": a v2 source is migrated whole; drop the spec arguments`,
      );
    }
    const m = await migrate(src, dst, {
      verifier: opts.verifier,
      unsigned: !opts.verifier,
      dryRun: opts.dryRun,
      jobs: opts.jobs,
      signal,
    });
    const entries = m.specs.map((s): SyncedEntry => ({
      path: s.manifestPath ?? `${s.name}-${s.version}-${s.hash}`,
      status: s.status === "migrated"
        ? "migrated"
        : s.status === "present"
        ? "present"
        : s.status === "would-migrate"
        ? "would-copy"
        : "left",
      reason: s.reason,
    }));
    for (const e of entries) opts.onProgress?.(e);
    return { source: 2, entries, blobsCopied: 0, blobsPresent: 0, bytesCopied: 0, keys: m.keys };
  }

  const manifests = await specManifests(src, opts);
  const keyManifests = (await listPaths(src, V3_KEY_DIR, signal)).filter((p) =>
    parseV3KeyManifestPath(p)
  );
  const res: SyncResult = {
    source: 3,
    entries: [],
    blobsCopied: 0,
    blobsPresent: 0,
    bytesCopied: 0,
  };
  const blobsDone = new Map<string, Promise<void>>();

  const copyBlob = (algorithm: string, sum: string, size: number): Promise<void> => {
    const path = v3BlobPath(sum, algorithm);
    let p = blobsDone.get(path);
    if (!p) {
      p = (async () => {
        const have = await dst.stat(path, { signal });
        if (have && have.size === size) {
          res.blobsPresent++;
          return;
        }
        if (opts.dryRun) return;
        const body = (await src.read(path, { signal })).pipeThrough(
          checking(algorithm, sum, size, `blob "${path}"`),
        );
        await dst.write(path, body, { signal, size });
        res.blobsCopied++;
        res.bytesCopied += size;
      })();
      blobsDone.set(path, p);
    }
    return p;
  };

  const copyManifest = async (path: string) => {
    try {
      const text = await readText(src, path, signal);
      const dstStat = await dst.stat(path, { signal });
      const body = isClearsigned(text) ? clearsignedBody(text, `"${path}"`) : text;
      const m = parseManifest(body, `"${path}"`);
      // Blobs first: a reader never sees a manifest naming a missing blob.
      await Promise.all(
        m.data.map((r) => copyBlob(r.checksumAlgorithm, r.checksum, r.contentLength)),
      );
      const bytes = new TextEncoder().encode(text);
      if (dstStat?.size === bytes.byteLength && (await readText(dst, path, signal)) === text) {
        res.entries.push({ path, status: "present" });
      } else if (opts.dryRun) {
        res.entries.push({ path, status: "would-copy" });
      } else {
        await dst.write(path, bytes, { signal, contentType: "application/json" });
        res.entries.push({ path, status: "copied" });
      }
    } catch (e) {
      if (signal?.aborted || e instanceof IntegrityError) throw e;
      res.entries.push({ path, status: "left", reason: (e as Error).message });
    }
    opts.onProgress?.(res.entries[res.entries.length - 1]);
  };

  await pool([...manifests, ...keyManifests], opts.jobs ?? 8, copyManifest);
  // The index is rebuilt when something was copied, or when the destination has none yet.
  const changed = res.entries.some((e) => e.status === "copied");
  const present = res.entries.some((e) => e.status === "present");
  if (
    !opts.dryRun &&
    (changed || (present && !(await dst.stat(v3IndexManifestPath(), { signal }))))
  ) {
    const writer = new V3Writer(dst);
    await writer.ensureLayoutJson(signal);
    const idx = await updateIndex(writer, { keys: true, jobs: opts.jobs, signal });
    res.indexSpecs = idx.specs;
    res.keys = idx.keys;
  }
  return res;
}
