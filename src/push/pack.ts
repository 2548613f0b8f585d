/**
 * A prefix directory to the tarball Spack writes (`util/archive.py::
 * reproducible_tarfile_from_prefix`, FORMAT.md 5): parent directories first, depth-first
 * pre-order with the files of a directory before its sub-directories, names sorted, owner and
 * mtime zeroed, modes normalised (0755/0644), hardlinks stored once, PAX for long names, and a
 * freshly generated `.spack/binary_distribution` as the last member.
 *
 * Every file is read once: small files into a buffer where they are classified for relocation
 * (ELF/Mach-O binary, text that mentions a prefix) and then framed into the tar stream; big
 * files are classified from their first bytes (text ones searched in windows) and read
 * straight into the tar stream's blocks later, when the thread pool has room for them, while
 * the files after them are packed.
 *
 * Compression: the tar stream is cut into blocks compressed independently on the thread pool
 * and written as consecutive gzip members (a multi-member gzip file, which Python's `gzip` and
 * `tarfile` read as one stream). Each block is deflated at `level` (6, as Spack), except that a
 * block that looks random is stored, and a block where sampled data shows almost no repeated
 * strings (random-looking text, as in a section of printable noise) is Huffman-coded only:
 * string matching would cost most of the time and gain under one percent there. A tarball
 * smaller than one block is a single member with the same bytes as Spack's gzip settings give
 * when it is under 64 KiB or compressible.
 *
 * @module
 */
