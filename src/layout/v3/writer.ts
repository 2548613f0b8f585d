/**
 * Writing a v3 build cache (FORMAT.md 3.12): blobs first (content-addressed, skipped when
 * present with the same size), the manifest last as the commit point, clear-signed when a
 * Signer is given; the index, key manifests, the key index and `v3/layout.json`.
 *
 * The store's writes are atomic (a file store writes a temporary name and renames), so a
 * push killed at any moment leaves either the old manifest or the new one, and a manifest
 * only ever names blobs that were written before it. Two pushers of the same spec write the
 * same blobs and each a valid manifest; the last rename wins.
 *
 * @module
 */
import { InvalidDataError, NotFoundError } from "../../errors.ts";
import { gzipBytes } from "../../core/gzip.ts";
import { pyJsonDumps } from "../../core/json.ts";
import { digestFile, sha256Hex, verifyStream } from "../../core/digest.ts";
import type { Signer } from "../../sign/types.ts";
import type { SpecDag } from "../../spec/types.ts";
import { canPlaceFiles, type Store, type StoreStat } from "../../storage/store.ts";
import { clearsignedBody, isClearsigned } from "../signed_metadata.ts";
import { type PruneLease, waitForPrune } from "./lease.ts";
import {
  findRecord,
  type Manifest,
  manifestOf,
  parseManifest,
  serializeManifest,
} from "../manifest.ts";
import { MEDIA_TYPES } from "../media_types.ts";
import type { Descriptor, TarballSource } from "../types.ts";
import {
  V3_KEY_DIR,
  V3_KEY_INDEX_MANIFEST,
  V3_LAYOUT_JSON,
  V3_LAYOUT_JSON_TEXT,
  v3BlobPath,
  v3IndexManifestPath,
  v3KeyManifestPath,
  v3SpecManifestPath,
} from "./paths.ts";

/** Options of `V3Writer.push`. */
export interface V3PushOptions {
  /** Clear-sign the manifest with this key; unsigned when absent. */
  signer?: Signer;
  /** Push even when the entry is present and complete. */
  force?: boolean;
  signal?: AbortSignal;
}

/** What a push did. */
export interface V3PushResult {
  manifestPath: string;
  /** True when the entry was present and complete (nothing written). */
  skipped: boolean;
  tarball: Descriptor;
  spec?: Descriptor;
}

const dec = new TextDecoder();

/** Fields of an OCI image config (a spec read from a registry) that are not the spec's. */
const OCI_CONFIG_KEYS = new Set([
  "architecture",
  "os",
  "rootfs",
  "config",
  "created",
  "author",
  "history",
  "archive_size",
  "archive_timestamp",
  "archive_compression",
]);

/**
 * The spec blob text Spack pushes: the spec document (`{"spec": ...}`) with
 * `"buildcache_layout_version": 2` appended, compact, ASCII-escaped.
 */
export function specBlobText(spec: SpecDag): string {
  const doc: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(spec.raw)) {
    if (k === "buildcache_layout_version" || k === "binary_cache_checksum") continue;
    // An OCI image config carries the spec beside the image's own fields: those stay out.
    if (OCI_CONFIG_KEYS.has(k)) continue;
    doc[k] = v;
  }
  doc.buildcache_layout_version = 2;
  return pyJsonDumps(doc);
}

/** A descriptor of bytes held in memory. */
export function descriptorOfBytes(
  bytes: Uint8Array,
  mediaType: string,
  compression: "gzip" | "none",
): Descriptor {
  return {
    mediaType,
    checksum: sha256Hex(bytes),
    checksumAlgorithm: "sha256",
    size: bytes.length,
    compression,
  };
}

/** Options of a `V3Writer`. */
export interface V3WriterOptions {
  /**
   * Take a blob already in the store as good when its size is right, without reading it
   * (for the rerun of a huge mirror). By default its digest is checked and a corrupt one
   * replaced.
   */
  trustDestination?: boolean;
  /** Called when a write waits for a concurrent prune to end. */
  onPruneWait?: (lease: PruneLease) => void;
  /** The caller is the prune holding the mirror's lease: do not wait for it. */
  holdsPruneLease?: boolean;
}

