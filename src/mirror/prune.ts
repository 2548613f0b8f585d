/**
 * `prune`: finds (and with `delete` removes) what a v3 mirror no longer needs: spec manifests
 * not kept (with a keep list), manifests naming a missing blob, and blobs no remaining
 * manifest names. Manifests are deleted before blobs, the index is rebuilt in between, and a
 * blob any remaining manifest names is never deleted.
 *
 * @module
 */
import { UnsupportedError, UsageError } from "../errors.ts";
import { parseLockfile } from "../index/lockfile.ts";
import { clearsignedBody, isClearsigned } from "../layout/signed_metadata.ts";
import { parseManifest } from "../layout/manifest.ts";
import {
  parseV3SpecManifestPath,
  V3_BLOB_DIR,
  V3_MANIFEST_DIR,
  V3_MANIFEST_SUFFIX,
  V3_SPEC_DIR,
  v3BlobPath,
} from "../layout/v3/paths.ts";
import { V3Writer } from "../layout/v3/writer.ts";
import { takeLease } from "../layout/v3/lease.ts";
import { updateIndex } from "../push/update_index.ts";
import { hasUploads, localDir, type ReadStore, type Store } from "../storage/store.ts";
import { isRegistryStore } from "../storage/registry/store.ts";
import { findTemporaries } from "../core/pid.ts";
import { rm } from "node:fs/promises";

/** Options of `pruneMirror`. */
export interface PruneOptions {
  /**
   * DAG hashes to keep: spec manifests of other hashes are removed (default: keep all). An
   * empty set is refused unless `keepNothing`.
   */
  keep?: Set<string>;
  /** Allow an empty `keep` set (removes every entry). */
  keepNothing?: boolean;
  /**
   * S3 multipart uploads begun longer ago than this (ms) are stale: listed, and aborted with
   * `delete`. Default 24 hours; 0 takes every pending upload as stale.
   */
  staleUploadMs?: number;
  /** Delete (default: only report). */
  delete?: boolean;
  signal?: AbortSignal;
  /**
   * Called as prune goes: before each blob is sized, manifest read and object deleted, and at
   * the end of each step (`done` 0 starts a step).
   */
  onProgress?: (e: PruneProgress) => void;
}

/** How far prune is: `done` of `total` in the current step. */
export interface PruneProgress {
  step: "size-blobs" | "read-manifests" | "delete";
  done: number;
  total: number;
}

/** One thing prune removes (or would remove). */
export interface PruneItem {
  path: string;
  kind: "manifest" | "blob" | "temporary" | "upload";
  /**
   * `dead-owner`: a temporary file or directory whose writer (on this host) is gone, or an
   * ownerless one older than an hour; `stale-upload`: an S3 multipart upload begun longer
   * ago than `staleUploadMs` and never completed.
   */
  reason:
    | "not-kept"
    | "missing-blob"
    | "unparsable"
    | "orphan"
    | "dead-owner"
    | "stale-upload";
  size?: number;
  /** The upload's id (`upload` items). */
  uploadId?: string;
}

/** What prune found and did. */
export interface PruneResult {
  items: PruneItem[];
  deleted: boolean;
  /** Specs in the rebuilt index (when deleting removed a manifest). */
  indexSpecs?: number;
}

/**
 * The DAG hashes of a keep file: a Spack environment lock file (`spack.lock`, every concrete
 * spec it holds), or one hash per line (`/` prefixes, blank lines and `#` comments ignored).
 */