import {
  closeSync,
  constants as fsConstants,
  fstatSync,
  lstatSync,
  openSync,
  readdirSync,
  readlinkSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { Buffer } from "node:buffer";
import { setImmediate } from "node:timers";
import { tarHeaderBlocks, tarPadding, tarTrailerSize, type TarWriteEntry } from "../core/tar.ts";
import { MemoryPacer } from "../core/memory_pacer.ts";
import { newSha256, type Sha256 } from "../core/backend.ts";
import { TailHasher } from "./tail_hash.ts";
import { InvalidDataError, NotFoundError } from "../errors.ts";
import { builtinOnFirstUse } from "../core/lazy_require.ts";
import type { Descriptor } from "../layout/types.ts";
import { MEDIA_TYPES } from "../layout/media_types.ts";
import {
  type BuildinfoMeta,
  prefixesToRelocate,
  type RelocationLists,
  serializeBuildinfo,
} from "./buildinfo.ts";
import { classify, isBinaryMagic, isLatin1Text, PrefixMatcher, readAt } from "./scan.ts";

/** `node:zlib`, loaded on first use (evaluating it costs every command's startup). */
const zlib = builtinOnFirstUse<typeof import("node:zlib")>("node:zlib");

/** Options of `packPrefix`. */
export interface PackOptions {
  /** The prefix directory on disk (absolute). */
  prefix: string;
  /** Build-side facts for the buildinfo file and the relocation scan. */
  meta: BuildinfoMeta;
  /**
   * The absolute path members are named after (default `prefix`). Differs from `prefix` only
   * when packing a copy of a prefix that lives elsewhere.
   */
  memberPrefix?: string;
  /** gzip level (default 6, as Spack). */
  level?: number;
  /** Uncompressed bytes per gzip member (default 1 MiB). */
  blockSize?: number;
  /** Blocks on the thread pool at once, at most (default 6). */
  parallel?: number;
}

/** What packing found and produced. */
export interface PackResult {
  lists: RelocationLists;
  /** The buildinfo text stored as the last member. */
  buildinfo: string;
}

/** Files at most this big are read whole (one read, classified in memory). */
const READ_WHOLE = 1 << 20;

/** Reused read buffer: small files, the start of big files, windows of big text files. */
const window = new Uint8Array(READ_WHOLE);

const utf8 = new TextEncoder();

function byName(a: string, b: string): number {
  // Python sorts str by code point: compare UTF-8 bytes, which orders the same way.
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

function join(dir: string, name: string): string {
  return dir.endsWith("/") ? dir + name : `${dir}/${name}`;
}

function toName(abs: string): string {
  return abs.replace(/^\/+/, "");
}

const DIR0 = { uid: 0, gid: 0, uname: "", gname: "", mtime: new Date(0) };

/** One member of a prefix walk, in tarball order. */
interface PrefixItem {
  type: "directory" | "symlink" | "file" | "link";
  /** Member name. */
  name: string;
  /** Path relative to the prefix; undefined for the parent directories of the prefix. */
  rel?: string;
  /** Absolute path on disk (files). */
  path?: string;
  /**
   * The file opened for reading (files): the walk takes a file's size, mode and identity from
   * the open descriptor (no second lookup of its long path). The consumer closes it.
   */
  fd?: number;
  mode: number;
  size: number;
  linkname?: string;
}

/** How prefix files are opened: read-only, never through a symlink put in their place. */
const READ_FLAGS = fsConstants.O_RDONLY | (fsConstants.O_NOFOLLOW ?? 0);

/**
 * The members of a prefix (without the buildinfo), in the order Spack writes them. Files come
 * open (`fd`): the consumer closes each.
 */
function* walkPrefix(opts: PackOptions): Generator<PrefixItem> {
  const prefix = opts.prefix.replace(/\/+$/, "") || "/";
  const memberPrefix = (opts.memberPrefix ?? prefix).replace(/\/+$/, "");
  if (!memberPrefix.startsWith("/")) {
    throw new InvalidDataError(
      `Cannot pack "${prefix}": member prefix "${memberPrefix}" is not absolute`,
    );
  }
  let st;
  try {
    st = lstatSync(prefix);
  } catch {
    throw new NotFoundError(`Cannot pack "${prefix}": no such directory`);
  }
  if (!st.isDirectory()) throw new InvalidDataError(`Cannot pack "${prefix}": not a directory`);

  // Parent directories of the member prefix (not the root).
  const parts = toName(memberPrefix).split("/").filter(Boolean);
  for (let i = 1; i < parts.length; i++) {
    yield { type: "directory", name: parts.slice(0, i).join("/"), mode: 0o755, size: 0 };
  }

  let skipId: string | undefined;
  try {
    const b = lstatSync(`${prefix}/.spack/binary_distribution`);
    skipId = `${b.dev}:${b.ino}`;
  } catch { /* none */ }

  const seen = new Map<string, string>();
  const stack: string[] = [""];
  while (stack.length) {
    const rel = stack.pop()!;
    const abs = rel ? `${prefix}/${rel}` : prefix;
    const name = toName(rel ? `${memberPrefix}/${rel}` : memberPrefix);
    yield { type: "directory", name, rel, mode: 0o755, size: 0 };
    const ents = readdirSync(abs, { withFileTypes: true }).sort((a, b) => byName(a.name, b.name));
    const dirs: string[] = [];
    for (const e of ents) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      const p = join(abs, e.name);
      const n = `${name}/${e.name}`;
      if (e.isDirectory() || e.isSymbolicLink()) {
        if (skipId) {
          const s = lstatSync(p);
          if (`${s.dev}:${s.ino}` === skipId) continue;
        }
        if (e.isDirectory()) dirs.push(r);
        else {yield {
            type: "symlink",
            name: n,
            rel: r,
            mode: 0o755,
            size: 0,
            linkname: readlinkSync(p),
          };}
        continue;
      }
      if (!e.isFile()) continue; // devices, FIFOs, sockets
      const fd = openSync(p, READ_FLAGS);
      let s;
      try {
        s = fstatSync(fd);
      } catch (err) {
        closeSync(fd);
        throw err;
      }
      const id = `${s.dev}:${s.ino}`;
      const mode = s.mode & 0o100 ? 0o755 : 0o644;
      const first = s.nlink > 1 ? seen.get(id) : undefined;
      if (id === skipId || first !== undefined) {
        closeSync(fd);
        if (first !== undefined) {
          yield { type: "link", name: n, rel: r, mode, size: 0, linkname: first };
        }
        continue;
      }
      if (s.nlink > 1) seen.set(id, n);
      yield { type: "file", name: n, rel: r, path: p, fd, mode, size: s.size };
    }
    for (let i = dirs.length - 1; i >= 0; i--) stack.push(dirs[i]);
  }
}

/** The tar header fields of a walked member. */
function headerOf(it: PrefixItem): TarWriteEntry["header"] {
  return {
    ...DIR0,
    mode: it.mode,
    name: it.name,
    type: it.type,
    size: it.size,
    linkname: it.linkname,
  };
}

function isInSpack(rel: string): boolean {
  return rel === ".spack" || rel.startsWith(".spack/");
}

/** The buildinfo member that ends every tarball. */
function buildinfoEntry(
  opts: PackOptions,
  out: PackResult,
): { header: TarWriteEntry["header"]; body: Uint8Array } {
  const memberPrefix = (opts.memberPrefix ?? opts.prefix).replace(/\/+$/, "");
  out.buildinfo = serializeBuildinfo(opts.meta, out.lists);
  const body = utf8.encode(out.buildinfo);
  return {
    header: {
      ...DIR0,
      mode: 0o644,
      name: toName(`${memberPrefix}/.spack/binary_distribution`),
      type: "file",
      size: body.length,
    },
    body,
  };
}

/** The tar members of a prefix, buildinfo last; `lists` is filled while iterating. */
export async function* prefixEntries(
  opts: PackOptions,
  out: PackResult,
): AsyncGenerator<TarWriteEntry> {
  const matcher = new PrefixMatcher(prefixesToRelocate(opts.meta));
  for (const it of walkPrefix(opts)) {
    if (it.fd !== undefined) {
      try {
        if (!isInSpack(it.rel!)) note(out.lists, it.rel!, classifyOpen(it.fd, it.size, matcher));
      } finally {
        closeSync(it.fd);
      }
      yield { header: headerOf(it), path: it.path };
      continue;
    }
    if (it.type === "symlink") noteLink(out.lists, it, matcher);
    yield it.type === "file" ? { header: headerOf(it), path: it.path } : { header: headerOf(it) };
  }
  yield buildinfoEntry(opts, out);
}

type Relocation = "binary" | "text" | undefined;

function note(lists: RelocationLists, rel: string, what: Relocation): void {
  if (what === "binary") lists.relocateBinaries.push(rel);
  else if (what === "text") lists.relocateTextfiles.push(rel);
}

function noteLink(lists: RelocationLists, it: PrefixItem, matcher: PrefixMatcher): void {
  const target = it.linkname!;
  if (target.startsWith("/") && matcher.matchStart(target)) lists.relocateLinks.push(it.rel!);
}

/** Whether a file's bytes make it a binary or a text file to relocate. */
function relocationOf(bytes: Uint8Array, matcher: PrefixMatcher): Relocation {
  const kind = classify(bytes);
  if (kind === "binary") return "binary";
  if (kind === "text" && matcher.search(bytes)) return "text";
  return undefined;
}

/** `relocationOf` for an open file of any size, reading through the reused window. */
function classifyOpen(fd: number, size: number, matcher: PrefixMatcher): Relocation {
  if (size <= READ_WHOLE) {
    return relocationOf(window.subarray(0, readAt(fd, window, size, 0)), matcher);
  }
  const head = readAt(fd, window, 8, 0);
  if (head < 8) return undefined;
  if (isBinaryMagic(window.subarray(0, 8))) return "binary";
  if (!isTextFile(fd, size)) return undefined;
  return matcher.searchFile(fd, size, window) ? "text" : undefined;
}

/** Spack's text test (UTF-8, else the ISO-8859-1 heuristic) over a file, in windows. */
function isTextFile(fd: number, size: number): boolean {
  const dec = new TextDecoder("utf-8", { fatal: true });
  let utf8ok = true;
  for (let pos = 0; pos < size && utf8ok;) {
    const n = readAt(fd, window, Math.min(window.length, size - pos), pos);
    if (n === 0) break;
    try {
      dec.decode(window.subarray(0, n), { stream: true });
    } catch {
      utf8ok = false;
    }
    pos += n;
  }
  if (utf8ok) {
    try {
      dec.decode();
      return true;
    } catch { /* fall through */ }
  }
  for (let pos = 0; pos < size;) {
    const n = readAt(fd, window, Math.min(window.length, size - pos), pos);
    if (n === 0) break;
    if (!isLatin1Text(window.subarray(0, n))) return false;
    pos += n;
  }
  return true;
}

/** Bytes sampled at the start, middle and end of a block to choose how to compress it. */
const PROBE = 16 << 10;

/** Shannon entropy of `b` in bits per byte. */
function entropy(b: Uint8Array): number {
  const counts = new Uint32Array(256);
  for (let i = 0; i < b.length; i++) counts[b[i]]++;
  let h = 0;
  for (let i = 0; i < 256; i++) {
    if (counts[i]) {
      const p = counts[i] / b.length;
      h -= p * Math.log2(p);
    }
  }
  return h;
}

function probes(data: Uint8Array): Uint8Array[] {
  return [0, (data.length - PROBE) >> 1, data.length - PROBE].map((at) =>
    data.subarray(at, at + PROBE)
  );
}

/**
 * The level a block is compressed at: `level`, or 0 (stored) when samples at its start,
 * middle and end all look random (byte entropy above 7.95 bits: compressed or encrypted
 * data, where deflate spends its time for nothing).
 */
export function levelFor(data: Uint8Array, level: number): number {
  if (level === 0 || data.length < 4 * PROBE) return level;
  for (const p of probes(data)) if (entropy(p) < 7.95) return level;
  return 0;
}

const HASH_BITS = 13;
const heads = new Int32Array(1 << HASH_BITS);

/**
 * The share of `b` covered by repeated strings of 8 bytes or more that a greedy match finder
 * over 4-byte hashes sees (an estimate of what deflate's string matching can gain). Stops
 * counting once `enough` is reached.
 */
export function repeatShare(b: Uint8Array, enough = 1): number {
  heads.fill(-1);
  const end = b.length - 4;
  const stop = enough * b.length;
  let covered = 0;
  for (let i = 0; i <= end;) {
    const h = (((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]) * 0x9e3779b1) >>>
      (32 - HASH_BITS);
    const c = heads[h];
    heads[h] = i;
    if (
      c >= 0 && b[c] === b[i] && b[c + 1] === b[i + 1] && b[c + 2] === b[i + 2] &&
      b[c + 3] === b[i + 3]
    ) {
      let n = 4;
      const max = Math.min(258, b.length - i);
      while (n < max && b[c + n] === b[i + n]) n++;
      if (n >= 8) {
        covered += n;
        if (covered >= stop) return covered / b.length;
        i += n;
        continue;
      }
    }
    i++;
  }
  return covered / b.length;
}

/** Below this share of repeated strings in every sample, a block is Huffman-coded only. */
const HUFFMAN_BELOW = 0.03;

/** zlib settings of one block. */
export interface Deflate {
  level: number;
  strategy: number;
  memLevel?: number;
}

/**
 * How a block is deflated: at `level` with the default strategy when a sample at its start,
 * middle or end holds repeated strings; else stored when {@link levelFor} finds it random,
 * else Huffman-coded only (string matching would find next to nothing there), with zlib's
 * largest symbol buffer (half as many Huffman blocks, each with its own code to build and send).
 */
export function deflateFor(data: Uint8Array, level: number): Deflate {
  const plain = { level, strategy: zlib().constants.Z_DEFAULT_STRATEGY };
  if (level === 0 || data.length < 4 * PROBE) return plain;
  for (const p of probes(data)) if (repeatShare(p, HUFFMAN_BELOW) >= HUFFMAN_BELOW) return plain;
  if (levelFor(data, level) === 0) {
    return { level: 0, strategy: zlib().constants.Z_DEFAULT_STRATEGY };
  }
  return { level, strategy: zlib().constants.Z_HUFFMAN_ONLY, memLevel: 9 };
}

/** Bytes of deflate's stored blocks at most (RFC 1951 3.2.4). */
const STORED_MAX = 65535;

/** The size of {@link storedMember}'s output for `n` input bytes. */
export function storedMemberSize(n: number): number {
  return 10 + 5 * Math.max(1, Math.ceil(n / STORED_MAX)) + n + 8;
}

/**
 * `data` as one gzip member of stored deflate blocks, written into `out` (at least
 * {@link storedMemberSize} bytes): what zlib's level 0 gives, framed here without a trip
 * through zlib and its buffers. The header is Python's (mtime 0, OS byte 255).
 */
export function storedMember(data: Uint8Array, out: Uint8Array): Uint8Array {
  out.set([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 0xff]);
  let o = 10;
  let i = 0;
  do {
    const n = Math.min(STORED_MAX, data.length - i);
    const last = i + n === data.length;
    out[o] = last ? 1 : 0;
    out[o + 1] = n & 0xff;
    out[o + 2] = n >>> 8;
    out[o + 3] = ~n & 0xff;
    out[o + 4] = (~n >>> 8) & 0xff;
    out.set(data.subarray(i, i + n), o + 5);
    o += 5 + n;
    i += n;
  } while (i < data.length);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  view.setUint32(o, zlib().crc32(data), true);
  view.setUint32(o + 4, data.length >>> 0, true);
  return out.subarray(0, o + 8);
}

/**
 * zlib's output chunk size for `n` input bytes deflated as `how` says. Huffman-coded blocks
 * (which shrink little) get room for the whole member (deflate's worst case adds 5 bytes per
 * 16 KiB stored block, gzip 18 bytes of framing): one trip to the thread pool and back, not
 * one per chunk. Other blocks get 128 KiB chunks: most shrink a lot, and a member keeps its
 * chunk's whole buffer alive until it is emitted.
 */
function gzipChunk(n: number, how: Deflate): number {
  return how.strategy === zlib().constants.Z_HUFFMAN_ONLY
    ? Math.max(64 << 10, n + (n >> 10) + 1024)
    : 128 << 10;
}

/**
 * One gzip member of `data` compressed on the thread pool, as zlib's output chunks (not
 * joined: a copy of every compressed byte saved), with Python's header (mtime 0, OS 255).
 */
function gzipAsync(
  data: Uint8Array,
  how: Deflate,
): Promise<Uint8Array[]> {
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    const z = zlib().createGzip({ ...how, chunkSize: gzipChunk(data.length, how) });
    z.on("data", (c: Buffer) => chunks.push(new Uint8Array(c.buffer, c.byteOffset, c.byteLength)));
    z.on("error", reject);
    z.on("end", () => {
      // The header's mtime (bytes 4-7) and OS byte (9), wherever the chunks cut them.
      let at = 0;
      for (const c of chunks) {
        for (let i = Math.max(4, at); i < 10 && i - at < c.byteLength; i++) {
          c[i - at] = i === 9 ? 0xff : 0;
        }
        at += c.byteLength;
        if (at >= 10) break;
      }
      resolve(chunks);
    });
    z.end(data);
  });
}

