/**
 * `sync` when either side is an OCI registry: entry by entry through the layouts, without
 * installing anything. From a URL cache (v3 or v2) or another registry into a registry, each
 * entry becomes Spack's image (its tarball a layer, `diff_id` computed while it streams or
 * taken from the source image; a blob the destination has is not sent; within one registry
 * a blob is mounted from the source repository instead of copied); all layers go up first,
 * then the manifests, so each image names its dependencies' layers. From a registry into a
 * URL cache each image becomes a v3 entry (tarball blob, spec blob, manifest). Entries the
 * destination already has complete are left alone (a rerun is a no-op), and the
 * destination's index is rebuilt once at the end.
 *
 * @module
 */
import { errorMessage, NotFoundError, UsageError } from "../errors.ts";
import { openMirror } from "../layout/open.ts";
import { signatureWarning } from "../layout/_read.ts";
import { type OciTarballSource, OciWriter } from "../layout/oci/writer.ts";
import type { Entry, EntryRef } from "../layout/types.ts";
import { V3Writer } from "../layout/v3/writer.ts";
import { v3BlobPath, v3IndexManifestPath, v3SpecManifestPath } from "../layout/v3/paths.ts";
import { OCI_INDEX_TAG, ociSpecTag } from "../layout/oci/reader.ts";
import { updateIndex } from "../push/update_index.ts";
import { isRegistryStore } from "../storage/registry/store.ts";
import type { ReadStore, Store } from "../storage/store.ts";
import type { SyncedEntry, SyncOptions, SyncResult } from "./sync_types.ts";

/** True when `sync` between these stores goes through `syncEntries` (a registry on a side). */
export function needsEntrySync(src: ReadStore, dst: ReadStore): boolean {
  return isRegistryStore(src) || isRegistryStore(dst);
}

async function pool<T>(items: T[], jobs: number, fn: (t: T) => Promise<void>) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(jobs, items.length)) }, worker));
}

