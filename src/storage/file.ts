/**
 * The file:// (and plain path) store. Writes go to a temporary name in the same directory and
 * are renamed into place, so a reader sees a whole file or none.
 *
 * @module
 */
import { copyFile, link, mkdir, mkdtemp, open, readdir, rename, rm, stat } from "node:fs/promises";
import { readFileSync, statSync } from "node:fs";
import { dirname, join, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { NotFoundError, TransportError, UsageError } from "../errors.ts";
import { toWebStream } from "../core/streams.ts";
import { TEMP_FILE_PREFIX, tempPathFor, writeFileAtomic } from "../core/atomic_file.ts";
import { ownerTag, removeDeadOwners, TEMP_PREFIXES } from "../core/pid.ts";
import { fsError } from "../core/fs_errors.ts";
import type { Store, StoreCallOptions, StoreStat, WriteOptions } from "./store.ts";

/** Files up to this size are read at once (see `read`). */
const SMALL_FILE = 256 << 10;

/** A Store over a local directory. */
export class FileStore implements Store {
  readonly url: URL;
  readonly root: string;
  constructor(url: URL) {
    this.url = new URL(url.href.endsWith("/") ? url.href : url.href + "/");
    this.root = fileURLToPath(this.url);
  }

  /** The local path of `path`, refusing anything that leaves the root. */
  localPath(path: string): string {
    const parts = path.split("/");
    if (path.startsWith("/") || parts.some((p) => p === ".." || p === ".")) {
      throw new UsageError(`Invalid store path "${path}": must be relative, without "." or ".."`);
    }
    return join(this.root, ...parts);
  }

  async stat(path: string, opts?: StoreCallOptions): Promise<StoreStat | undefined> {
    opts?.signal?.throwIfAborted();
    const local = this.localPath(path);
    try {
      const s = await stat(local);
      return s.isFile() ? { size: s.size } : undefined;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw wrap(e, path);
    }
  }

  async read(path: string, opts?: StoreCallOptions): Promise<ReadableStream<Uint8Array>> {
    opts?.signal?.throwIfAborted();
    const p = this.localPath(path);
    const openError = (e: unknown) =>
      (e as NodeJS.ErrnoException).code === "ENOENT" ||
        (e as NodeJS.ErrnoException).code === "EISDIR"
        ? new NotFoundError(`Cannot read "${path}": no such file in ${this.url.href}`, { cause: e })
        : wrap(e, path);
    // A small file (a manifest, a spec, a small package's tarball) is read at once into one
    // chunk when the first chunk is asked for (a stream opened ahead of its turn holds no
    // bytes): a stream of file reads costs about five times the time, and its garbage, over
    // the thousands of files of a many-package install, stays as resident memory.
    let small = false;
    try {
      const st = statSync(p);
      small = st.isFile() && st.size <= SMALL_FILE;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw wrap(e, path);
      // Absent: the open below says so.
    }
    if (small) {
      return new ReadableStream<Uint8Array>({
        pull(c) {
          let bytes: Uint8Array;
          try {
            bytes = readFileSync(p);
          } catch (e) {
            throw openError(e);
          }
          if (bytes.byteLength) {
            c.enqueue(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
          }
          c.close();
        },
      }, { highWaterMark: 0 });
    }
    const fh = await open(p, "r").catch((e) => {
      throw openError(e);
    });
    // The stream owns the handle (and closes it): a bare descriptor would leave the FileHandle
    // to the garbage collector, which under Bun closes the descriptor while it is being read.
    // Reads of 1 MiB for large files; a small file (an index, a manifest) gets a buffer its own
    // size, as allocating 1 MiB per read costs more than reading it.
    const size = await fh.stat().then((s) => s.size, () => 1 << 20);
    return toWebStream(
      fh.createReadStream({ highWaterMark: Math.max(16 << 10, Math.min(size + 1, 1 << 20)) }),
    );
  }

  async *list(prefix: string): AsyncIterable<string> {
    const base = prefix.includes("/") ? prefix.slice(0, prefix.lastIndexOf("/")) : "";
    const dir = base ? this.localPath(base) : this.root;
    let entries: string[];
    try {
      entries = (await readdir(dir, { recursive: true, withFileTypes: true }))
        .filter((d) => d.isFile())
        .map((d) => join(d.parentPath, d.name).slice(this.root.length).split(sep).join("/"))
        .map((p) => p.replace(/^\//, ""));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
      throw wrap(e, prefix);
    }
    for (const p of entries.sort()) {
      if (p.startsWith(prefix) && !p.split("/").pop()!.startsWith(TEMP_FILE_PREFIX)) yield p;
    }
  }

  async write(
    path: string,
    body: Uint8Array | ReadableStream<Uint8Array>,
    opts?: WriteOptions,
  ): Promise<void> {
    opts?.signal?.throwIfAborted();
    const dest = this.localPath(path);
    try {
      await writeFileAtomic(dest, body, { mode: 0o644, sync: true, signal: opts?.signal });
    } catch (e) {
      throw e instanceof Error && "code" in e && typeof e.code === "string" && !("temporary" in e)
        ? fsError(e, dest, "write")
        : e;
    }
  }

  /**
   * Takes the local file `file` as `path`: a hard link under a temporary name beside the
   * target, renamed over it (a copy when the file is on another file system). The file stays.
   */
  async placeFile(path: string, file: string, opts?: StoreCallOptions): Promise<void> {
    opts?.signal?.throwIfAborted();
    const dest = this.localPath(path);
    const tmp = tempPathFor(dest);
    try {
      await mkdir(dirname(dest), { recursive: true });
      try {
        await link(file, tmp);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EXDEV") throw e;
        await copyFile(file, tmp);
      }
      await rename(tmp, dest);
    } catch (e) {
      await rm(tmp, { force: true });
      throw fsError(e, dest, "write");
    }
  }

  /** A new `.spackle-<purpose>-<owner>` directory at the root (dead owners' ones removed). */
  async makeStagingDir(purpose: string, opts?: StoreCallOptions): Promise<string> {
    opts?.signal?.throwIfAborted();
    const prefix = `.spackle-${purpose}-`;
    if (!TEMP_PREFIXES.includes(prefix) || prefix === TEMP_FILE_PREFIX) {
      throw new UsageError(`Invalid staging purpose "${purpose}": not one of spackle's writers`);
    }
    try {
      await mkdir(this.root, { recursive: true });
      removeDeadOwners(this.root, prefix);
      return await mkdtemp(join(this.root, prefix + ownerTag()));
    } catch (e) {
      throw fsError(e, this.root, "write to the mirror");
    }
  }

  async delete(path: string, opts?: StoreCallOptions): Promise<void> {
    opts?.signal?.throwIfAborted();
    const p = this.localPath(path);
    await rm(p, { force: true }).catch((e) => {
      throw fsError(e, p, "delete");
    });
  }
}

function wrap(e: unknown, path: string): unknown {
  const w = fsError(e, path, "access");
  return w === e
    ? new TransportError(`Cannot access "${path}": ${(e as Error).message}`, { cause: e })
    : w;
}
