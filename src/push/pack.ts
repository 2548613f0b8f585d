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
 * straight into the tar stream.
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
  readSync,
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
  /** Blocks compressed at once (default 8). */
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
 * zlib's output chunk size for `n` input bytes: room for the whole member (deflate's worst
 * case adds 5 bytes per 16 KiB stored block, gzip 18 bytes of framing), so that a block costs
 * one trip to the thread pool and back, not one per chunk, each waiting for the main thread.
 */
function gzipChunk(n: number): number {
  return Math.max(64 << 10, n + (n >> 10) + 1024);
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
    const z = zlib().createGzip({ ...how, chunkSize: gzipChunk(data.length) });
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
 * compressed), each compressed on the thread pool with up to `parallel` at a time, and the
 * members are handed to `emit` in order. Producers call `put`/`zeros`/`file`, check `busy`
 * after each piece of work and `await settle()` when it is true, and `end()` last.
 */
class BlockGzip {
  readonly #free: Uint8Array[] = [];
  #buf: Uint8Array;
  #fill = 0;
  readonly #pending: Promise<Uint8Array[]>[] = [];
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

  get busy(): boolean {
    return this.#pending.length >= this.parallel;
  }

  #submit(): void {
    const block = this.#buf;
    const size = this.blockSize;
    const data = block.subarray(0, this.#fill);
    const how = deflateFor(data, this.level);
    let p: Promise<Uint8Array[]>;
    if (how.level === 0) {
      // Stored (random data): framed here at once, into a reused buffer where the members are
      // consumed as they are emitted, so the block is free again and nothing is left as garbage.
      const out = this.recycle && data.length <= size
        ? this.#storedFree.pop() ?? this.#newStored()
        : new Uint8Array(storedMemberSize(data.length));
      p = Promise.resolve([storedMember(data, out)]);
      this.#free.push(block);
    } else {
      p = gzipAsync(data, how).finally(() => {
        if (block.length === size) this.#free.push(block);
      });
      p.catch(() => {}); // awaited in order by settle(); not unhandled meanwhile
    }
    this.#pending.push(p);
    this.#any = true;
    this.#buf = this.#free.pop() ?? new Uint8Array(size);
    this.#fill = 0;
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
    for (const m of await this.#pending.shift()!) {
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

  /** Reads `size` bytes of the open file `fd` (from offset 0) straight into the blocks. */
  async file(fd: number, size: number, shrank: () => Error): Promise<void> {
    let pos = 0;
    while (pos < size) {
      const want = Math.min(size - pos, this.blockSize - this.#fill);
      const n = readSync(fd, this.#buf, this.#fill, want, pos);
      if (n <= 0) throw shrank();
      pos += n;
      this.commit(n);
      if (this.busy) await this.settle();
    }
  }

  /** Hands out finished members until fewer than `parallel` are in flight. */
  async settle(): Promise<void> {
    while (this.#pending.length >= this.parallel) await this.#emitNext();
    this.pace();
  }

  /** Reports the input taken since the last report to `pacer`. */
  pace(): void {
    this.pacer?.add(this.total - this.#paced);
    this.#paced = this.total;
  }

  /** Told the input bytes after each wait (for big files read straight in). */
  pacer?: MemoryPacer;

  /** Compresses what is left and hands out every member. */
  async end(): Promise<void> {
    if (this.#fill > 0 || !this.#any) this.#submit();
    while (this.#pending.length) await this.#emitNext();
  }
}

/**
 * Blocks in flight by default: enough for the producer to run ahead through a stretch that is
 * slow to compress (a big executable) into one that is quick (small text files), so that the
 * thread pool and the main thread both keep busy.
 */
const PARALLEL = 8;

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
    try {
      for (const b of tarHeaderBlocks(headerOf(it), size)) z.put(b);
      if (isInSpack(rel)) await z.file(fd, size, shrank);
      else if (size <= READ_WHOLE) {
        // Read once, into the tar block itself when it fits there, and classified in place.
        const into = z.reserve(size) ?? window.subarray(0, size);
        if (readAt(fd, into, size, 0) < size) throw shrank();
        note(lists, rel, relocationOf(into, matcher));
        if (into.buffer === window.buffer) z.put(into);
        else z.commit(size);
      } else {
        note(lists, rel, classifyOpen(fd, size, matcher));
        await z.file(fd, size, shrank);
      }
    } finally {
      closeSync(fd);
    }
    z.zeros(tarPadding(size));
    z.pace();
    if (z.busy) await z.settle();
    else if (z.total - turned > YIELD_EVERY) await nextTurn();
    else continue;
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