/**
 * True when the blob at `path` has the digest of `d`: a local file is hashed in place; an
 * object whose store kept the sha256 its checking writer recorded (S3 metadata, see
 * `WriteOptions.sha256`) is taken at that, for the price of a `stat`; any other is read
 * through. A body that cannot be read counts as not matching.
 */
export async function blobHasDigest(
  store: Store,
  path: string,
  d: Descriptor,
  signal?: AbortSignal,
  known?: StoreStat,
): Promise<boolean> {
  if (d.checksumAlgorithm !== "sha256") return false;
  try {
    const local = (store as { localPath?: (p: string) => string }).localPath;
    if (store.url.protocol === "file:" && typeof local === "function") {
      const got = await digestFile(local.call(store, path));
      return got.size === d.size && got.digest.hex === d.checksum;
    }
    // The sha256 a checking writer kept with the object (S3 metadata) is proof enough.
    const st = known ?? await store.stat(path, { signal });
    if (st?.sha256 !== undefined && st.size === d.size && st.sha256 === d.checksum) return true;
    const body = (await store.read(path, { signal })).pipeThrough(
      verifyStream({ digest: d.checksum, size: d.size }, `blob "${path}"`),
    );
    for await (const _ of body) signal?.throwIfAborted();
    return true;
  } catch (e) {
    if (signal?.aborted) throw e;
    return false;
  }
}

/** The sha256 of a descriptor's bytes, when that is its algorithm. */
function shaOf(d: Descriptor): string | undefined {
  return d.checksumAlgorithm === "sha256" ? d.checksum : undefined;
}

/** Writes the v3 layout to a store. */
export class V3Writer {
  #layoutWritten = false;
  /** Blob paths known good in this run (checked or written), so they are read once. */
  readonly #good = new Set<string>();
  readonly trustDestination: boolean;
  readonly onPruneWait?: (lease: PruneLease) => void;
  readonly holdsPruneLease: boolean;

  /** A writer on `store` (the mirror root). */
  constructor(readonly store: Store, opts: V3WriterOptions = {}) {
    this.trustDestination = !!opts.trustDestination;
    this.onPruneWait = opts.onPruneWait;
    this.holdsPruneLease = !!opts.holdsPruneLease;
  }

