/**
 * tar read and write as streams: ustar, PAX (long names and link names, non-ASCII names, large
 * sizes) and the GNU long-name extensions on read; symlinks, hardlinks, directories, modes.
 * The reader never copies member bodies (it hands out views of the input chunks), rejects
 * truncated archives and bad header checksums with an IntegrityError. The writer writes what
 * Python's `tarfile` writes in its default PAX format (the format Spack's tarballs use).
 *
 * @module
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import type { Readable } from "node:stream";
import { IntegrityError } from "../errors.ts";
import { toWebStream } from "./streams.ts";

/** The member types spackle deals with; anything else is reported as `other`. */
export type TarEntryType =
  | "file"
  | "directory"
  | "symlink"
  | "link"
  | "character-device"
  | "block-device"
  | "fifo"
  | "other";

/** One tar member's header. */
export interface TarHeader {
  name: string;
  type: TarEntryType;
  mode: number;
  size: number;
  linkname?: string;
  uid?: number;
  gid?: number;
  uname?: string;
  gname?: string;
  mtime?: Date;
  /** PAX records that applied to this member (extended and global), when there were any. */
  pax?: Record<string, string>;
}

/** A tar member: its header and its body (read it, or leave it and it is skipped). */
export interface TarEntry {
  header: TarHeader;
  body: AsyncIterable<Uint8Array>;
  /**
   * The whole body at once, without an await, when the input chunk at hand holds all of it
   * (else undefined, and `body` is read as usual): a view of that chunk, valid until the next
   * member is asked for. The body counts as read then.
   */
  bodyBuffered?: () => Uint8Array | undefined;
}

const BLOCK = 512;
const utf8 = new TextDecoder();
const utf8enc = new TextEncoder();

const TYPES: Record<string, TarEntryType> = {
  "0": "file",
  "\0": "file",
  "7": "file",
  "1": "link",
  "2": "symlink",
  "3": "character-device",
  "4": "block-device",
  "5": "directory",
  "6": "fifo",
};

/** Buffered reads of exact byte counts over an async iterator of chunks, without copying. */
class Source {
  private chunk: Uint8Array = new Uint8Array(0);
  private off = 0;
  private done = false;
  constructor(private it: AsyncIterator<Uint8Array>) {}

  private async fill(): Promise<boolean> {
    while (this.off >= this.chunk.byteLength) {
      if (this.done) return false;
      const r = await this.it.next();
      if (r.done) {
        this.done = true;
        return false;
      }
      const v = r.value;
      this.chunk = v.constructor === Uint8Array
        ? v
        : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
      this.off = 0;
    }
    return true;
  }

  /** `n` bytes when they are already buffered in one chunk (no await), else undefined. */
  take(n: number): Uint8Array | undefined {
    if (this.chunk.byteLength - this.off < n) return undefined;
    const v = this.chunk.subarray(this.off, this.off + n);
    this.off += n;
    return v;
  }

  /** Skips `n` bytes when they are already buffered (no await); false otherwise. */
  skipBuffered(n: number): boolean {
    if (this.chunk.byteLength - this.off < n) return false;
    this.off += n;
    return true;
  }

  /** Exactly `n` bytes, or fewer only at the end of input. */
  async read(n: number): Promise<Uint8Array> {
    if (!(await this.fill())) return new Uint8Array(0);
    const avail = this.chunk.byteLength - this.off;
    if (avail >= n) {
      const v = this.chunk.subarray(this.off, this.off + n);
      this.off += n;
      return v;
    }
    const out = new Uint8Array(n);
    let got = 0;
    while (got < n && (await this.fill())) {
      const take = Math.min(n - got, this.chunk.byteLength - this.off);
      out.set(this.chunk.subarray(this.off, this.off + take), got);
      this.off += take;
      got += take;
    }
    return got === n ? out : out.subarray(0, got);
  }

  /** Up to `n` buffered bytes as a view (no await), or undefined when nothing is buffered. */
  takeUpTo(n: number): Uint8Array | undefined {
    const avail = this.chunk.byteLength - this.off;
    if (avail <= 0) return undefined;
    const take = Math.min(n, avail);
    const v = this.chunk.subarray(this.off, this.off + take);
    this.off += take;
    return v;
  }

