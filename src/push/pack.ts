/**
 * A prefix directory to the tarball Spack writes (`util/archive.py::
 * reproducible_tarfile_from_prefix`, FORMAT.md 5): parent directories first, depth-first
 * pre-order with the files of a directory before its sub-directories, names sorted, owner and
 * mtime zeroed, modes normalised (0755/0644), hardlinks stored once, PAX for long names, and a
 * freshly generated `.spack/binary_distribution` as the last member.
 *
 * Compression: the tar stream is cut into blocks compressed independently on the thread pool
 * and written as consecutive gzip members (a multi-member gzip file, which Python's `gzip` and
 * `tarfile` read as one stream). A tarball smaller than one block is a single member with the
 * same bytes as Spack's gzip settings give.
 *
 * @module
 */
import { closeSync, lstatSync, openSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { readSync } from "node:fs";
import { createWriteStream } from "node:fs";
import { gzip } from "node:zlib";
import { Writable } from "node:stream";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { type TarWriteEntry, writeTar } from "../core/tar.ts";
import { InvalidDataError, NotFoundError } from "../errors.ts";
import type { Descriptor } from "../layout/types.ts";
import { MEDIA_TYPES } from "../layout/media_types.ts";
import {
  type BuildinfoMeta,
  prefixesToRelocate,
  type RelocationLists,
  serializeBuildinfo,
} from "./buildinfo.ts";
import { classify, isBinaryMagic, PrefixMatcher } from "./scan.ts";

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
  /** Blocks compressed at once (default 3). */
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

/** Bytes read between collections under Bun (its collector runs late on big streams). */
const GC_EVERY = 16 << 20;

function collectGarbage(): void {
  const g = globalThis as { Bun?: { gc(force: boolean): void } };
  g.Bun?.gc(true);
}

const window = new Uint8Array(1 << 20);

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

/** The tar members of a prefix, buildinfo last; `lists` is filled while iterating. */
export async function* prefixEntries(
  opts: PackOptions,
  out: PackResult,
): AsyncGenerator<TarWriteEntry> {
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
  const matcher = new PrefixMatcher(prefixesToRelocate(opts.meta));
  const lists = out.lists;
  const dir0 = { mode: 0o755, uid: 0, gid: 0, uname: "", gname: "", mtime: new Date(0) };

  // Parent directories of the member prefix (not the root).
  const parts = toName(memberPrefix).split("/").filter(Boolean);
  for (let i = 1; i < parts.length; i++) {
    yield { header: { ...dir0, name: parts.slice(0, i).join("/"), type: "directory", size: 0 } };
  }

  let skipId: string | undefined;
  try {
    const b = lstatSync(`${prefix}/.spack/binary_distribution`);
    skipId = `${b.dev}:${b.ino}`;
  } catch { /* none */ }

  const seen = new Map<string, string>();
  const stack: string[] = [""];
  let sinceGc = 0;
  while (stack.length) {
    const rel = stack.pop()!;
    const abs = rel ? `${prefix}/${rel}` : prefix;
    const name = toName(rel ? `${memberPrefix}/${rel}` : memberPrefix);
    yield { header: { ...dir0, name, type: "directory", size: 0 } };
    const ents = readdirSync(abs, { withFileTypes: true }).sort((a, b) => byName(a.name, b.name));
    const dirs: string[] = [];
    for (const e of ents) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      const p = join(abs, e.name);
      const n = `${name}/${e.name}`;
      if (e.isDirectory()) {
        if (skipId) {
          const s = lstatSync(p);
          if (`${s.dev}:${s.ino}` === skipId) continue;
        }
        dirs.push(r);
        continue;
      }
      if (e.isSymbolicLink()) {
        if (skipId) {
          const s = lstatSync(p);
          if (`${s.dev}:${s.ino}` === skipId) continue;
        }
        const target = readlinkSync(p);
        if (target.startsWith("/") && matcher.matchStart(target)) lists.relocateLinks.push(r);
        yield {
          header: { ...dir0, name: n, type: "symlink", linkname: target, size: 0 },
        };
        continue;
      }
      if (!e.isFile()) continue; // devices, FIFOs, sockets
      const s = lstatSync(p);
      const id = `${s.dev}:${s.ino}`;
      if (id === skipId) continue;
      const mode = s.mode & 0o100 ? 0o755 : 0o644;
      sinceGc += s.size + 4096; // headers and per-file objects count too
      if (sinceGc >= GC_EVERY) {
        sinceGc = 0;
        collectGarbage();
      }
      if (s.nlink > 1) {
        const first = seen.get(id);
        if (first !== undefined) {
          yield { header: { ...dir0, mode, name: n, type: "link", linkname: first, size: 0 } };
          continue;
        }
        seen.set(id, n);
      }
      const inSpack = r === ".spack" || r.startsWith(".spack/");
      if (inSpack) {
        yield { header: { ...dir0, mode, name: n, type: "file", size: s.size }, path: p };
        continue;
      }
      if (s.size <= READ_WHOLE) {
        // Classified from a reused buffer; the tar writer reads the file again (page cache)
        // into its own chunks, so no allocation per file.
        const bytes = readSmall(p, s.size);
        const kind = classify(bytes);
        if (kind === "binary") lists.relocateBinaries.push(r);
        else if (kind === "text" && matcher.search(bytes)) lists.relocateTextfiles.push(r);
        yield { header: { ...dir0, mode, name: n, type: "file", size: bytes.length }, path: p };
      } else {
        const kind = classifyLarge(p);
        if (kind === "binary") lists.relocateBinaries.push(r);
        else if (kind === "text") {
          const data = readFileSync(p);
          if (matcher.search(data)) lists.relocateTextfiles.push(r);
        }
        yield { header: { ...dir0, mode, name: n, type: "file", size: s.size }, path: p };
      }
    }
    for (let i = dirs.length - 1; i >= 0; i--) stack.push(dirs[i]);
  }

  out.buildinfo = serializeBuildinfo(opts.meta, lists);
  const body = utf8.encode(out.buildinfo);
  yield {
    header: {
      ...dir0,
      mode: 0o644,
      name: toName(`${memberPrefix}/.spack/binary_distribution`),
      type: "file",
      size: body.length,
    },
    body,
  };
}

