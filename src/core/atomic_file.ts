/**
 * Writing a file so that readers see the old content or the new, never a part: the bytes go to
 * a temporary file beside the target, which is renamed over it once complete (and removed when
 * anything fails).
 *
 * @module
 */
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  writeSync,
} from "node:fs";
import { chmod, mkdir, open, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { ownerTag } from "./pid.ts";

/** Temporary files of `writeFileAtomic` start with this (listings skip them). */
export const TEMP_FILE_PREFIX = ".spackle-tmp-";

/** Options of `writeFileAtomic` and `writeFileAtomicSync`. */
export interface AtomicWriteOptions {
  /** The mode the file is created with (the umask applies unless `exactMode`); default 0o666. */
  mode?: number;
  /** Sets `mode` exactly, past the umask (for secrets: 0o600). */
  exactMode?: boolean;
  /** Creates the parent directory when missing (default true). */
  mkdir?: boolean;
  /** Flushes the file to disk before the rename (`fsync`). */
  sync?: boolean;
  /** Aborts between chunks; the temporary file is removed. */
  signal?: AbortSignal;
  /** The temporary file's prefix (default {@link TEMP_FILE_PREFIX}). */
  tempPrefix?: string;
}

/**
 * The temporary name beside `path`, hidden and unique: `.spackle-tmp-<host>-<pid>-<random>`, so
 * that `verify` reports it and `prune` removes it once its process is gone (`core/pid.ts`).
 */
export function tempPathFor(path: string, prefix = TEMP_FILE_PREFIX): string {
  return join(dirname(path), `${prefix}${ownerTag()}${randomBytes(6).toString("hex")}`);
}

/**
 * Writes `body` (text, bytes, or a stream of chunks) to `path` through a temporary file renamed
 * over it. Returns the number of bytes written. On failure nothing is left behind and `path` is
 * untouched.
 */
export async function writeFileAtomic(
  path: string,
  body: string | Uint8Array | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>,
  opts: AtomicWriteOptions = {},
): Promise<number> {
  opts.signal?.throwIfAborted();
  if (opts.mkdir !== false) await mkdir(dirname(path), { recursive: true });
  const tmp = tempPathFor(path, opts.tempPrefix);
  const mode = opts.mode ?? 0o666;
  const fh = await open(tmp, "wx", mode);
  let size = 0;
  try {
    if (typeof body === "string" || body instanceof Uint8Array) {
      const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
      await fh.writeFile(bytes);
      size = bytes.byteLength;
    } else {
      for await (const chunk of body as AsyncIterable<Uint8Array>) {
        opts.signal?.throwIfAborted();
        await fh.write(chunk);
        size += chunk.byteLength;
      }
    }
    if (opts.exactMode) await chmod(tmp, mode);
    if (opts.sync) await fh.sync();
    await fh.close();
    await rename(tmp, path);
    return size;
  } catch (e) {
    await fh.close().catch(() => {});
    await rm(tmp, { force: true });
    throw e;
  }
}

/** `writeFileAtomic` for text or bytes, synchronously. */
export function writeFileAtomicSync(
  path: string,
  data: string | Uint8Array,
  opts: Omit<AtomicWriteOptions, "signal"> = {},
): void {
  if (opts.mkdir !== false) mkdirSync(dirname(path), { recursive: true });
  const tmp = tempPathFor(path, opts.tempPrefix);
  const mode = opts.mode ?? 0o666;
  const fd = openSync(tmp, "wx", mode);
  let open = true;
  try {
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    for (let off = 0; off < bytes.byteLength;) off += writeSync(fd, bytes, off);
    if (opts.exactMode) chmodSync(tmp, mode);
    if (opts.sync) fsyncSync(fd);
    closeSync(fd);
    open = false;
    renameSync(tmp, path);
  } catch (e) {
    if (open) closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
}
