/**
 * Bounded memory for a rebuild of a big index: the node texts it reads (`TextSpool`) and the
 * index it writes (`HashedSink`) are kept in memory while small and moved to a file of a
 * working directory past a threshold, so that what the process holds does not grow with the
 * number of specs.
 *
 * @module
 */
import { createHash, type Hash } from "node:crypto";
import { closeSync, openSync, readSync, writeSync } from "node:fs";

/** Size of the chunks texts and output are gathered in before they go to a file. */
const CHUNK = 1 << 20;

const enc = new TextEncoder();

/** The UTF-8 bytes of `text` into `out` at `at`: the count written, or -1 if it does not fit. */
function encodeAt(text: string, out: Uint8Array, at: number): number {
  if (at + text.length > out.length) return -1;
  const r = enc.encodeInto(text, out.subarray(at));
  return r.read === text.length ? r.written : -1;
}

/**
 * Texts appended one by one and read back by the handle `append` gave. Chunks stay in memory
 * until `limit` bytes were appended; then every chunk is written to a file made by `file()`
 * and later ones go there as they fill.
 */
export class TextSpool {
  readonly #limit: number;
  readonly #file: () => string;
  #fd = -1;
  /** In-memory chunks (undefined once written to the file), their used sizes and file offsets. */
  readonly #chunks: (Uint8Array | undefined)[] = [];
  readonly #used: number[] = [];
  readonly #at: number[] = [];
  #size = 0;
  #fileSize = 0;

  constructor(opts: { limit: number; file: () => string }) {
    this.#limit = opts.limit;
    this.#file = opts.file;
  }

  /** Bytes appended so far. */
  get size(): number {
    return this.#size;
  }

  /** Appends `text`; returns its chunk number and offset in it (`read` takes them). */
  append(text: string): [chunk: number, offset: number] {
    let k = this.#chunks.length - 1;
    let n = k >= 0 && this.#chunks[k] ? encodeAt(text, this.#chunks[k]!, this.#used[k]) : -1;
    if (n < 0) {
      if (k >= 0) this.#seal(k);
      const bytes = enc.encode(text);
      const chunk = new Uint8Array(Math.max(CHUNK, bytes.length));
      chunk.set(bytes);
      n = bytes.length;
      this.#chunks.push(chunk);
      this.#used.push(0);
      this.#at.push(-1);
      k++;
    }
    const off = this.#used[k];
    this.#used[k] += n;
    this.#size += n;
    if (this.#fd < 0 && this.#size > this.#limit) this.#spill();
    return [k, off];
  }

  /** The `length` bytes at (`chunk`, `offset`): a view of the chunk, or read into `into`. */
  read(chunk: number, offset: number, length: number, into?: Uint8Array): Uint8Array {
    const c = this.#chunks[chunk];
    if (c) return c.subarray(offset, offset + length);
    const buf = into && into.length >= length ? into.subarray(0, length) : new Uint8Array(length);
    let got = 0;
    while (got < length) {
      const n = readSync(this.#fd, buf, got, length - got, this.#at[chunk] + offset + got);
      if (n <= 0) throw new Error(`the spool file ended at ${this.#at[chunk] + offset + got}`);
      got += n;
    }
    return buf;
  }

  /** Closes the file (it is the caller's to remove). */
  close(): void {
    if (this.#fd >= 0) closeSync(this.#fd);
    this.#fd = -1;
  }

  #spill(): void {
    this.#fd = openSync(this.#file(), "wx+", 0o600);
    // The last chunk is still being filled: it goes when it is sealed.
    for (let k = 0; k < this.#chunks.length - 1; k++) this.#seal(k);
  }

  /** Writes chunk `k` to the file once spilled (its memory is then let go). */
  #seal(k: number): void {
    if (this.#fd < 0 || !this.#chunks[k]) return;
    writeAll(this.#fd, this.#chunks[k]!.subarray(0, this.#used[k]));
    this.#at[k] = this.#fileSize;
    this.#fileSize += this.#used[k];
    this.#chunks[k] = undefined;
  }

  /** Seals the chunk being filled (when spilled): everything can then be read from the file. */
  finish(): void {
    const k = this.#chunks.length - 1;
    if (k >= 0) this.#seal(k);
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
}

/**
 * Output written piece by piece and hashed (sha256) as it goes: gathered in memory while it is
 * under `limit` bytes, then written to the file `file()` makes.
 */
export class HashedSink {
  readonly #limit: number;
  readonly #file: () => string;
  readonly #hash: Hash = createHash("sha256");
  #fd = -1;
  #path: string | undefined;
  #buf = new Uint8Array(CHUNK);
  #used = 0;
  /** Chunks kept in memory (until spilled). */
  #kept: Uint8Array[] = [];
  #keptSize = 0;
  #size = 0;

  constructor(opts: { limit: number; file: () => string }) {
    this.#limit = opts.limit;
    this.#file = opts.file;
  }

  /** Appends ASCII/UTF-8 text or bytes. */
  put(piece: string | Uint8Array): void {
    if (typeof piece === "string") {
      const n = encodeAt(piece, this.#buf, this.#used);
      if (n >= 0) {
        this.#used += n;
        this.#size += n;
        return;
      }
      piece = enc.encode(piece);
    }
    if (this.#used + piece.length > this.#buf.length) this.#flush();
    if (piece.length > this.#buf.length) {
      this.#emit(piece.slice());
    } else {
      this.#buf.set(piece, this.#used);
      this.#used += piece.length;
    }
    this.#size += piece.length;
  }

  /** The bytes (when they stayed in memory) or the file they are in, their size and digest. */
  end(): { bytes?: Uint8Array; file?: string; size: number; sha256: string } {
    this.#flush();
    const sha256 = this.#hash.digest("hex");
    if (this.#fd >= 0) {
      closeSync(this.#fd);
      this.#fd = -1;
      return { file: this.#path, size: this.#size, sha256 };
    }
    const bytes = this.#kept.length === 1 ? this.#kept[0] : new Uint8Array(this.#size);
    if (this.#kept.length > 1) {
      let at = 0;
      for (const c of this.#kept) {
        bytes.set(c, at);
        at += c.length;
      }
    }
    this.#kept = [];
    return { bytes, size: this.#size, sha256 };
  }

  /** Closes the file if one is open (after an error; the caller removes it). */
  close(): void {
    if (this.#fd >= 0) closeSync(this.#fd);
    this.#fd = -1;
  }

  #flush(): void {
    if (!this.#used) return;
    if (this.#fd >= 0) {
      this.#emit(this.#buf.subarray(0, this.#used));
    } else {
      this.#emit(this.#buf.slice(0, this.#used));
    }
    this.#used = 0;
  }

  /** Hashes `bytes` and keeps them (`bytes` is then the sink's) or writes them to the file. */
  #emit(bytes: Uint8Array): void {
    this.#hash.update(bytes);
    if (this.#fd < 0) {
      this.#kept.push(bytes);
      this.#keptSize += bytes.length;
      if (this.#keptSize <= this.#limit) return;
      this.#path = this.#file();
      this.#fd = openSync(this.#path, "wx", 0o600);
      for (const c of this.#kept) writeAll(this.#fd, c);
      this.#kept = [];
      return;
    }
    writeAll(this.#fd, bytes);
  }
}