/** Copies entries between any two mirrors when one is a registry (see the module doc). */
export async function syncEntries(
  src: ReadStore,
  dst: Store,
  opts: SyncOptions = {},
): Promise<SyncResult> {
  const signal = opts.signal;
  if (opts.requireSignatures && !opts.verifier) {
    throw new UsageError("Cannot require signatures without trusted keys (a verifier)");
  }
  const m = await openMirror(src, { verifier: opts.verifier, signal });
  const event = opts.onEvent ?? (() => {});
  // What to copy: the closures of the specs asked for, else every entry in the cache.
  let refs: EntryRef[];
  if (opts.specs?.length) {
    const seen = new Map<string, EntryRef>();
    for (const q of opts.specs) {
      const root = await m.resolve(q, { signal });
      for (const r of await m.closure(root.hash, { signal, requireSignature: false })) {
        if (r.inBuildcache && !seen.has(r.hash)) seen.set(r.hash, r);
      }
    }
    refs = [...seen.values()];
  } else {
    refs = (await m.list(undefined, { signal })).filter((r) => r.inBuildcache);
  }
  const oci = isRegistryStore(dst) ? new OciWriter(dst) : undefined;
  const v3 = oci ? undefined : new V3Writer(dst);
  const res: SyncResult = {
    source: m.layout.primary,
    entries: [],
    blobsCopied: 0,
    blobsPresent: 0,
    bytesCopied: 0,
    serverSideCopies: 0,
  };
  const finish = (entry: SyncedEntry) => {
    res.entries.push(entry);
    opts.onProgress?.(entry);
    event({ kind: "entry", entry });
  };
  const jobs = opts.jobs ?? 8;
  const pathOf = (r: EntryRef) =>
    oci
      ? `manifests/${ociSpecTag(r.name, r.version, r.hash)}`
      : v3SpecManifestPath(r.name, r.version, r.hash);

  // 1. What the destination lacks, and the source entries of those (metadata checked).
  const todo: { ref: EntryRef; entry: Entry }[] = [];
  const warnings = new Map<string, string>();
  let read = 0;
  await pool(refs, jobs, async (ref) => {
    const done = oci
      ? await oci.complete(ref.name, ref.version, ref.hash, signal)
      : await v3!.complete(ref.name, ref.version, ref.hash, signal);
    event({ kind: "reading", done: ++read, total: refs.length });
    if (done) {
      finish({ path: pathOf(ref), status: "present" });
      return;
    }
    try {
      const entry = await m.entry(ref.hash, {
        signal,
        requireSignature: !!opts.requireSignatures && !isRegistryStore(src),
      });
      if (entry.legacy) throw new UsageError(entry.legacy);
      // A registry's entries are unsigned by nature (Spack never signs them): no warning.
      const warning = isRegistryStore(src) ? undefined : signatureWarning(entry);
      if (warning) warnings.set(ref.hash, warning);
      todo.push({ ref, entry });
    } catch (e) {
      if (signal?.aborted) throw e;
      if (
        e instanceof NotFoundError || e instanceof UsageError ||
        (e as Error).name === "SignatureError"
      ) {
        finish({ path: pathOf(ref), status: "left", reason: errorMessage(e) });
        return;
      }
      throw e;
    }
  });
  event({
    kind: "plan",
    entries: todo.length,
    blobs: todo.length,
    bytes: todo.reduce((n, t) => n + t.entry.tarball.size, 0),
  });
  if (opts.dryRun) {
    for (const t of todo) {
      finish({ path: pathOf(t.ref), status: "would-copy", warning: warnings.get(t.ref.hash) });
    }
    return res;
  }
  const srcRegistry = isRegistryStore(src) ? src : undefined;
  const tarballOf = (e: Entry): OciTarballSource => {
    const rootfs = (e.spec.raw as { rootfs?: { diff_ids?: unknown[] } }).rootfs;
    const diff = rootfs?.diff_ids?.at(-1);
    return {
      descriptor: e.tarball,
      open: () => e.openTarball({ signal }),
      diffId: srcRegistry && typeof diff === "string" ? diff : undefined,
      mountFrom: srcRegistry?.ref,
    };
  };
  const count = (how: string, size: number) => {
    if (how === "present") res.blobsPresent++;
    else {
      res.blobsCopied++;
      res.bytesCopied += how === "mounted" ? 0 : size;
      if (how === "mounted") res.serverSideCopies++;
    }
  };

  if (oci) {
    // 2. Every layer first (uploaded, mounted or found), then 3. the manifests.
    const failed = new Set<string>();
    await pool(todo, jobs, async ({ ref, entry }) => {
      const path = `blobs/sha256/${entry.tarball.checksum}`;
      event({
        kind: "blob-start",
        path,
        size: entry.tarball.size,
        serverSide: !!srcRegistry && srcRegistry.ref.domain === oci.store.ref.domain,
        manifest: pathOf(ref),
      });
      try {
        const { how } = await oci.putLayer(ref.hash, tarballOf(entry), signal);
        count(how, entry.tarball.size);
        event({
          kind: "blob-done",
          path,
          size: entry.tarball.size,
          status: how === "present" ? "present" : "copied",
        });
      } catch (e) {
        if (signal?.aborted || (e as { code?: string }).code === "integrity") throw e;
        failed.add(ref.hash);
        event({ kind: "blob-done", path, size: entry.tarball.size, status: "failed" });
        finish({ path: pathOf(ref), status: "left", reason: errorMessage(e) });
      }
    });
    await pool(todo.filter((t) => !failed.has(t.ref.hash)), jobs, async ({ ref, entry }) => {
      const r = await oci.push(entry.spec, tarballOf(entry), { force: true, signal });
      finish({ path: r.manifestPath, status: "copied", warning: warnings.get(ref.hash) });
    });
    if (
      res.entries.some((e) => e.status === "copied") ||
      !(await dst.stat(`manifests/${OCI_INDEX_TAG}`, { signal }))
    ) {
      event({ kind: "index" });
      res.indexSpecs = (await oci.rebuildIndex({ jobs, signal })).specs;
    }
    return res;
  }

  // Into a URL cache: each image becomes a v3 entry.
  await pool(todo, jobs, async ({ ref, entry }) => {
    const existed = await dst.stat(v3BlobPath(entry.tarball.checksum), { signal });
    const r = await v3!.push(entry.spec, {
      descriptor: entry.tarball,
      open: () => entry.openTarball({ signal }),
    }, { force: true, signal });
    count(existed?.size === entry.tarball.size ? "present" : "uploaded", entry.tarball.size);
    finish({ path: r.manifestPath, status: "copied", warning: warnings.get(ref.hash) });
  });
  if (
    res.entries.some((e) => e.status === "copied") ||
    !(await dst.stat(v3IndexManifestPath(), { signal }))
  ) {
    event({ kind: "index" });
    res.indexSpecs = (await updateIndex(v3!, { jobs, signal })).specs;
  }
  return res;
}
