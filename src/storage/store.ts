/**
 * The storage contract every backend (file, https, s3, memory) implements. Paths are
 * "/"-separated and relative to the store's URL, never starting with "/".
 *
 * @module
 */

/** Options every store call accepts. */
export interface StoreCallOptions {
  signal?: AbortSignal;
}

/** What `stat` learns about an object. */
export interface StoreStat {
  size: number;
  etag?: string;
  /**
   * The sha256 (hex) the writer recorded with the object (`WriteOptions.sha256`), where the
   * backend keeps metadata (S3). Only set by a writer that checked the bytes as they went up.
   */
  sha256?: string;
}

/** The read side of a store. */
export interface ReadStore {
  /** The URL the store was opened with, ending in "/". */
  readonly url: URL;
  /** Size (and etag where known) of `path`, or undefined when absent. */
  stat(path: string, opts?: StoreCallOptions): Promise<StoreStat | undefined>;
  /** The bytes at `path`; throws NotFoundError when absent. */
  read(path: string, opts?: StoreReadOptions): Promise<ReadableStream<Uint8Array>>;
  /**
   * Every object path under `prefix` (recursive, relative to the store root, any order).
   * Absent where a store cannot list (plain https).
   */
  list?(prefix: string, opts?: StoreCallOptions): AsyncIterable<string>;
  /**
   * Every object under `prefix` with its size (and ETag where known), where a store lists
   * those at no extra cost (S3's listing carries them).
   */
  listStat?(prefix: string, opts?: StoreCallOptions): AsyncIterable<ListedObject>;
  /**
   * The local file that holds `path`, where the store is a directory on this machine (a
   * reader may then hash the file in place); absent on other stores.
   */
  localPath?(path: string): string;
}

/** An object as `listStat` lists it. */
export interface ListedObject {
  path: string;
  size: number;
  etag?: string;
}

/** Options of a read. */
export interface StoreReadOptions extends StoreCallOptions {
  /** Fail unless the object has this ETag (from `stat`), where the backend has ETags. */
  ifMatch?: string;
  /** Receives the ETag of the object being read, where the backend has ETags. */
  onEtag?: (etag: string | undefined) => void;
}

/** Options of a write. */
export interface WriteOptions extends StoreCallOptions {
  /** Size of a streamed body, when known (lets S3 choose single PUT or multipart). */
  size?: number;
  /** MIME type to record where the backend keeps one. */
  contentType?: string;
  /**
   * The body's sha256 (hex), checked by the caller as the body goes up (a write whose bytes
   * do not match fails): kept with the object where the backend has metadata (S3
   * `x-amz-meta-sha256`), so that a later check of the object's content costs a `stat`.
   */
  sha256?: string;
}

/** A store that can also be written: writes are atomic (a reader sees all or nothing). */
export interface Store extends ReadStore {
  write(
    path: string,
    body: Uint8Array | ReadableStream<Uint8Array>,
    opts?: WriteOptions,
  ): Promise<void>;
  /** Deletes `path`; deleting an absent path is not an error. */
  delete(path: string, opts?: StoreCallOptions): Promise<void>;
  /** Server-side copy within the same store, where the backend has one. */
  copy?(from: string, to: string, opts?: StoreCallOptions): Promise<void>;
  /**
   * True when {@link copyFrom} can copy from `src` on the server (S3: the same endpoint and
   * credentials), where the backend has such copies.
   */
  canCopyFrom?(src: ReadStore): boolean;
  /** Server-side copy of `from` in `src` to `to` in this store (when `canCopyFrom(src)`). */
  copyFrom?(src: ReadStore, from: string, to: string, opts?: CopyFromOptions): Promise<void>;
  /**
   * Takes the complete local file `file` as the object at `path`, atomically and without a
   * copy where it can: a store that is a directory on this machine links the file under an
   * owner-named temporary name beside the target and renames that over it (the file stays
   * where it was, still readable); across file systems it copies. The caller vouches for the
   * bytes (a writer that hashed them while making the file). Absent on remote stores.
   */
  placeFile?(path: string, file: string, opts?: StoreCallOptions): Promise<void>;
  /**
   * A new private working directory on the store's own file system, where files meant for
   * {@link placeFile} can be made (placing them is then a rename): `.spackle-<purpose>-<owner>`
   * at the store's root (`purpose` is one of spackle's writers, "push" or "bundle", so that
   * verify and prune know the name), after the directories of the same purpose left by
   * processes of this host that no longer run are removed. The caller removes it when done.
   */
  makeStagingDir?(purpose: string, opts?: StoreCallOptions): Promise<string>;
}

/** The directory a store keeps its objects in, when it is one (a `file:` store with `localPath`). */
export function localDir(store: ReadStore): string | undefined {
  return store.url.protocol === "file:" ? store.localPath?.("") : undefined;
}

/** True when `s` can take local files as objects ({@link Store.placeFile}). */
export function canPlaceFiles(
  s: ReadStore,
): s is Store & Required<Pick<Store, "placeFile" | "makeStagingDir">> {
  return isWritable(s) && typeof s.placeFile === "function" &&
    typeof s.makeStagingDir === "function";
}

/** Options of a server-side copy. */
export interface CopyFromOptions extends StoreCallOptions {
  /** The source's size, when known (saves asking for it). */
  size?: number;
  /** Fail unless the source still has this ETag (from `stat`). */
  ifMatch?: string;
}

/** True when `s` can be written. */
export function isWritable(s: ReadStore): s is Store {
  return typeof (s as Store).write === "function";
}

/** A multipart upload begun and not yet completed or aborted (S3). */
export interface PendingUpload {
  path: string;
  uploadId: string;
  /** When it was begun (ms since the epoch; 0 when unknown). */
  initiated: number;
}

/** A store that has multipart uploads to list and abort (S3). */
export interface UploadingStore {
  listUploads(prefix: string, opts?: StoreCallOptions): AsyncIterable<PendingUpload>;
  abortUpload(path: string, uploadId: string, opts?: StoreCallOptions): Promise<void>;
}

/** True when `s` can list and abort its multipart uploads. */
export function hasUploads(s: ReadStore): s is ReadStore & UploadingStore {
  return typeof (s as Partial<UploadingStore>).listUploads === "function" &&
    typeof (s as Partial<UploadingStore>).abortUpload === "function";
}