/**
 * Bytes in, gzip members out: input is gathered into `blockSize` blocks (reused once
 * compressed), each compressed on the thread pool, and the members are handed to `emit` in
 * order. Producers call `put`/`zeros`/`reserve`/`commit`/`defer`, check `busy` after each piece
 * of work and `await settle()` when it is true (`feed()` on their other turns), and `end()` last.
 *
 * The contents of big files are deferred (`defer`): their place in the stream is taken at
 * once, but they are read into blocks only when the pool has room for them, a few at a time.
 * The producer thus goes on with the files after them (small text files, say, which keep it
 * busy and the pool idle) while the pool compresses them (executables, which are slow to
 * compress): both keep busy. Members are still emitted in the order of the stream.
 */
class BlockGzip {
  readonly #free: Uint8Array[] = [];
  #buf: Uint8Array;
  #fill = 0;
  /** Deferred spans of the current block. */
  #spans: Span[] = [];
  /** Blocks not yet emitted, in the order of the stream. */
  readonly #pending: Pending[] = [];
  /** Blocks with deferred spans, not yet read and compressed, in the order of the stream. */
  readonly #deferred: Pending[] = [];
  /** Deferred files not yet read to their end. */
  readonly #open = new Set<DeferredFile>();
  /** Blocks on the thread pool. */
  #inPool = 0;
  /** Bytes of compressed members waiting to be emitted. */
  #held = 0;
  #any = false;
  #paced = 0;
  /** Input bytes so far. */
  total = 0;