  /**
   * True when the store holds the blob of `d` with its content: right size, and (unless
   * `trustDestination`) the right digest, read back once per run.
   */
  async hasBlob(d: Descriptor, signal?: AbortSignal): Promise<boolean> {
    const path = v3BlobPath(d.checksum, d.checksumAlgorithm);
    const st = await this.store.stat(path, { signal });
    if (!st || st.size !== d.size) return false;
    if (this.trustDestination || this.#good.has(path)) return true;
    if (!(await blobHasDigest(this.store, path, d, signal, st))) return false;
    this.#good.add(path);
    return true;
  }

  /**
   * Writes a blob unless the store holds it with the same size and digest (see `hasBlob`);
   * a corrupt one of the right size is replaced. True when written. With `file` (a local file
   * of exactly these bytes, hashed as it was made) a store that takes files places it without
   * a copy (`Store.placeFile`); other stores read `body`.
   */
  async writeBlob(
    d: Descriptor,
    body: Uint8Array | (() => Promise<ReadableStream<Uint8Array>>),
    signal?: AbortSignal,
    file?: string,
  ): Promise<boolean> {
    const path = v3BlobPath(d.checksum, d.checksumAlgorithm);
    if (await this.hasBlob(d, signal)) return false;
    if (file !== undefined && canPlaceFiles(this.store)) {
      await this.store.placeFile(path, file, { signal });
    } else if (body instanceof Uint8Array) {
      if (body.length !== d.size || sha256Hex(body) !== d.checksum) {
        throw new InvalidDataError(
          `Cannot write blob "${path}": bytes do not match the descriptor`,
        );
      }
      await this.store.write(path, body, { size: d.size, signal, sha256: shaOf(d) });
    } else {
      const src = (await body()).pipeThrough(
        verifyStream({ digest: d.checksum, size: d.size }, `blob "${path}"`),
      );
      await this.store.write(path, src, { size: d.size, signal, sha256: shaOf(d) });
    }
    this.#good.add(path);
    return true;
  }

  /** Reads a manifest (a clear-signed one unwrapped, not verified), or undefined if absent. */
  async readManifest(path: string, signal?: AbortSignal): Promise<Manifest | undefined> {
    if (!(await this.store.stat(path, { signal }))) return undefined;
    let text: string;
    try {
      text = dec.decode(
        new Uint8Array(await new Response(await this.store.read(path, { signal })).arrayBuffer()),
      );
    } catch (e) {
      if (e instanceof NotFoundError) return undefined;
      throw e;
    }
    if (isClearsigned(text)) text = clearsignedBody(text, `"${path}"`);
    return parseManifest(text, `"${path}"`);
  }

  /**
   * True when the spec manifest is there and names a tarball and spec blob that exist with
   * their content (`hasBlob`).
   */
  async complete(
    name: string,
    version: string,
    hash: string,
    signal?: AbortSignal,
  ): Promise<boolean> {
    const mpath = v3SpecManifestPath(name, version, hash);
    let m: Manifest | undefined;
    try {
      m = await this.readManifest(mpath, signal);
    } catch {
      return false; // unreadable: push again
    }
    if (!m) return false;
    const t = findRecord(m, MEDIA_TYPES.tarball);
    const s = findRecord(m, MEDIA_TYPES.spec);
    if (!t || !s) return false;
    for (const r of [t, s]) {
      if (!/^[0-9a-f]{64}$/.test(r.checksum) || r.checksumAlgorithm !== "sha256") return false;
      const d: Descriptor = {
        mediaType: r.mediaType,
        checksum: r.checksum,
        checksumAlgorithm: "sha256",
        size: r.contentLength,
        compression: r.compression as Descriptor["compression"],
      };
      if (!(await this.hasBlob(d, signal))) return false;
    }
    return true;
  }

  /**
   * Pushes one spec: tarball blob, spec blob, then the manifest (tarball record first), then
   * `v3/layout.json` when absent. Skips a complete entry unless `force`.
   */
  async push(
    spec: SpecDag,
    tarball: TarballSource,
    opts: V3PushOptions = {},
  ): Promise<V3PushResult> {
    const root = spec.nodes.get(spec.root);
    if (!root) throw new InvalidDataError(`Cannot push spec ${spec.root}: root node missing`);
    const mpath = v3SpecManifestPath(root.name, root.version, root.hash);
    if (!opts.force && await this.complete(root.name, root.version, root.hash, opts.signal)) {
      return { manifestPath: mpath, skipped: true, tarball: tarball.descriptor };
    }
    await this.writeBlob(tarball.descriptor, () => tarball.open(), opts.signal, tarball.file);
    const specGz = gzipBytes(specBlobText(spec));
    const specD = descriptorOfBytes(specGz, MEDIA_TYPES.spec, "gzip");
    await this.writeBlob(specD, specGz, opts.signal);
    await this.writeManifest(
      mpath,
      manifestOf([tarball.descriptor, specD]),
      opts.signer,
      opts.signal,
    );
    await this.settle([
      { d: tarball.descriptor, body: () => tarball.open(), file: tarball.file },
      { d: specD, body: specGz },
    ], opts.signal);
    await this.ensureLayoutJson(opts.signal);
    return { manifestPath: mpath, skipped: false, tarball: tarball.descriptor, spec: specD };
  }

  /**
   * Called after a manifest naming `blobs` is written (its commit point): waits while a
   * deleting prune holds the mirror's lease, then checks that each blob is still there and
   * writes back any that a concurrent prune deleted (see `lease.ts` for why this suffices).
   */
  async settle(
    blobs: {
      d: Descriptor;
      body: Uint8Array | (() => Promise<ReadableStream<Uint8Array>>);
      file?: string;
    }[],
    signal?: AbortSignal,
  ): Promise<void> {
    if (!this.holdsPruneLease) {
      await waitForPrune(this.store, { signal, onWait: this.onPruneWait });
    }
    for (const b of blobs) {
      const path = v3BlobPath(b.d.checksum, b.d.checksumAlgorithm);
      const st = await this.store.stat(path, { signal });
      if (st && st.size === b.d.size) continue;
      this.#good.delete(path);
      await this.writeBlob(b.d, b.body, signal, b.file);
    }
  }

  /** Serialises (and clear-signs when a signer is given) and writes a manifest. */
  async writeManifest(
    path: string,
    m: Manifest,
    signer?: Signer,
    signal?: AbortSignal,
  ): Promise<void> {
    let text = serializeManifest(m);
    if (signer) text = await signer.clearsign(text);
    await this.store.write(path, new TextEncoder().encode(text), {
      signal,
      contentType: "application/json",
    });
  }

  /** Writes `v3/layout.json` when absent (once per writer). */
  async ensureLayoutJson(signal?: AbortSignal): Promise<void> {
    if (this.#layoutWritten) return;
    if (!(await this.store.stat(V3_LAYOUT_JSON, { signal }))) {
      await this.store.write(V3_LAYOUT_JSON, new TextEncoder().encode(V3_LAYOUT_JSON_TEXT), {
        signal,
        contentType: "application/json",
      });
    }
    this.#layoutWritten = true;
  }

  /**
   * Writes the index blob (uncompressed JSON: text, its bytes, or a source of them with its
   * descriptor, as a pushed tarball's) then its manifest (never signed).
   */
  async writeIndex(
    index: string | Uint8Array | TarballSource,
    opts: { view?: string; signal?: AbortSignal } = {},
  ): Promise<Descriptor> {
    let d: Descriptor;
    let body: Uint8Array | (() => Promise<ReadableStream<Uint8Array>>);
    let file: string | undefined;
    if (typeof index === "string" || index instanceof Uint8Array) {
      body = typeof index === "string" ? new TextEncoder().encode(index) : index;
      d = descriptorOfBytes(body, MEDIA_TYPES.index, "none");
    } else {
      d = index.descriptor;
      file = index.file;
      body = () => index.open();
    }
    await this.writeBlob(d, body, opts.signal, file);
    await this.writeManifest(
      v3IndexManifestPath(opts.view),
      manifestOf([d]),
      undefined,
      opts.signal,
    );
    await this.settle([{ d, body, file }], opts.signal);
    await this.ensureLayoutJson(opts.signal);
    return d;
  }

  /** Publishes an armored public key: its blob, then `v3/manifests/key/<FPR>.key.manifest.json`. */
  async publishKey(
    fingerprint: string,
    armored: string,
    signal?: AbortSignal,
  ): Promise<Descriptor> {
    if (!/^[0-9A-F]{40}$/.test(fingerprint)) {
      throw new InvalidDataError(`Invalid key fingerprint "${fingerprint}": not 40 uppercase hex`);
    }
    const bytes = new TextEncoder().encode(armored);
    const d = descriptorOfBytes(bytes, MEDIA_TYPES.key, "none");
    await this.writeBlob(d, bytes, signal);
    await this.writeManifest(v3KeyManifestPath(fingerprint), manifestOf([d]), undefined, signal);
    await this.settle([{ d, body: bytes }], signal);
    await this.ensureLayoutJson(signal);
    return d;
  }

  /**
   * Writes the key index from the key manifests present (`{"keys":{"<FPR>":{}}}`, sorted).
   * Returns the fingerprints.
   */
  async writeKeyIndex(signal?: AbortSignal): Promise<string[]> {
    if (!this.store.list) {
      throw new InvalidDataError(
        `Cannot write the key index of "${this.store.url.href}": the store cannot be listed`,
      );
    }
    const fprs: string[] = [];
    for await (const p of this.store.list(V3_KEY_DIR, { signal })) {
      const rest = p.slice(V3_KEY_DIR.length);
      if (rest.includes("/") || !rest.endsWith(".key.manifest.json")) continue;
      fprs.push(rest.slice(0, -".key.manifest.json".length));
    }
    fprs.sort();
    const keys: Record<string, Record<string, never>> = {};
    for (const f of fprs) keys[f] = {};
    const bytes = new TextEncoder().encode(pyJsonDumps({ keys }));
    const d = descriptorOfBytes(bytes, MEDIA_TYPES.keyIndex, "none");
    await this.writeBlob(d, bytes, signal);
    await this.writeManifest(V3_KEY_INDEX_MANIFEST, manifestOf([d]), undefined, signal);
    await this.settle([{ d, body: bytes }], signal);
    await this.ensureLayoutJson(signal);
    return fprs;
  }
}
