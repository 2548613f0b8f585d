/**
 * `sync`: copies entries (with their runtime closure, or everything) from any mirror to a v3
 * mirror. v3 sources are copied verbatim (signatures preserved): the source manifests are read
 * first (so the work is known), then for each manifest its blobs, verified by checksum and size
 * while streaming, then the manifest itself. Blobs already at the destination with the right
 * size and digest (read back, unless `trustDestination`) are skipped and a corrupt one is
 * replaced; manifests already identical are skipped, so an
 * interrupted run resumes where it stopped. v2 sources are migrated. The destination index
 * (and key index) is rebuilt once at the end.
 *
 * From S3 to S3 on one endpoint with the same credentials, blobs are copied on the server
 * (CopyObject, UploadPartCopy above 5 GiB). Each source blob is first read once and checked
 * against the manifest's checksum and size (unless `trustSource`), the copy is made only from
 * that very object (its ETag, `x-amz-copy-source-if-match`), and the copy's size is checked
 * with a HEAD (a wrong copy is deleted). A corrupt source therefore never reaches the
 * destination unnoticed; with `trustSource` a source blob is trusted to match its name (its
 * checksum) when its size is right.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { IntegrityError, InvalidDataError, NotFoundError, UsageError } from "../errors.ts";
import { clearsignedBody, isClearsigned } from "../layout/signed_metadata.ts";
import { checkSignature, signatureWarning } from "../layout/_read.ts";
import { runPool } from "../core/pool.ts";
import { parseManifest } from "../layout/manifest.ts";
import { openMirror } from "../layout/open.ts";
import {
  parseV3KeyManifestPath,
  parseV3SpecManifestPath,
  V3_BLOB_DIR,
  V3_KEY_DIR,
  V3_MANIFEST_DIR,
  V3_SPEC_DIR,
  v3BlobPath,
  v3IndexManifestPath,
  v3SpecManifestPath,
} from "../layout/v3/paths.ts";
import { blobHasDigest, V3Writer } from "../layout/v3/writer.ts";
import { waitForPrune } from "../layout/v3/lease.ts";
import { detectLayout } from "../layout/detect.ts";
import { updateIndex } from "../push/update_index.ts";
import { drain } from "../core/streams.ts";
import { errnoCode } from "../core/fs_errors.ts";
import type { ListedObject, ReadStore, Store } from "../storage/store.ts";
import { migrate, type MigratedSpec } from "./migrate.ts";
import { needsEntrySync, syncEntries } from "./oci_sync.ts";

/** Checked server-side copies are made for blobs of at least this size (see SyncOptions). */
export const SERVER_COPY_MIN_BYTES = 1024 * 1024;

export type { SyncedEntry, SyncEvent, SyncOptions, SyncResult } from "./sync_types.ts";
import type { SyncedEntry, SyncOptions, SyncResult } from "./sync_types.ts";

/** A blob a manifest names. */
interface BlobRef {
  path: string;
  algorithm: string;
  sum: string;
  size: number;
}