  constructor(
    readonly level: number,
    readonly blockSize: number,
    readonly parallel: number,
    readonly emit: (member: Uint8Array) => void | Promise<void>,
  ) {
    this.#buf = new Uint8Array(blockSize);
  }

  /**
   * True when the producer should wait: `parallel` blocks on the pool, too many compressed
   * members waiting for the ones before them, or too many deferred files open.
   */
  get busy(): boolean {
    return this.#inPool >= this.parallel || this.#held > HOLD_MAX ||
      this.#pending.length >= PENDING_MAX || this.#open.size >= OPEN_MAX;
  }

  /** The current block is complete: compressed now, or queued when it has deferred spans. */
  #submit(): void {
    const p: Pending = { len: this.#fill, held: 0, started: false } as Pending;
    p.members = new Promise<Uint8Array[]>((resolve, reject) => {
      p.resolve = resolve;
      p.reject = reject;
    });
    p.members.catch(() => {}); // awaited in order by settle(); not unhandled meanwhile
    this.#pending.push(p);
    this.#any = true;
    if (this.#spans.length) {
      p.spans = this.#spans;
      this.#spans = [];
      this.#deferred.push(p);
      let own = p.len;
      for (const s of p.spans) own -= s.len;
      // A block all of deferred bytes is given a buffer when it is read; this one goes on.
      this.#fill = 0;
      if (own === 0) return;
      p.buf = this.#buf;
    } else this.#compress(p, this.#buf);
    this.#buf = this.#free.pop() ?? new Uint8Array(this.blockSize);
    this.#fill = 0;
  }

