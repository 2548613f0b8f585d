/**
 * The layout contracts: a reader per layout version (v2, v3) and the v3 writer, built on a
 * Store and never touching a transport directly.
 *
 * @module
 */
import type { SpecDag, SpecNode } from "../spec/types.ts";

/** A blob a manifest names. */
export interface Descriptor {
  mediaType: string;
  /** Lowercase sha256 hex of the stored bytes. */
  checksum: string;
  checksumAlgorithm: "sha256";
  /** Stored size in bytes (`contentLength`). */
  size: number;
  compression: "gzip" | "none";
}

/** One entry as an index or listing knows it (cheap: no spec download). */
export interface EntryRef {
  name: string;
  version: string;
  /** The DAG hash. */
  hash: string;
  /** `platform-os-target`, when known. */
  arch?: string;
  /** Compiler `name@version`, when the spec records one as a node attribute. */
  compiler?: string;
  /** False for nodes the index lists that are not in the cache (externals, build deps). */
  inBuildcache: boolean;
  /** Layout version of the mirror part this came from. */
  layout: 2 | 3;
  /** The index record's `installation_time` (seconds since the epoch), when it has one. */
  installedAt?: number;
  /** URL of the mirror this came from (set by `Mirror`). */
  mirror?: string;
}

/** A fully resolved entry: metadata fetched and checked. */
export interface Entry {
  ref: EntryRef;
  spec: SpecDag;
  /** Fingerprint of the signer when the metadata was signed and verified. */
  signedBy?: string;
  /** True when the metadata was signed (whether or not it was verified). */
  signed: boolean;
  /**
   * Why a signature that was not required did not verify (signed by an untrusted key, bad
   * signature, no keys given); unset when it verified or was not checked.
   */
  signatureError?: string;
  /**
   * The signature's verdict: `verified` by a trusted key, signed by a key that is `untrusted`,
   * `unsigned`, or `bad` (a signature that fails, or a revoked or expired key). Only
   * `verified` is accepted without `--allow-unsigned`; `bad` is only ever shown (inspection).
   */
  signatureStatus?: SignatureStatus;
  /** Key ids of the signer when the key is not trusted. */
  signerKeyIds?: string[];
  /**
   * Set when the index (or the file name) calls the entry something else than its signed spec
   * does (`ref` then holds the signed spec's name and version): what the index said.
   */
  substitution?: string;
  /** The tarball blob. */
  tarball: Descriptor;
  /** The store path of the tarball. */
  tarballPath: string;
  /** The store path of the metadata (v3 manifest, v2 spec file). */
  metadataPath: string;
  /** The metadata exactly as fetched (and, when signed and verified, as verified). */
  metadataText?: string;
  /** v3: the spec blob the manifest names (already fetched and verified by `entry()`). */
  specBlob?: { descriptor: Descriptor; path: string };
  /**
   * Set when the entry is an old variant that can be read but not installed (for example a
   * v2 layout-0 tarball-in-tarball): says why. `openTarball` then throws UnsupportedError.
   */
  legacy?: string;
  /** Opens the tarball (still gzip-compressed), verified against `tarball` while it streams. */
  openTarball(opts?: { signal?: AbortSignal }): Promise<ReadableStream<Uint8Array>>;
}

/** The verdict on an entry's signature (see `Entry.signatureStatus`). */
export type SignatureStatus = "verified" | "untrusted" | "unsigned" | "bad";

/** Options when reading entries. */
export interface ReadOptions {
  signal?: AbortSignal;
  /**
   * Refuse unsigned metadata and signatures by untrusted keys (default true). A signature that
   * fails is refused whatever this says.
   */
  requireSignature?: boolean;
  /**
   * Read only to show (show, deps, cat): no signature problem and no index mismatch is thrown,
   * each is reported on the entry (`signatureStatus`, `substitution`) instead.
   */
  inspect?: boolean;
}

/** A reader for one layout version of one mirror. */
export interface CacheReader {
  readonly version: 2 | 3;
  /** Entries from the index, else by listing metadata files. */
  list(opts?: { signal?: AbortSignal }): AsyncIterable<EntryRef>;
  /** The entries of `list` as one array (no step per entry). */
  refs?(opts?: { signal?: AbortSignal }): Promise<readonly EntryRef[]>;
  /** The reference of a full DAG hash (no metadata fetched); NotFoundError when absent. */
  ref?(hash: string, opts?: { signal?: AbortSignal }): Promise<EntryRef>;
  /** One entry by full DAG hash; NotFoundError when the mirror lacks it. */
  entry(hash: string, opts?: ReadOptions): Promise<Entry>;
  /** Armored public keys the mirror publishes (never trusted by themselves). */
  keys(opts?: { signal?: AbortSignal }): Promise<{ fingerprint: string; armored: string }[]>;
  /**
   * The index node of a DAG hash, or undefined when the index lacks it (cheap dependency walks
   * without fetching spec files).
   */
  node?(hash: string, opts?: { signal?: AbortSignal }): Promise<SpecNode | undefined>;
  /** Things the reader noticed that are worth telling (no index, legacy files). */
  readonly notes?: string[];
}

/** A tarball to push: its descriptor is known up front and verified while copying. */
export interface TarballSource {
  descriptor: Descriptor;
  open(): Promise<ReadableStream<Uint8Array>>;
  /**
   * A local file holding exactly the descriptor's bytes (hashed as it was made), which a store
   * that takes files (`Store.placeFile`) places without a copy; `open` reads it otherwise.
   */
  file?: string;
}