/** The bytes of a file of at most READ_WHOLE bytes, in the reused window buffer. */
function readSmall(path: string, size: number): Uint8Array {
  const fd = openSync(path, "r");
  try {
    let n = 0;
    while (n < size) {
      const got = readSync(fd, window, n, size - n, n);
      if (got <= 0) break;
      n += got;
    }
    return window.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/** `classify` for a big file, reading it in windows. */
function classifyLarge(path: string): "binary" | "text" | "unknown" {
  const fd = openSync(path, "r");
  try {
    const buf = window;
    let n = readSync(fd, buf, 0, buf.length, null);
    if (n < 8) return "unknown";
    if (isBinaryMagic(buf.subarray(0, 8))) return "binary";
    const dec = new TextDecoder("utf-8", { fatal: true });
    let utf8ok = true;
    let off = 0;
    while (n > 0 && utf8ok) {
      try {
        dec.decode(buf.subarray(0, n), { stream: true });
      } catch {
        utf8ok = false;
        break;
      }
      off += n;
      n = readSync(fd, buf, 0, buf.length, null);
    }
    if (utf8ok) {
      try {
        dec.decode();
        return "text";
      } catch { /* fall through */ }
    }
    off = 0;
    for (;;) {
      n = readSync(fd, buf, 0, buf.length, off);
      if (n <= 0) return "text";
      for (let i = 0; i < n; i++) {
        const c = buf[i];
        if (c === 0 || (c >= 0x7f && c <= 0x9f)) return "unknown";
      }
      off += n;
    }
  } finally {
    closeSync(fd);
  }
}

/** Bytes sampled at the start, middle and end of a block to estimate its entropy. */
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

/**
 * The level a block is compressed at: `level`, or 0 (stored) when samples at its start,
 * middle and end all look random (byte entropy above 7.95 bits: compressed or encrypted
 * data, where deflate spends its time for nothing).
 */
export function levelFor(data: Uint8Array, level: number): number {
  if (level === 0 || data.length < 4 * PROBE) return level;
  for (const at of [0, (data.length - PROBE) >> 1, data.length - PROBE]) {
    if (entropy(data.subarray(at, at + PROBE)) < 7.95) return level;
  }
  return 0;
}

function gzipAsync(data: Uint8Array, level: number): Promise<Uint8Array> {
  level = levelFor(data, level);
  return new Promise((resolve, reject) => {
    gzip(data, { level, chunkSize: 1 << 20 }, (err, res) => {
      if (err) return reject(err);
      const out = new Uint8Array(res.buffer, res.byteOffset, res.byteLength);
      out.fill(0, 4, 8); // mtime 0
      out[9] = 0xff; // OS byte as Python's gzip writes it
      resolve(out);
    });
  });
}

/**
 * A gzip compressor that compresses `blockSize` input blocks on the thread pool, `parallel`
 * at a time, and emits them in order as gzip members.
 */
export function parallelGzipStream(
  opts: { level?: number; blockSize?: number; parallel?: number } = {},
): TransformStream<Uint8Array, Uint8Array> {
  const level = opts.level ?? 6;
  const blockSize = opts.blockSize ?? 1 << 20;
  const parallel = Math.max(1, opts.parallel ?? 3);
  // Input blocks are reused once their compression finished (no garbage per block).
  const free: Uint8Array[] = [];
  let buf: Uint8Array = new Uint8Array(blockSize);
  let fill = 0;
  const pending: Promise<Uint8Array>[] = [];
  let any = false;

  const submit = () => {
    const block = buf;
    pending.push(
      gzipAsync(block.subarray(0, fill), level).finally(() => {
        if (block.length === blockSize) free.push(block);
      }),
    );
    any = true;
    buf = free.pop() ?? new Uint8Array(blockSize);
    fill = 0;
  };
  return new TransformStream<Uint8Array, Uint8Array>({
    async transform(chunk, c) {
      let off = 0;
      while (off < chunk.length) {
        const n = Math.min(blockSize - fill, chunk.length - off);
        buf.set(chunk.subarray(off, off + n), fill);
        fill += n;
        off += n;
        if (fill === blockSize) {
          submit();
          while (pending.length >= parallel) c.enqueue(await pending.shift()!);
        }
      }
    },
    async flush(c) {
      if (fill > 0 || !any) submit();
      while (pending.length) c.enqueue(await pending.shift()!);
    },
  });
}

/** Packs a prefix: the gzip-compressed tarball stream and, once it ended, what was found. */
export function packPrefix(
  opts: PackOptions,
): { stream: ReadableStream<Uint8Array>; result: Promise<PackResult> } {
  const out: PackResult = {
    lists: { relocateBinaries: [], relocateLinks: [], relocateTextfiles: [] },
    buildinfo: "",
  };
  let resolve!: (r: PackResult) => void;
  let reject!: (e: unknown) => void;
  const result = new Promise<PackResult>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  result.catch(() => {});
  async function* entries(): AsyncGenerator<TarWriteEntry> {
    try {
      yield* prefixEntries(opts, out);
    } catch (e) {
      reject(e);
      throw e;
    }
  }
  const stream = writeTar(entries()).pipeThrough(parallelGzipStream(opts)).pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      flush() {
        resolve(out);
      },
    }),
  );
  return { stream, result };
}

/** A packed tarball in a local file with its descriptor. */
export interface PackedFile extends PackResult {
  path: string;
  descriptor: Descriptor;
}

/** Packs a prefix into the file `path`, hashing while writing. */
export async function packToFile(opts: PackOptions, path: string): Promise<PackedFile> {
  const { stream, result } = packPrefix(opts);
  const hash = createHash("sha256");
  let size = 0;
  const file = createWriteStream(path);
  const sink = Writable.toWeb(file) as WritableStream<Uint8Array>;
  await stream.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(c, ctl) {
        hash.update(c);
        size += c.byteLength;
        ctl.enqueue(c);
      },
    }),
  ).pipeTo(sink);
  const r = await result;
  return {
    ...r,
    path,
    descriptor: {
      mediaType: MEDIA_TYPES.tarball,
      checksum: hash.digest("hex"),
      checksumAlgorithm: "sha256",
      size,
      compression: "gzip",
    },
  };
}