  /** Up to `n` bytes as a view of one input chunk; empty only at the end of input. */
  async readUpTo(n: number): Promise<Uint8Array> {
    if (!(await this.fill())) return new Uint8Array(0);
    return this.takeUpTo(n)!;
  }

  /** Skips `n` bytes; false when the input ended first. */
  async skip(n: number): Promise<boolean> {
    while (n > 0) {
      if (!(await this.fill())) return false;
      const take = Math.min(n, this.chunk.byteLength - this.off);
      this.off += take;
      n -= take;
    }
    return true;
  }

  async close(): Promise<void> {
    if (!this.done) {
      this.done = true;
      await this.it.return?.();
    }
  }
}

/**
 * Text of `b[start..end)`: ASCII (nearly every header field) is built from the char codes,
 * cheaper than a decoder call for short fields; anything else is decoded as UTF-8.
 */
function text(b: Uint8Array, start: number, end: number): string {
  if (end - start > 256) return utf8.decode(b.subarray(start, end));
  let s = "";
  for (let i = start; i < end; i++) {
    const c = b[i];
    if (c >= 0x80) return utf8.decode(b.subarray(start, end));
    s += String.fromCharCode(c);
  }
  return s;
}

function cstr(b: Uint8Array, start: number, len: number): string {
  let end = start;
  const max = start + len;
  while (end < max && b[end] !== 0) end++;
  return end === start ? "" : text(b, start, end);
}

/** A numeric field: octal text, or GNU base-256 when the high bit of the first byte is set. */
function num(b: Uint8Array, start: number, len: number): number {
  if (b[start] & 0x80) {
    let v = b[start] & 0x3f;
    for (let i = start + 1; i < start + len; i++) v = v * 256 + b[i];
    return b[start] & 0x40 ? -v : v;
  }
  let i = start;
  const end = start + len;
  while (i < end && (b[i] === 0x20 || b[i] === 0)) i++;
  let v = 0;
  for (; i < end; i++) {
    const c = b[i];
    if (c === 0 || c === 0x20) break;
    if (c < 0x30 || c > 0x37) return NaN;
    v = v * 8 + (c - 0x30);
  }
  return v;
}

function checksumOk(b: Uint8Array): boolean {
  const stored = num(b, 148, 8);
  // The checksum field itself counts as eight spaces.
  let unsigned = 8 * 0x20;
  let high = 0; // bytes above 127: the signed sum is lower by 256 for each
  for (let i = 0; i < 148; i++) {
    const c = b[i];
    unsigned += c;
    if (c > 127) high++;
  }
  for (let i = 156; i < BLOCK; i++) {
    const c = b[i];
    unsigned += c;
    if (c > 127) high++;
  }
  return stored === unsigned || stored === unsigned - 256 * high;
}

function isZero(b: Uint8Array): boolean {
  for (let i = 0; i < b.byteLength; i++) if (b[i] !== 0) return false;
  return true;
}

function parsePax(data: Uint8Array, label: string): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < data.byteLength) {
    // The record's length: decimal digits, then a space.
    let sp = i;
    let len = 0;
    while (sp < data.byteLength && data[sp] >= 0x30 && data[sp] <= 0x39 && sp - i < 16) {
      len = len * 10 + data[sp] - 0x30;
      sp++;
    }
    if (sp === i || sp >= data.byteLength || data[sp] !== 0x20) len = NaN;
    if (!Number.isInteger(len) || len <= 0 || i + len > data.byteLength) {
      if (isZero(data.subarray(i))) break;
      throw new IntegrityError(`Cannot read tar archive${label}: malformed PAX header record`);
    }
    const rec = data.subarray(sp + 1, i + len - 1); // without the trailing newline
    const eq = rec.indexOf(0x3d);
    if (eq > 0) out[text(rec, 0, eq)] = text(rec, eq + 1, rec.byteLength);
    i += len;
  }
  return out;
}

function truncated(label: string, what: string): IntegrityError {
  return new IntegrityError(`Cannot read tar archive${label}: truncated ${what}`);
}