  /** Compresses the `p.len` bytes of `block` for `p` (block given back to the free list). */
  #compress(p: Pending, block: Uint8Array): void {
    p.started = true;
    const size = this.blockSize;
    const data = block.subarray(0, p.len);
    const how = deflateFor(data, this.level);
    if (how.level === 0) {
      // Stored (random data): framed here at once, into a reused buffer where the members are
      // consumed as they are emitted, so the block is free again and nothing is left as garbage.
      const out = this.recycle && data.length <= size
        ? this.#storedFree.pop() ?? this.#newStored()
        : new Uint8Array(storedMemberSize(data.length));
      const m = storedMember(data, out);
      this.#free.push(block);
      p.held = m.byteLength;
      this.#held += p.held;
      p.resolve([m]);
      return;
    }
    this.#inPool++;
    gzipAsync(data, how).finally(() => {
      this.#inPool--;
      if (block.length === size) this.#free.push(block);
    }).then((ms) => {
      for (const m of ms) p.held += m.buffer.byteLength;
      this.#held += p.held;
      p.resolve(ms);
    }, p.reject);
  }

  /** Reads the deferred spans of the next queued block and compresses it. */
  #readNext(): void {
    const p = this.#deferred.shift()!;
    const block = p.buf ?? this.#free.pop() ?? new Uint8Array(this.blockSize);
    p.buf = undefined;
    for (const s of p.spans!) {
      const n = readAt(s.file.fd, block.subarray(s.at, s.at + s.len), s.len, s.pos);
      if (n < s.len) throw s.file.shrank();
      if (--s.file.spans === 0) {
        this.#open.delete(s.file);
        closeSync(s.file.fd);
      }
    }
    p.spans = undefined;
    this.#compress(p, block);
  }

  /**
   * Hands queued blocks of deferred files to the pool while it has fewer than `room` blocks
   * (default: a few, leaving room for the blocks the producer makes meanwhile).
   */
  feed(room = FEED_ROOM): void {
    while (this.#deferred.length && this.#inPool < room && this.#held <= HOLD_MAX) {
      this.#readNext();
    }
  }

  /** Buffers of stored members, reused once emitted (when `recycle`). */
  readonly #storedFree: Uint8Array[] = [];
  readonly #stored = new Set<ArrayBufferLike>();

  #newStored(): Uint8Array {
    const b = new Uint8Array(storedMemberSize(this.blockSize));
    this.#stored.add(b.buffer);
    return b;
  }

  /**
   * True when `emit` is done with a member once it returns (written out, not kept): the
   * buffers of stored members are then reused.
   */
  recycle = false;

  async #emitNext(): Promise<void> {
    const p = this.#pending[0];
    if (!p.started) this.#readNext(); // the first queued block is this one
    const ms = await p.members;
    this.#pending.shift();
    this.#held -= p.held;
    for (const m of ms) {
      await this.emit(m);
      if (this.recycle && this.#stored.has(m.buffer)) {
        this.#storedFree.push(new Uint8Array(m.buffer));
      }
    }
  }

  /** Copies `b` in. */
  put(b: Uint8Array): void {
    if (this.#fill + b.byteLength < this.blockSize) {
      // The common case (a tar header, a small file): no views to make.
      this.#buf.set(b, this.#fill);
      this.#fill += b.byteLength;
      this.total += b.byteLength;
      return;
    }
    let off = 0;
    while (off < b.byteLength) {
      const n = Math.min(this.blockSize - this.#fill, b.byteLength - off);
      this.#buf.set(b.subarray(off, off + n), this.#fill);
      this.#fill += n;
      off += n;
      if (this.#fill === this.blockSize) this.#submit();
    }
    this.total += b.byteLength;
  }

  /** `n` zero bytes. */
  zeros(n: number): void {
    this.total += n;
    while (n > 0) {
      const k = Math.min(n, this.blockSize - this.#fill);
      this.#buf.fill(0, this.#fill, this.#fill + k);
      this.#fill += k;
      n -= k;
      if (this.#fill === this.blockSize) this.#submit();
    }
  }

  /** A view of the next `n` bytes of the current block, or undefined when they do not fit. */
  reserve(n: number): Uint8Array | undefined {
    return this.#fill + n <= this.blockSize
      ? this.#buf.subarray(this.#fill, this.#fill + n)
      : undefined;
  }

  /** Takes in the `n` bytes written into the view `reserve(n)` gave. */
  commit(n: number): void {
    this.#fill += n;
    this.total += n;
    if (this.#fill === this.blockSize) this.#submit();
  }

  /**
   * The `size` bytes of the open file `fd` (from offset 0), read later (see the class); the
   * descriptor is closed once they are read, or by `dispose()`. `shrank` is thrown should the
   * file be shorter by then.
   */
  defer(fd: number, size: number, shrank: () => Error): void {
    const file: DeferredFile = { fd, spans: 0, shrank };
    this.#open.add(file);
    let pos = 0;
    while (pos < size) {
      const n = Math.min(size - pos, this.blockSize - this.#fill);
      this.#spans.push({ file, pos, at: this.#fill, len: n });
      file.spans++;
      pos += n;
      this.#fill += n;
      this.total += n;
      if (this.#fill === this.blockSize) this.#submit();
    }
    if (file.spans === 0) {
      this.#open.delete(file);
      closeSync(fd);
    }
  }

  /** Closes the files of deferred spans not read (after a failure). */
  dispose(): void {
    for (const f of this.#open) closeSync(f.fd);
    this.#open.clear();
  }

  /** Hands out finished members until the producer need not wait. */
  async settle(): Promise<void> {
    for (;;) {
      this.feed();
      if (!this.busy) break;
      await this.#emitNext();
    }
    this.pace();
  }

  /** Reports the input taken since the last report to `pacer`. */
  pace(): void {
    this.pacer?.add(this.total - this.#paced);
    this.#paced = this.total;
  }

  /** Told the input bytes after each wait. */
  pacer?: MemoryPacer;

  /** Compresses what is left and hands out every member. */
  async end(): Promise<void> {
    if (this.#fill > 0 || !this.#any) this.#submit();
    while (this.#pending.length) {
      this.feed(this.parallel);
      await this.#emitNext();
    }
  }
}

/** A block not yet emitted. */
interface Pending {
  /** Its bytes in the stream (a full block but for the last). */
  len: number;
  /** Its members, once compressed. */
  members: Promise<Uint8Array[]>;
  resolve: (ms: Uint8Array[]) => void;
  reject: (e: unknown) => void;
  /** True once read and handed to compression. */
  started: boolean;
  /** Bytes of its members once compressed (until emitted). */
  held: number;
  /** Until read: the block's buffer (holding the bytes around the spans) and the spans. */
  buf?: Uint8Array;
  spans?: Span[];
}

/** A file whose contents are deferred. */
interface DeferredFile {
  fd: number;
  /** Spans not yet read. */
  spans: number;
  shrank: () => Error;
}

/** Bytes `pos..pos+len` of a deferred file, at offset `at` of a block. */
interface Span {
  file: DeferredFile;
  pos: number;
  at: number;
  len: number;
}

/** Blocks of deferred files on the pool at once while the producer goes on. */
const FEED_ROOM = 3;

/** Bytes of compressed members that may wait for the ones before them to be emitted. */
const HOLD_MAX = 4 << 20;

/** Blocks that may wait to be emitted (most of them deferred, holding no buffer). */
const PENDING_MAX = 4096;

/** Deferred files open at once, at most (each holds a descriptor). */
const OPEN_MAX = 64;

/**
 * Blocks on the thread pool at most by default (its threads busy, a few queued): big files
 * are deferred (see `BlockGzip`), so this need not cover the run-ahead.
 */
const PARALLEL = 6;

/**
 * Input bytes the producer takes in between two turns of the event loop when it does not
 * wait for the pool anyway: the pool's results are taken (and its threads given more work)
 * only on those turns.
 */
const YIELD_EVERY = 256 << 10;

/** A turn of the event loop. */
const nextTurn = () => new Promise<void>((r) => setImmediate(r));

/**
 * Input bytes between two looks at the resident set: stored blocks leave no garbage, and each
 * look (and the collection it may ask for) costs more than a few megabytes of garbage weigh.
 */
const PACE_EVERY = 4 << 20;

/**
 * Resident bytes under which packing asks for no collection: above the pacer's default, as
 * the blocks in flight and the hashing worker take their share, and a full collection costs
 * tens of milliseconds of the main thread; the peak stays well under 150 MB.
 */
const PACE_LIMIT = 112 << 20;

/** Packs the prefix into `z` (tar framing and file contents); fills `out`. */
async function packInto(opts: PackOptions, out: PackResult, z: BlockGzip): Promise<void> {
  try {
    await packFiles(opts, out, z);
  } finally {
    z.dispose();
  }
}

/** {@link packInto} proper. */
async function packFiles(opts: PackOptions, out: PackResult, z: BlockGzip): Promise<void> {
  const matcher = new PrefixMatcher(prefixesToRelocate(opts.meta));
  const lists = out.lists;
  // Compressed members and per-file objects are garbage the collector would leave to pile
  // up: collections when memory grows keep the peak flat whatever the size.
  z.pacer = new MemoryPacer({ every: PACE_EVERY, limit: PACE_LIMIT });
  let turned = 0;
  for (const it of walkPrefix(opts)) {
    const fd = it.fd;
    if (fd === undefined) {
      for (const b of tarHeaderBlocks(headerOf(it), it.size)) z.put(b);
      if (it.type === "symlink") noteLink(lists, it, matcher);
      continue;
    }
    const rel = it.rel!;
    const size = it.size;
    const shrank = () =>
      new InvalidDataError(
        `Cannot pack "${opts.prefix}": file "${rel}" changed while it was read (shorter than ${size} bytes)`,
      );
    let deferred = false;
    try {
      for (const b of tarHeaderBlocks(headerOf(it), size)) z.put(b);
      const classified = !isInSpack(rel);
      if (size > READ_WHOLE) {
        // Classified from its first bytes (text searched in windows), read when the pool has
        // room for it.
        if (classified) note(lists, rel, classifyOpen(fd, size, matcher));
        z.defer(fd, size, shrank);
        deferred = true;
      } else {
        // Read once, into the tar block itself when it fits there, and classified in place.
        const into = z.reserve(size) ?? window.subarray(0, size);
        if (readAt(fd, into, size, 0) < size) throw shrank();
        if (classified) note(lists, rel, relocationOf(into, matcher));
        if (into.buffer === window.buffer) z.put(into);
        else z.commit(size);
      }
    } finally {
      if (!deferred) closeSync(fd);
    }
    z.zeros(tarPadding(size));
    z.pace();
    if (z.busy) await z.settle();
    else if (z.total - turned > YIELD_EVERY) {
      await nextTurn();
      z.feed();
    } else {
      z.feed();
      continue;
    }
    turned = z.total;
  }
  const info = buildinfoEntry(opts, out);
  for (const b of tarHeaderBlocks(info.header, info.body.length)) z.put(b);
  z.put(info.body);
  z.zeros(tarPadding(info.body.length));
  z.zeros(tarTrailerSize(z.total));
  await z.end();
}

/**
 * A gzip compressor that compresses `blockSize` input blocks on the thread pool, `parallel`
 * at a time, and emits them in order as gzip members.
 */
export function parallelGzipStream(
  opts: { level?: number; blockSize?: number; parallel?: number } = {},
): TransformStream<Uint8Array, Uint8Array> {
  let z!: BlockGzip;
  return new TransformStream<Uint8Array, Uint8Array>({
    start(c) {
      z = new BlockGzip(
        opts.level ?? 6,
        opts.blockSize ?? 1 << 20,
        Math.max(1, opts.parallel ?? PARALLEL),
        (m) => c.enqueue(m),
      );
    },
    async transform(chunk) {
      z.put(chunk);
      if (z.busy) await z.settle();
    },
    flush() {
      return z.end();
    },
  });
}

function newResult(): PackResult {
  return {
    lists: { relocateBinaries: [], relocateLinks: [], relocateTextfiles: [] },
    buildinfo: "",
  };
}

function blockGzip(opts: PackOptions, emit: (m: Uint8Array) => void | Promise<void>): BlockGzip {
  return new BlockGzip(
    opts.level ?? 6,
    opts.blockSize ?? 1 << 20,
    Math.max(1, opts.parallel ?? PARALLEL),
    emit,
  );
}

/** Packs a prefix: the gzip-compressed tarball stream and, once it ended, what was found. */
export function packPrefix(
  opts: PackOptions,
): { stream: ReadableStream<Uint8Array>; result: Promise<PackResult> } {
  const out = newResult();
  let resolve!: (r: PackResult) => void;
  let reject!: (e: unknown) => void;
  const result = new Promise<PackResult>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  result.catch(() => {});
  let started = false;
  let cancelled: unknown;
  let wake: (() => void) | undefined;
  const stream = new ReadableStream<Uint8Array>({
    pull(c) {
      if (wake) {
        const w = wake;
        wake = undefined;
        w();
      }
      if (started) return;
      started = true;
      const z = blockGzip(opts, async (m) => {
        if (cancelled !== undefined) throw cancelled;
        c.enqueue(m);
        while ((c.desiredSize ?? 1) <= 0 && cancelled === undefined) {
          await new Promise<void>((r) => wake = r);
        }
      });
      packInto(opts, out, z).then(
        () => {
          resolve(out);
          c.close();
        },
        (e) => {
          reject(e);
          if (cancelled === undefined) c.error(e);
        },
      );
    },
    cancel(reason) {
      cancelled = reason ?? new Error("cancelled");
      wake?.();
    },
  }, { highWaterMark: 1 });
  return { stream, result };
}

/** Output bytes from which {@link packToFile} hashes on a worker (when one can be had). */
const TAIL_HASH_FROM = 16 << 20;

/** A packed tarball in a local file with its descriptor. */
export interface PackedFile extends PackResult {
  path: string;
  descriptor: Descriptor;
}

/**
 * Packs a prefix into the file `path` (created or replaced), hashing while writing. Nothing is
 * left at `path` when packing fails.
 */
export async function packToFile(opts: PackOptions, path: string): Promise<PackedFile> {
  const out = newResult();
  // Hashed here while small; past TAIL_HASH_FROM bytes a worker hashes the file behind the
  // writes (from the start again), off the thread that packs.
  let hash: Sha256 | undefined = newSha256();
  let tail: TailHasher | undefined;
  let size = 0;
  const fd = openSync(
    path,
    fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_TRUNC,
    0o644,
  );
  try {
    const z = blockGzip(opts, (m) => {
      for (let off = 0; off < m.byteLength;) off += writeSync(fd, m, off);
      size += m.byteLength;
      if (tail) tail.written(size);
      else {
        hash!.update(m);
        if (size >= TAIL_HASH_FROM && (tail = TailHasher.start(path))) hash = undefined;
      }
    });
    z.recycle = true; // each member is written before emit returns
    await packInto(opts, out, z);
  } catch (e) {
    tail?.close();
    closeSync(fd);
    try {
      unlinkSync(path);
    } catch { /* already gone */ }
    throw e;
  }
  closeSync(fd);
  let checksum: string;
  try {
    checksum = tail ? await tail.digest(size) : hash!.digestHex();
  } catch (e) {
    try {
      unlinkSync(path);
    } catch { /* already gone */ }
    throw e;
  }
  return {
    ...out,
    path,
    descriptor: {
      mediaType: MEDIA_TYPES.tarball,
      checksum,
      checksumAlgorithm: "sha256",
      size,
      compression: "gzip",
    },
  };
}