/** A source manifest read: its text and blobs, or why it cannot be copied. */
interface Planned {
  path: string;
  text?: string;
  blobs: BlobRef[];
  reason?: string;
  warning?: string;
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

/** A pass-through stream reporting each chunk's size. */
function counting(report: (bytes: number) => void): TransformStream<Uint8Array, Uint8Array> {
  return new TransformStream({
    transform(chunk, c) {
      report(chunk.byteLength);
      c.enqueue(chunk);
    },
  });
}

async function listPaths(store: ReadStore, prefix: string, signal?: AbortSignal) {
  const out: string[] = [];
  if (!store.list) return out;
  for await (const p of store.list(prefix, { signal })) out.push(p);
  return out.sort();
}

/** The objects of `store` under `prefixes` by path, with sizes (and ETags), from `listStat`. */
async function listObjects(
  store: ReadStore,
  prefixes: string[],
  signal?: AbortSignal,
): Promise<Map<string, ListedObject>> {
  const out = new Map<string, ListedObject>();
  for (const prefix of prefixes) {
    for await (const o of store.listStat!(prefix, { signal })) out.set(o.path, o);
  }
  return out;
}

/** The spec manifest paths to copy from a v3 source. */
async function specManifests(src: ReadStore, opts: SyncOptions): Promise<string[]> {
  const listed = (await listPaths(src, V3_SPEC_DIR, opts.signal)).filter((p) =>
    parseV3SpecManifestPath(p)
  );
  const byHash = new Map<string, string>();
  for (const p of listed) byHash.set(parseV3SpecManifestPath(p)!.hash, p);
  if (!opts.specs?.length && src.list) return listed;
  const mirror = await openMirror(src, { layout: 3, signal: opts.signal });
  if (!opts.specs?.length) {
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
 *
 * @example Copy a mirror to another store
 * ```ts
 * import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * import {
 *   openStore,
 *   prefixSource,
 *   pushSpecs,
 *   specsToPush,
 *   type Store,
 *   syncMirror,
 *   updateIndex,
 *   V3Writer,
 * } from "@spackle/spackle";
 *
 * // A build cache with one package, pushed from an installed prefix (files + .spack/spec.json).
 * const dir = mkdtempSync(join(tmpdir(), "spackle-example-"));
 * const hash = "a".repeat(32);
 * const prefix = join(dir, "tree", "linux-x86_64", `hello-1.0-${hash}`);
 * mkdirSync(join(prefix, ".spack"), { recursive: true });
 * writeFileSync(join(prefix, "hello.txt"), `hello from ${prefix}\n`);
 * const arch = { platform: "linux", platform_os: "debian12", target: "x86_64" };
 * const node = { name: "hello", version: "1.0", arch, hash };
 * const spec = { spec: { _meta: { version: 5 }, nodes: [node] } };
 * writeFileSync(join(prefix, ".spack", "spec.json"), JSON.stringify(spec));
 * const installed = prefixSource([prefix]);
 * const writer = new V3Writer(await openStore(join(dir, "mirror"), { writable: true }) as Store);
 * await pushSpecs(specsToPush(installed.roots, installed).items, installed, writer);
 * await updateIndex(writer);
 *
 * const copy = await openStore(join(dir, "copy"), { writable: true }) as Store;
 * const result = await syncMirror(await openStore(join(dir, "mirror")), copy);
 * if (result.entries.length !== 1) throw new Error("one entry should be copied");
 * console.log(`${result.blobsCopied} blobs, ${result.bytesCopied} bytes copied`);
 * rmSync(dir, { recursive: true, force: true });
 * ```
 */
export async function syncMirror(
  src: ReadStore,
  dst: Store,
  opts: SyncOptions = {},
): Promise<SyncResult> {
  if (opts.requireSignatures && !opts.verifier) {
    throw new UsageError("Cannot require signatures without trusted keys (a verifier)");
  }
  if (needsEntrySync(src, dst)) return await syncEntries(src, dst, opts);
  const layout = await detectLayout(src, { signal: opts.signal });
  if (layout.versions.includes(3)) return await new V3Sync(src, dst, opts).run();
  if (!layout.versions.includes(2)) {
    throw new NotFoundError(`Cannot sync from "${src.url.href}": it holds no build cache`);
  }
  return await migrateWhole(src, dst, opts);
}

/** A v2-only source: the whole mirror is migrated (`specs` must be empty). */
async function migrateWhole(src: ReadStore, dst: Store, opts: SyncOptions): Promise<SyncResult> {
  if (opts.specs?.length) {
    throw new UsageError(
      `Cannot sync selected specs from the v2 mirror "${src.url.href}": a v2 source is migrated whole; drop the spec arguments`,
    );
  }
  const m = await migrate(src, dst, {
    verifier: opts.verifier,
    unsigned: !opts.requireSignatures,
    dryRun: opts.dryRun,
    jobs: opts.jobs,
    trustDestination: opts.trustDestination,
    onPruneWait: opts.onPruneWait,
    signal: opts.signal,
    onProgress: (s) => {
      const e = migratedEntry(s);
      opts.onProgress?.(e);
      opts.onEvent?.({ kind: "entry", entry: e });
    },
  });
  return {
    source: 2,
    entries: m.specs.map(migratedEntry),
    blobsCopied: 0,
    blobsPresent: 0,
    bytesCopied: 0,
    serverSideCopies: 0,
    keys: m.keys,
  };
}

/** A migrated v2 spec as a sync entry. */
function migratedEntry(s: MigratedSpec): SyncedEntry {
  return {
    path: s.manifestPath ?? `${s.name}-${s.version}-${s.hash}`,
    status: s.status === "migrated"
      ? "migrated"
      : s.status === "present"
      ? "present"
      : s.status === "would-migrate"
      ? "would-copy"
      : "left",
    reason: s.reason,
    warning: s.warning,
  };
}

/**
 * One sync from a v3 source: {@link V3Sync.run} reads every source manifest (the plan), then
 * copies each manifest after its blobs, then rebuilds the destination index.
 */
class V3Sync {
  readonly signal?: AbortSignal;
  readonly event: NonNullable<SyncOptions["onEvent"]>;
  readonly res: SyncResult = {
    source: 3,
    entries: [],
    blobsCopied: 0,
    blobsPresent: 0,
    bytesCopied: 0,
    serverSideCopies: 0,
  };
  /** Source manifests' sizes and ETags, where a directory destination can use them. */
  srcEtags?: Map<string, ListedObject>;
  /** The destination's blobs and manifests, when listed once up front. */
  known?: Map<string, ListedObject>;
  /** The distinct blobs the manifests name, by path. */
  readonly blobs = new Map<string, BlobRef>();
  /** Each blob's copy (or check), made once however many manifests name it. */
  readonly blobsDone = new Map<string, Promise<void>>();
  /** S3 to S3 on one endpoint: blobs are copied on the server. */
  readonly serverSide: boolean;
  pruneWaitSaid = false;

  constructor(readonly src: ReadStore, readonly dst: Store, readonly opts: SyncOptions) {
    this.signal = opts.signal;
    this.event = opts.onEvent ?? (() => {});
    this.serverSide = !opts.dryRun && typeof dst.copyFrom === "function" &&
      dst.canCopyFrom?.(src) === true;
  }

  async run(): Promise<SyncResult> {
    const { src, dst, opts, signal } = this;
    const manifests = await specManifests(src, opts);
    const keyManifests = (await listPaths(src, V3_KEY_DIR, signal)).filter((p) =>
      parseV3KeyManifestPath(p)
    );
    // A whole-mirror sync lists the destination once where the listing carries sizes (S3),
    // instead of asking for every object; a selection asks for the few objects it needs.
    const listing = !opts.specs?.length && dst.listStat
      ? listObjects(dst, [V3_BLOB_DIR, V3_MANIFEST_DIR], signal)
      : undefined;
    listing?.catch(() => {}); // awaited below; a failure is thrown there
    // Into a store without ETags (a directory) from one whose listing has them (S3), a manifest
    // already at the destination whose bytes have the source's ETag (the MD5 of a plain upload)
    // is read from the destination instead of fetched again.
    this.srcEtags = !opts.specs?.length && src.listStat && !dst.listStat
      ? await listObjects(src, [V3_MANIFEST_DIR], signal)
      : undefined;
    const planned = await this.plan([...manifests, ...keyManifests]);
    this.known = await listing;
    await runPool(planned, opts.jobs ?? 8, (m) => this.copyManifest(m));
    await this.rebuildIndex();
    return this.res;
  }

  finish(entry: SyncedEntry) {
    this.res.entries.push(entry);
    this.opts.onProgress?.(entry);
    this.event({ kind: "entry", entry });
  }

  async statDst(path: string): Promise<ListedObject | undefined> {
    return this.known
      ? this.known.get(path)
      : await this.dst.stat(path, { signal: this.signal }).then((st) => st && { path, ...st });
  }

  /** A source manifest's text, from the destination when its bytes have the source's ETag. */
  async readManifest(path: string): Promise<string> {
    const { dst, signal } = this;
    const listed = this.srcEtags?.get(path);
    const etag = listed?.etag;
    if (etag && /^"[0-9a-f]{32}"$/.test(etag)) {
      const have = await dst.stat(path, { signal });
      if (have?.size === listed!.size) {
        const bytes = new Uint8Array(
          await new Response(await dst.read(path, { signal })).arrayBuffer(),
        );
        if (`"${createHash("md5").update(bytes).digest("hex")}"` === etag) {
          return new TextDecoder().decode(bytes);
        }
      }
    }
    return await readText(this.src, path, signal);
  }

  /** Reads every source manifest first, so that the work is known before any copy. */
  async plan(all: string[]): Promise<Planned[]> {
    const planned: Planned[] = [];
    let read = 0;
    this.event({ kind: "reading", done: 0, total: all.length });
    await runPool(all.map((path, i) => ({ path, i })), this.opts.jobs ?? 8, async ({ path, i }) => {
      try {
        planned[i] = await this.planManifest(path);
      } catch (e) {
        if (this.signal?.aborted || e instanceof IntegrityError) throw e;
        planned[i] = { path, blobs: [], reason: (e as Error).message };
      }
      this.event({ kind: "reading", done: ++read, total: all.length });
    });
    let planBytes = 0;
    for (const b of this.blobs.values()) planBytes += b.size;
    this.event({ kind: "plan", entries: all.length, blobs: this.blobs.size, bytes: planBytes });
    return planned;
  }

  /** One source manifest read, its signature checked as the options ask, its blobs noted. */
  async planManifest(path: string): Promise<Planned> {
    const text = await this.readManifest(path);
    const { body, warning } = await this.manifestBody(path, text);
    const m = parseManifest(body, `"${path}"`);
    const named: BlobRef[] = [];
    for (const r of m.data) {
      const b: BlobRef = {
        path: v3BlobPath(r.checksum, r.checksumAlgorithm),
        algorithm: r.checksumAlgorithm,
        sum: r.checksum,
        size: r.contentLength,
      };
      const seen = this.blobs.get(b.path);
      if (seen && seen.size !== b.size) {
        throw new InvalidDataError(
          `Cannot copy "${path}": it declares ${b.size} bytes for blob "${b.path}", ` +
            `another manifest ${seen.size}`,
        );
      }
      if (!seen) this.blobs.set(b.path, b);
      named.push(seen ?? b);
    }
    return { path, text, blobs: named, warning };
  }

  /** The body of a manifest's text, and why it is admitted unverified (if it is). */
  async manifestBody(path: string, text: string): Promise<{ body: string; warning?: string }> {
    const opts = this.opts;
    const spec = !path.startsWith(V3_KEY_DIR);
    if (spec && (opts.requireSignatures || opts.allowUnsigned)) {
      // Trust is enforced as install does: a failed signature is never accepted; unsigned
      // entries and keys not trusted only with allowUnsigned, each with a warning.
      const chk = await checkSignature(
        text,
        `"${path}"`,
        { requireSignature: !opts.allowUnsigned },
        opts.verifier,
      );
      const warning = signatureWarning({
        signatureStatus: chk.status,
        signerKeyIds: chk.signerKeyIds,
      });
      return { body: chk.body, warning };
    }
    // A spec manifest's signature is checked when a verifier is given; its body is the
    // one the verifier returns.
    const body = !isClearsigned(text)
      ? text
      : spec && opts.verifier
      ? (await opts.verifier.verify(text, `"${path}"`)).body
      : clearsignedBody(text, `"${path}"`);
    return { body };
  }

  /** Reports the bytes of a blob as they pass. */
  reportBytes(path: string) {
    return (bytes: number) => this.event({ kind: "blob-bytes", path, bytes });
  }

  async streamCopy(b: BlobRef) {
    const signal = this.signal;
    const body = (await this.src.read(b.path, { signal }))
      .pipeThrough(checking(b.algorithm, b.sum, b.size, `blob "${b.path}"`))
      .pipeThrough(counting(this.reportBytes(b.path)));
    await this.dst.write(b.path, body, {
      signal,
      size: b.size,
      sha256: b.algorithm === "sha256" ? b.sum : undefined,
    });
  }

  async serverCopy(b: BlobRef) {
    const { src, dst, signal } = this;
    const label = `blob "${b.path}"`;
    let etag: string | undefined;
    if (!this.opts.trustSource) {
      // The source is read once and checked; the copy is then made only from that object
      // (its ETag), so a blob replaced in between is not copied unchecked.
      const body = (await src.read(b.path, { signal, onEtag: (e) => etag = e }))
        .pipeThrough(checking(b.algorithm, b.sum, b.size, label))
        .pipeThrough(counting(this.reportBytes(b.path)));
      await drain(body);
    }
    await dst.copyFrom!(src, b.path, b.path, { signal, size: b.size, ifMatch: etag });
    const got = await dst.stat(b.path, { signal });
    if (got?.size !== b.size) {
      await dst.delete(b.path, { signal }).catch(() => {});
      throw new IntegrityError(
        `Cannot copy ${label}: the copy at "${dst.url.href}" has ${got?.size ?? "no"} bytes, ` +
          `${b.size} were declared`,
      );
    }
    this.res.serverSideCopies++;
  }

  /** Copies a blob once (later calls share the first one's promise). */
  copyBlob(b: BlobRef, manifest: string): Promise<void> {
    let p = this.blobsDone.get(b.path);
    if (!p) {
      p = this.copyBlobOnce(b, manifest);
      this.blobsDone.set(b.path, p);
    }
    return p;
  }

  /** True when the destination holds the blob already (its size, and digest unless trusted). */
  async blobPresent(b: BlobRef): Promise<boolean> {
    const have = await this.statDst(b.path);
    return !!have && have.size === b.size &&
      (!!this.opts.trustDestination ||
        await blobHasDigest(this.dst, b.path, {
          mediaType: "",
          checksum: b.sum,
          checksumAlgorithm: b.algorithm as "sha256",
          size: b.size,
          compression: "none",
        }, this.signal));
  }

  async copyBlobOnce(b: BlobRef, manifest: string): Promise<void> {
    const { opts, res, event } = this;
    if (await this.blobPresent(b)) {
      res.blobsPresent++;
      event({ kind: "blob-done", path: b.path, size: b.size, status: "present" });
      return;
    }
    if (opts.dryRun) {
      event({ kind: "blob-done", path: b.path, size: b.size, status: "would-copy" });
      return;
    }
    const onServer = this.serverSide &&
      (opts.trustSource || b.size >= (opts.serverCopyMinBytes ?? SERVER_COPY_MIN_BYTES));
    event({ kind: "blob-start", path: b.path, size: b.size, serverSide: onServer, manifest });
    try {
      await (onServer ? this.serverCopy(b) : this.streamCopy(b));
    } catch (e) {
      event({ kind: "blob-done", path: b.path, size: b.size, status: "failed" });
      throw e;
    }
    res.blobsCopied++;
    res.bytesCopied += b.size;
    event({ kind: "blob-done", path: b.path, size: b.size, status: "copied" });
  }

  /**
   * After a manifest is committed: waits while a deleting prune holds the destination's lease,
   * then writes back any of its blobs that the prune took for an orphan (layout/v3/lease.ts).
   */
  async settle(m: Planned, manifest: string) {
    const { dst, signal } = this;
    if (this.opts.dryRun) return;
    await waitForPrune(dst, {
      signal,
      onWait: (l) => {
        if (!this.pruneWaitSaid) this.opts.onPruneWait?.(l);
        this.pruneWaitSaid = true;
      },
    });
    for (const b of m.blobs) {
      const st = await dst.stat(b.path, { signal });
      if (st?.size === b.size) continue;
      this.blobsDone.delete(b.path);
      this.known?.delete(b.path);
      await this.copyBlob(b, manifest);
    }
  }

  async copyManifest(m: Planned) {
    const { dst, signal } = this;
    const path = m.path;
    if (m.text === undefined) return this.finish({ path, status: "left", reason: m.reason });
    try {
      // Blobs first: a reader never sees a manifest naming a missing blob.
      await Promise.all(m.blobs.map((b) => this.copyBlob(b, path)));
      const bytes = new TextEncoder().encode(m.text);
      const have = await this.statDst(path);
      // An S3 ETag of a plain upload is the MD5 of the bytes: equal means the same manifest.
      const same = have?.size === bytes.byteLength &&
        (have.etag === `"${createHash("md5").update(bytes).digest("hex")}"` ||
          (await readText(dst, path, signal)) === m.text);
      const warning = m.warning;
      if (same) {
        // A manifest that was there already named its blobs to any prune: nothing to settle.
        this.finish({ path, status: "present", warning });
      } else if (this.opts.dryRun) {
        this.finish({ path, status: "would-copy", warning });
      } else {
        await dst.write(path, bytes, { signal, contentType: "application/json" });
        await this.settle(m, path);
        this.finish({ path, status: "copied", warning });
      }
    } catch (e) {
      // A destination that cannot be written (read-only, full, not a directory) stops the
      // sync: it is not a problem of this entry.
      if (signal?.aborted || e instanceof IntegrityError || destinationBroken(e)) throw e;
      this.finish({ path, status: "left", reason: (e as Error).message });
    }
  }

  /** The index is rebuilt when something was copied, or when the destination has none yet. */
  async rebuildIndex() {
    const { res, opts, signal } = this;
    const changed = res.entries.some((e) => e.status === "copied");
    const present = res.entries.some((e) => e.status === "present");
    if (
      opts.dryRun ||
      !(changed || (present && !(await this.statDst(v3IndexManifestPath()))))
    ) return;
    this.event({ kind: "index" });
    const writer = new V3Writer(this.dst);
    await writer.ensureLayoutJson(signal);
    const idx = await updateIndex(writer, { keys: true, jobs: opts.jobs, signal });
    res.indexSpecs = idx.specs;
    res.keys = idx.keys;
  }
}

/** True for a file-system error that every further write would meet too. */
function destinationBroken(e: unknown): boolean {
  const code = errnoCode((e as { cause?: unknown })?.cause);
  return !!code && ["EROFS", "EACCES", "EPERM", "ENOSPC", "EDQUOT", "ENOTDIR"].includes(code);
}