export function parseKeepFile(text: string, label = "keep file"): Set<string> {
  const t = text.trim();
  if (t.startsWith("{")) return new Set(parseLockfile(t, label).dag.nodes.keys());
  const out = new Set<string>();
  for (const [i, raw] of t.split("\n").entries()) {
    const line = raw.replace(/#.*/, "").trim().replace(/^\//, "");
    if (!line) continue;
    if (!/^[a-z2-7]{32}$/.test(line)) {
      throw new UsageError(
        `Invalid hash ${JSON.stringify(line.slice(0, 80))}${line.length > 80 ? "..." : ""} on ` +
          `line ${i + 1} of ${label}: expected a 32-character DAG hash`,
      );
    }
    out.add(line);
  }
  return out;
}

async function list(store: ReadStore, prefix: string, signal?: AbortSignal): Promise<string[]> {
  if (!store.list) {
    throw new UsageError(`Cannot prune "${store.url.href}": the store cannot be listed`);
  }
  const out: string[] = [];
  for await (const p of store.list(prefix, { signal })) out.push(p);
  return out.sort();
}

/** Blob paths each manifest under `v3/manifests/` names (undefined when unparsable). */
async function manifestBlobs(
  store: ReadStore,
  signal?: AbortSignal,
  onProgress?: (e: PruneProgress) => void,
): Promise<Map<string, { blobs: { path: string; size: number }[] } | undefined>> {
  const out = new Map<string, { blobs: { path: string; size: number }[] } | undefined>();
  const paths = (await list(store, V3_MANIFEST_DIR, signal)).filter((p) =>
    p.endsWith(V3_MANIFEST_SUFFIX)
  );
  let done = 0;
  for (const p of paths) {
    onProgress?.({ step: "read-manifests", done: done++, total: paths.length });
    try {
      let text = await new Response(await store.read(p, { signal })).text();
      if (isClearsigned(text)) text = clearsignedBody(text, `"${p}"`);
      const m = parseManifest(text, `"${p}"`);
      out.set(p, {
        blobs: m.data.map((r) => ({
          path: v3BlobPath(r.checksum, r.checksumAlgorithm),
          size: r.contentLength,
        })),
      });
    } catch {
      out.set(p, undefined);
    }
  }
  onProgress?.({ step: "read-manifests", done, total: paths.length });
  return out;
}

/**
 * Lists (and with `delete` removes) what the v3 mirror `store` no longer needs.
 *
 * Safe beside spackle's own writers: a deleting prune takes the mirror's prune lease
 * (`layout/v3/lease.ts`) before it lists anything, and writers check their blobs after it;
 * a manifest is called "missing-blob" only when its blobs are still absent when checked
 * after the manifest was read (a writer writes blobs before the manifest), and the manifests
 * are read again just before blobs are deleted.
 */
export async function pruneMirror(
  store: ReadStore | Store,
  opts: PruneOptions = {},
): Promise<PruneResult> {
  const signal = opts.signal;
  if (isRegistryStore(store)) {
    throw new UnsupportedError(
      `Cannot prune "${store.url.href}": an OCI registry removes unreferenced blobs itself (its garbage collection); delete images with the registry's own tools`,
    );
  }
  if (opts.delete && typeof (store as Store).delete !== "function") {
    throw new UsageError(`Cannot delete from "${store.url.href}": the store is read-only`);
  }
  if (opts.keep && opts.keep.size === 0 && !opts.keepNothing) {
    throw new UsageError(
      "The keep list is empty: prune would delete every entry. Give hashes to keep, or " +
        "--keep-nothing to empty the mirror",
    );
  }
  if (!store.list) {
    throw new UsageError(`Cannot prune "${store.url.href}": the store cannot be listed`);
  }
  const lease = opts.delete ? await takeLease(store as Store, signal) : undefined;
  try {
    return await prune(store, opts);
  } finally {
    await lease?.release();
  }
}

async function prune(store: ReadStore | Store, opts: PruneOptions): Promise<PruneResult> {
  const signal = opts.signal;
  const progress = opts.onProgress;
  const blobs = new Map<string, number>();
  if (store.listStat) {
    // The listing has the sizes (S3): no request per blob.
    for await (const o of store.listStat(V3_BLOB_DIR, { signal })) blobs.set(o.path, o.size);
  } else {
    const blobPaths = await list(store, V3_BLOB_DIR, signal);
    for (const [i, p] of blobPaths.entries()) {
      progress?.({ step: "size-blobs", done: i, total: blobPaths.length });
      blobs.set(p, (await store.stat(p, { signal }))?.size ?? -1);
    }
    progress?.({ step: "size-blobs", done: blobPaths.length, total: blobPaths.length });
  }
  const manifests = await manifestBlobs(store, signal, progress);
  const items: PruneItem[] = [];
  for (const [p, m] of manifests) {
    const spec = p.startsWith(V3_SPEC_DIR) ? parseV3SpecManifestPath(p) : undefined;
    let reason: PruneItem["reason"] | undefined;
    if (!m) reason = "unparsable";
    else if (await missingBlob(store, m.blobs, blobs, signal)) reason = "missing-blob";
    else if (spec && opts.keep && !opts.keep.has(spec.hash)) reason = "not-kept";
    if (reason) items.push({ path: p, kind: "manifest", reason });
  }
  const removed = new Set(items.map((i) => i.path));
  let indexSpecs: number | undefined;
  if (opts.delete) {
    const s = store as Store;
    for (const [n, i] of items.entries()) {
      progress?.({ step: "delete", done: n, total: items.length });
      await s.delete(i.path, { signal });
    }
    progress?.({ step: "delete", done: items.length, total: items.length });
    // The index is rebuilt whenever an entry went (an emptied mirror gets an empty index).
    if ([...removed].some((p) => p.startsWith(V3_SPEC_DIR))) {
      indexSpecs = (await updateIndex(new V3Writer(s, { holdsPruneLease: true }), {
        keys: true,
        signal,
      })).specs;
    }
  }
  // Blobs named by any manifest there just before the deletion (read again after the index
  // was rebuilt, so that entries written meanwhile are seen) are kept.
  const after = opts.delete ? await manifestBlobs(store, signal, progress) : manifests;
  const named = new Set<string>();
  for (const [p, m] of after) {
    if (removed.has(p) && !opts.delete) continue;
    for (const b of m?.blobs ?? []) named.add(b.path);
  }
  const orphans: PruneItem[] = [];
  for (const [p, size] of blobs) {
    if (!named.has(p)) orphans.push({ path: p, kind: "blob", reason: "orphan", size });
  }
  if (opts.delete) {
    for (const [n, o] of orphans.entries()) {
      progress?.({ step: "delete", done: n, total: orphans.length });
      await (store as Store).delete(o.path, { signal });
    }
    progress?.({ step: "delete", done: orphans.length, total: orphans.length });
  }
  items.push(...orphans);
  items.push(...await leftovers(store, opts));
  return { items, deleted: !!opts.delete, indexSpecs };
}

/** An ownerless temporary (from an older spackle) is removed once this old. */
const UNOWNED_TEMP_MS = 3600_000;

/**
 * What interrupted writers left: temporary files and directories of dead processes in a
 * local mirror, stale multipart uploads in a bucket; removed with `delete`.
 */
async function leftovers(store: ReadStore | Store, opts: PruneOptions): Promise<PruneItem[]> {
  const out: PruneItem[] = [];
  const signal = opts.signal;
  const dir = localDir(store);
  if (dir !== undefined) {
    const now = Date.now();
    for (const t of findTemporaries(dir)) {
      const dead = t.owner === "dead" ||
        (t.owner === "unknown" && now - t.mtimeMs > UNOWNED_TEMP_MS);
      if (!dead) continue;
      out.push({ path: t.path, kind: "temporary", reason: "dead-owner" });
      if (opts.delete) {
        signal?.throwIfAborted();
        await rm(store.localPath!(t.path), { recursive: true, force: true });
      }
    }
  }
  if (hasUploads(store)) {
    const age = opts.staleUploadMs ?? 24 * 3600_000;
    const before = Date.now() - age;
    for await (const u of store.listUploads("", { signal })) {
      if (age > 0 && u.initiated > before) continue;
      out.push({ path: u.path, kind: "upload", reason: "stale-upload", uploadId: u.uploadId });
      if (opts.delete) await store.abortUpload(u.path, u.uploadId, { signal });
    }
  }
  return out;
}

/**
 * True when a blob the manifest names is absent or of another size: first by the listing,
 * then (for a blob the listing lacks) by asking the store now, after the manifest was read:
 * a writer that wrote the blob after the listing wrote it before its manifest.
 */
async function missingBlob(
  store: ReadStore,
  named: { path: string; size: number }[],
  listed: Map<string, number>,
  signal?: AbortSignal,
): Promise<boolean> {
  for (const b of named) {
    if (listed.get(b.path) === b.size) continue;
    const st = await store.stat(b.path, { signal });
    if (st?.size !== b.size) return true;
    listed.set(b.path, st.size);
  }
  return false;
}