function iteratorOf(
  src: ReadableStream<Uint8Array> | Readable | AsyncIterable<Uint8Array>,
): AsyncIterator<Uint8Array> {
  return (src as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
}

/**
 * Reads a tar archive member by member from a Web stream, a Node readable (a file stream) or
 * any async iterable of bytes. A member's body is read or left unread (then skipped) before the
 * next member is asked for. Ends at the end-of-archive marker; input that stops before it is an
 * IntegrityError, as is a header whose checksum does not match.
 *
 * @example
 * ```ts
 * import { collect, readTar, streamOf, writeTar } from "@spackle/spackle";
 * const body = new TextEncoder().encode("hello");
 * const tar = await collect(writeTar([{ header: { name: "a.txt", type: "file", mode: 0o644 }, body }]));
 * for await (const { header, body } of readTar(streamOf(tar))) {
 *   let size = 0;
 *   for await (const chunk of body) size += chunk.byteLength;
 *   console.log(header.name, size); // "a.txt" 5
 * }
 * ```
 */
export async function* readTar(
  src: ReadableStream<Uint8Array> | Readable | AsyncIterable<Uint8Array>,
  label = "",
): AsyncGenerator<TarEntry> {
  const where = label ? ` "${label}"` : "";
  const s = new Source(iteratorOf(src));
  const headers = new HeaderParser(where);
  try {
    for (;;) {
      const h = s.take(BLOCK) ?? await s.read(BLOCK);
      if (h.byteLength === 0) throw truncated(where, "archive (no end-of-archive marker)");
      if (h.byteLength < BLOCK) throw truncated(where, "header");
      const r = headers.parse(h);
      if (r.kind === "end") return;
      const size = r.size;
      const padded = Math.ceil(size / BLOCK) * BLOCK;
      if (r.kind === "extended") {
        const data = await s.read(padded);
        if (data.byteLength < padded) throw truncated(where, "extended header");
        headers.extended(r.flag, data.subarray(0, size));
        continue;
      }
      const name = r.header.name;
      let started = false;
      let consumed = 0;
      const body = (async function* () {
        if (started) throw new Error(`tar member "${name}": body read twice`);
        started = true;
        while (consumed < size) {
          const v = s.takeUpTo(size - consumed) ?? await s.readUpTo(size - consumed);
          if (v.byteLength === 0) throw truncated(where, `member "${name}"`);
          consumed += v.byteLength;
          yield v;
        }
      })();
      const bodyBuffered = () => {
        if (started) return undefined;
        const v = s.take(size);
        if (v === undefined) return undefined;
        started = true;
        consumed = size;
        return v;
      };
      yield { header: r.header, body, bodyBuffered };
      if (started) await body.return(undefined);
      const rest = padded - consumed;
      if (rest > 0 && !s.skipBuffered(rest) && !(await s.skip(rest))) {
        throw truncated(where, `member "${name}"`);
      }
    }
  } finally {
    await s.close();
  }
}

/** Turns header blocks into members, keeping PAX and GNU long-name state between them. */
class HeaderParser {
  private global: Record<string, string> = {};
  private pax: Record<string, string> | undefined;
  private longName: string | undefined;
  private longLink: string | undefined;
  private last = "start";
  /** True while no global PAX record was read (then a member's records are its own only). */
  #noGlobal = true;
  constructor(private where: string) {}

  /** One header block: the end marker, an extended header to read next, or a member. */
  parse(
    h: Uint8Array,
  ):
    | { kind: "end" }
    | { kind: "extended"; flag: string; size: number }
    | { kind: "member"; header: TarHeader; size: number } {
    const where = this.where;
    if (isZero(h)) return { kind: "end" }; // the second zero block, if any, is not needed
    if (!checksumOk(h)) {
      throw new IntegrityError(
        `Cannot read tar archive${where}: invalid tar header checksum after member "${this.last}"`,
      );
    }
    const flag = String.fromCharCode(h[156]);
    let size = num(h, 124, 12);
    if (this.pax?.size !== undefined) size = Number(this.pax.size);
    if (!Number.isFinite(size) || size < 0) {
      throw new IntegrityError(`Cannot read tar archive${where}: invalid member size`);
    }
    if (flag === "x" || flag === "g" || flag === "L" || flag === "K") {
      return { kind: "extended", flag, size };
    }
    const ustar = h[257] === 0x75 && h[258] === 0x73 && h[259] === 0x74 && h[260] === 0x61 &&
      h[261] === 0x72 && h[262] === 0; // "ustar\0"
    const ustarPrefix = ustar ? cstr(h, 345, 155) : "";
    const all = this.pax === undefined
      ? this.global
      : this.#noGlobal
      ? this.pax
      : { ...this.global, ...this.pax };
    let name = all.path ?? this.longName ??
      (ustarPrefix ? `${ustarPrefix}/${cstr(h, 0, 100)}` : cstr(h, 0, 100));
    let type: TarEntryType = TYPES[flag] ?? "other";
    if (type === "file" && flag === "\0" && name.endsWith("/")) type = "directory";
    if (name.length > 1 && name.endsWith("/")) name = name.replace(/\/+$/, "");
    const linkname = all.linkpath ?? this.longLink ?? cstr(h, 157, 100);
    const mtimeS = all.mtime !== undefined ? Number(all.mtime) : num(h, 136, 12);
    const header: TarHeader = {
      name,
      type,
      mode: num(h, 100, 8) & 0o7777,
      size: type === "file" || type === "other" ? size : 0,
      linkname: linkname || undefined,
      uid: all.uid !== undefined ? Number(all.uid) : num(h, 108, 8),
      gid: all.gid !== undefined ? Number(all.gid) : num(h, 116, 8),
      uname: all.uname ?? cstr(h, 265, 32),
      gname: all.gname ?? cstr(h, 297, 32),
      mtime: new Date(mtimeS * 1000),
      pax: all === this.global
        ? (this.#noGlobal ? undefined : { ...all })
        : Object.keys(all).length
        ? all
        : undefined,
    };
    this.pax = undefined;
    this.longName = undefined;
    this.longLink = undefined;
    this.last = name;
    return { kind: "member", header, size };
  }

  /** The body of an extended header (PAX or GNU long name) that `parse` announced. */
  extended(flag: string, body: Uint8Array): void {
    if (flag === "x") this.pax = { ...this.pax, ...parsePax(body, this.where) };
    else if (flag === "g") {
      this.global = { ...this.global, ...parsePax(body, this.where) };
      this.#noGlobal = Object.keys(this.global).length === 0;
    } else {
      let end = body.indexOf(0);
      if (end < 0) end = body.byteLength;
      const long = utf8.decode(body.subarray(0, end));
      if (flag === "L") this.longName = long;
      else this.longLink = long;
    }
  }
}

/** Where a member's body lies in an archive file. */
export interface TarIndexEntry {
  header: TarHeader;
  /** Byte offset of the body in the file. */
  offset: number;
}

/**
 * Lists the members of an uncompressed tar file with the offsets of their bodies, reading
 * only the headers (seeking over bodies), so that members can then be read in place.
 */
export function indexTarFile(path: string): TarIndexEntry[] {
  const fd = openSync(path, "r");
  try {
    const fileSize = fstatSync(fd).size;
    const where = ` "${path}"`;
    const headers = new HeaderParser(where);
    const out: TarIndexEntry[] = [];
    const h = new Uint8Array(BLOCK);
    let pos = 0;
    for (;;) {
      if (readSync(fd, h, 0, BLOCK, pos) < BLOCK) {
        throw truncated(where, pos === fileSize ? "archive (no end-of-archive marker)" : "header");
      }
      pos += BLOCK;
      const r = headers.parse(h);
      if (r.kind === "end") return out;
      const padded = Math.ceil(r.size / BLOCK) * BLOCK;
      if (pos + r.size > fileSize) throw truncated(where, "member");
      if (r.kind === "extended") {
        const data = new Uint8Array(r.size);
        readSync(fd, data, 0, r.size, pos);
        headers.extended(r.flag, data);
      } else {
        out.push({ header: r.header, offset: pos });
      }
      pos += padded;
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * A member to write: header plus its body (files) as bytes, as an async iterable of a declared
 * `size`, or as the `path` of a local file the writer reads itself (the fastest way: no
 * per-file allocation). A file that shrank below the declared size is an error; of a file
 * that grew, the declared size is written.
 */
export interface TarWriteEntry {
  header: Omit<TarHeader, "size"> & { size?: number };
  body?: Uint8Array | AsyncIterable<Uint8Array>;
  path?: string;
}

const TYPEFLAG: Record<TarEntryType, string> = {
  file: "0",
  link: "1",
  symlink: "2",
  "character-device": "3",
  "block-device": "4",
  directory: "5",
  fifo: "6",
  other: "0",
};

// deno-lint-ignore no-control-regex
const ASCII = /^[\x00-\x7f]*$/;

function putStr(b: Uint8Array, off: number, len: number, s: string): void {
  if (s.length <= len && ASCII.test(s)) {
    for (let i = 0; i < s.length; i++) b[off + i] = s.charCodeAt(i);
    return;
  }
  const bytes = utf8enc.encode(s);
  b.set(bytes.subarray(0, len), off);
}

/** Octal digits, zero-padded to len-1, NUL-terminated (as Python's tarfile writes them). */
function putNum(b: Uint8Array, off: number, len: number, v: number): void {
  const digits = len - 1;
  if (v >= 0 && v < 8 ** digits) {
    putStr(b, off, len, v.toString(8).padStart(digits, "0"));
    b[off + digits] = 0;
  } else {
    // GNU base-256 for values that do not fit (the PAX record carries them too)
    b[off] = 0x80;
    let x = BigInt(Math.max(0, Math.floor(v)));
    for (let i = off + len - 1; i > off; i--) {
      b[i] = Number(x & 0xffn);
      x >>= 8n;
    }
  }
}

function block(
  name: string,
  flag: string,
  opts: {
    mode: number;
    size: number;
    uid: number;
    gid: number;
    mtime: number;
    linkname: string;
    uname: string;
    gname: string;
  },
): Uint8Array {
  const b = new Uint8Array(BLOCK);
  putStr(b, 0, 100, name);
  putNum(b, 100, 8, opts.mode);
  putNum(b, 108, 8, opts.uid);
  putNum(b, 116, 8, opts.gid);
  putNum(b, 124, 12, opts.size);
  putNum(b, 136, 12, opts.mtime);
  b.fill(0x20, 148, 156);
  b[156] = flag.charCodeAt(0);
  putStr(b, 157, 100, opts.linkname);
  putStr(b, 257, 8, "ustar\x0000");
  putStr(b, 265, 32, opts.uname);
  putStr(b, 297, 32, opts.gname);
  if (flag === "3" || flag === "4") {
    putNum(b, 329, 8, 0);
    putNum(b, 337, 8, 0);
  }
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += b[i];
  putStr(b, 148, 7, sum.toString(8).padStart(6, "0"));
  b[154] = 0;
  b[155] = 0x20;
  return b;
}

/** PAX records "LEN key=value\n", LEN counting itself (computed as tarfile does). */
function paxRecords(records: [string, string][]): Uint8Array {
  let text = "";
  const bytes = (x: string) => ASCII.test(x) ? x.length : utf8enc.encode(x).byteLength;
  for (const [k, v] of records) {
    const l = bytes(k) + bytes(v) + 3;
    let n = 0;
    let p = 0;
    for (;;) {
      n = l + String(p).length;
      if (n === p) break;
      p = n;
    }
    text += `${p} ${k}=${v}\n`;
  }
  return utf8enc.encode(text);
}

const RECORD = 20 * BLOCK;

function padTo(size: number, unit: number): number {
  return (unit - (size % unit)) % unit;
}

function padding(size: number): number {
  return padTo(size, BLOCK);
}

/**
 * The header block(s) of one member as {@link writeTar} writes them (a PAX header first when
 * a field needs one), for producers that frame members into their own buffers. Copy them; do
 * not modify them (some are shared).
 */
export function tarHeaderBlocks(h: TarWriteEntry["header"], size: number): Uint8Array[] {
  return headerBlocks(h, size);
}

/** Zero bytes after a member body of `size` bytes (to a whole 512-byte block). */
export function tarPadding(size: number): number {
  return padding(size);
}

/**
 * Zero bytes that end an archive of `total` bytes: two zero blocks, then tarfile's padding of
 * the whole to a multiple of 20 blocks.
 */
export function tarTrailerSize(total: number): number {
  return BLOCK * 2 + padTo(total + BLOCK * 2, RECORD);
}

/** The ustar header of a PAX extended header of `size` bytes (shared: read only). */
function paxHeaderBlock(size: number): Uint8Array {
  let b = paxHeaders.get(size);
  if (!b) {
    b = block("././@PaxHeader", "x", {
      mode: 0,
      size,
      uid: 0,
      gid: 0,
      mtime: 0,
      linkname: "",
      uname: "",
      gname: "",
    });
    if (paxHeaders.size >= 256) paxHeaders.clear();
    paxHeaders.set(size, b);
  }
  return b;
}

const paxHeaders = new Map<number, Uint8Array>();

/**
 * The header block(s) of one member: a PAX header first when a field needs one. The arrays
 * are the caller's to copy, not to modify (some are shared).
 */
function headerBlocks(h: TarWriteEntry["header"], size: number): Uint8Array[] {
  const fields = {
    mode: h.mode & 0o7777,
    size,
    uid: h.uid ?? 0,
    gid: h.gid ?? 0,
    mtime: Math.floor((h.mtime?.getTime() ?? 0) / 1000),
    linkname: h.linkname ?? "",
    uname: h.uname ?? "",
    gname: h.gname ?? "",
  };
  const records: [string, string][] = [];
  // An ASCII string has as many bytes as characters.
  const needs = (s: string, max: number) => s.length > max || !ASCII.test(s);
  let name = h.type === "directory" && !h.name.endsWith("/") ? h.name + "/" : h.name;
  // What does not fit goes to a PAX record; the ustar field keeps an ASCII stand-in ("?" for
  // each other character), as tarfile writes it.
  const asciiOf = (s: string, max: number) =>
    // deno-lint-ignore no-control-regex
    (ASCII.test(s) ? s : s.replace(/[^\x00-\x7f]/gu, "?")).slice(0, max);
  if (needs(name, 100)) {
    records.push(["path", name]);
    name = asciiOf(name, 100);
  }
  if (needs(fields.linkname, 100)) {
    records.push(["linkpath", fields.linkname]);
    fields.linkname = asciiOf(fields.linkname, 100);
  }
  if (needs(fields.uname, 32)) {
    records.push(["uname", fields.uname]);
    fields.uname = asciiOf(fields.uname, 32);
  }
  if (needs(fields.gname, 32)) {
    records.push(["gname", fields.gname]);
    fields.gname = asciiOf(fields.gname, 32);
  }
  if (size >= 8 ** 11) records.push(["size", String(size)]);
  for (const [k, v] of Object.entries(h.pax ?? {})) {
    if (!records.some(([rk]) => rk === k)) records.push([k, v]);
  }
  const out: Uint8Array[] = [];
  if (records.length) {
    const data = paxRecords(records);
    out.push(paxHeaderBlock(data.byteLength));
    out.push(data);
    const pad = padding(data.byteLength);
    if (pad) out.push(new Uint8Array(pad));
  }
  out.push(block(name, TYPEFLAG[h.type], fields));
  return out;
}

/**
 * The output buffer of the writer: small pieces are copied into chunks of CHUNK bytes, local
 * files are read straight into it, and each full chunk is handed out once (never reused).
 */
class Out {
  private buf = new Uint8Array(CHUNK);
  private off = 0;
  /** Full chunks waiting to be handed out. */
  ready: Uint8Array[] = [];
  /** Hands out the full chunks. */
  drain(): Uint8Array[] {
    const r = this.ready;
    this.ready = [];
    return r;
  }
  /** Copies `b` in. */
  put(b: Uint8Array): void {
    const full = this.ready;
    let i = 0;
    while (i < b.byteLength) {
      const n = Math.min(b.byteLength - i, CHUNK - this.off);
      this.buf.set(b.subarray(i, i + n), this.off);
      this.off += n;
      i += n;
      if (this.off === CHUNK) full.push(this.flush()!);
    }
  }
  /** `n` zero bytes. */
  zeros(n: number): void {
    const full = this.ready;
    while (n > 0) {
      const k = Math.min(n, CHUNK - this.off);
      this.off += k; // fresh buffers are zero-filled
      n -= k;
      if (this.off === CHUNK) full.push(this.flush()!);
    }
  }
  /** Reads `size` bytes of the open file `fd` in. */
  file(fd: number, size: number, name: string): void {
    const full = this.ready;
    let left = size;
    while (left > 0) {
      const want = Math.min(left, CHUNK - this.off);
      const n = readSync(fd, this.buf, this.off, want, null);
      if (n === 0) throw new Error(`tar member "${name}": file is shorter than its size ${size}`);
      this.off += n;
      left -= n;
      if (this.off === CHUNK) full.push(this.flush()!);
    }
  }
  /** The bytes gathered so far, if any. */
  flush(): Uint8Array | undefined {
    if (this.off === 0) return undefined;
    const out = this.off === CHUNK ? this.buf : this.buf.subarray(0, this.off);
    this.buf = new Uint8Array(CHUNK);
    this.off = 0;
    return out;
  }
}

const CHUNK = 1 << 20;

async function* tarBytes(
  entries: AsyncIterable<TarWriteEntry> | Iterable<TarWriteEntry>,
): AsyncGenerator<Uint8Array> {
  let total = 0;
  for await (const b of memberBytes(entries)) {
    total += b.byteLength;
    yield b;
  }
  // Two zero blocks end the archive; tarfile pads the whole to a multiple of 20 blocks.
  yield new Uint8Array(tarTrailerSize(total));
}

async function* memberBytes(
  entries: AsyncIterable<TarWriteEntry> | Iterable<TarWriteEntry>,
): AsyncGenerator<Uint8Array> {
  const out = new Out();
  // A sync iterable is stepped without awaiting (for await would cost a promise per member).
  const asyncIt = Symbol.asyncIterator in entries
    ? (entries as AsyncIterable<TarWriteEntry>)[Symbol.asyncIterator]()
    : undefined;
  const syncIt = asyncIt ? undefined : (entries as Iterable<TarWriteEntry>)[Symbol.iterator]();
  for (;;) {
    const r = syncIt ? syncIt.next() : await asyncIt!.next();
    if (r.done) break;
    const e = r.value;
    const body = e.body;
    const hasBody = e.header.type === "file" || e.header.type === "other";
    if (hasBody && e.path !== undefined) {
      const fd = openSync(e.path, "r");
      try {
        const size = e.header.size ?? fstatSync(fd).size;
        for (const b of headerBlocks(e.header, size)) out.put(b);
        out.file(fd, size, e.header.name);
        out.zeros(padding(size));
      } finally {
        closeSync(fd);
      }
      if (out.ready.length) yield* out.drain();
      continue;
    }
    if (body === undefined || body instanceof Uint8Array || !hasBody) {
      const bytes = hasBody && body instanceof Uint8Array ? body : new Uint8Array(0);
      for (const b of headerBlocks(e.header, bytes.byteLength)) out.put(b);
      out.put(bytes);
      out.zeros(padding(bytes.byteLength));
      if (out.ready.length) yield* out.drain();
      continue;
    }
    const size = e.header.size;
    if (size === undefined) {
      throw new Error(`tar member "${e.header.name}" streams a body without a size`);
    }
    for (const b of headerBlocks(e.header, size)) out.put(b);
    if (out.ready.length) yield* out.drain();
    const head = out.flush();
    if (head) yield head;
    let n = 0;
    for await (const chunk of body) {
      n += chunk.byteLength;
      if (n > size) {
        throw new Error(`tar member "${e.header.name}": body is longer than its size ${size}`);
      }
      yield chunk;
    }
    if (n !== size) {
      throw new Error(`tar member "${e.header.name}": body has ${n} bytes, size says ${size}`);
    }
    out.zeros(padding(size));
    if (out.ready.length) yield* out.drain();
  }
  if (out.ready.length) yield* out.drain();
  const last = out.flush();
  if (last) yield last;
}

/**
 * Writes members to a tar stream, as Python's `tarfile` does in PAX format: a PAX header
 * before any member whose name, link name, user or group name is not ASCII or does not fit,
 * directories named with a trailing "/", numbers in octal. Bodies given as async iterables
 * must declare `size` (checked while streaming).
 */
export function writeTar(
  entries: AsyncIterable<TarWriteEntry> | Iterable<TarWriteEntry>,
): ReadableStream<Uint8Array> {
  return toWebStream(tarBytes(entries));
}
