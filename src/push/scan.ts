/**
 * File classification as Spack does it when it writes a tarball
 * (`binary_distribution.py::file_type`, `tarfile_of_spec_prefix`): ELF and Mach-O binaries,
 * text files that mention a relocatable prefix, and symlinks whose absolute target starts with
 * one.
 *
 * @module
 */

/** What Spack's `file_type` says about a file. */
export type FileKind = "binary" | "text" | "unknown";

import { readSync } from "node:fs";
import { Buffer, isUtf8 } from "node:buffer";

/** True for the first bytes of an ELF or Mach-O file (Spack's `is_elf_magic`/`is_macho_magic`). */
export function isBinaryMagic(b: Uint8Array): boolean {
  if (b.length < 8) return false;
  const m = (a: number, c: number, d: number, e: number) =>
    b[0] === a && b[1] === c && b[2] === d && b[3] === e;
  if (m(0x7f, 0x45, 0x4c, 0x46)) return true;
  if (m(0xcf, 0xfa, 0xed, 0xfe) || m(0xfe, 0xed, 0xfa, 0xcf)) return true;
  if (m(0xce, 0xfa, 0xed, 0xfe) || m(0xfe, 0xed, 0xfa, 0xce)) return true;
  if (m(0xca, 0xfe, 0xba, 0xbe)) {
    return ((b[4] << 24) | (b[5] << 16) | (b[6] << 8) | b[7]) >>> 0 < 10;
  }
  if (m(0xbe, 0xba, 0xfe, 0xca)) {
    return ((b[7] << 24) | (b[6] << 16) | (b[5] << 8) | b[4]) >>> 0 < 10;
  }
  return false;
}

/**
 * Classifies file contents: shorter than 8 bytes is "unknown"; ELF/Mach-O magic is "binary";
 * valid UTF-8 or bytes free of `[\x00\x7f-\x9f]` (ISO-8859-1 heuristic) is "text".
 */
export function classify(data: Uint8Array): FileKind {
  if (data.length < 8) return "unknown";
  if (isBinaryMagic(data)) return "binary";
  // Validated without decoding (no string per file); else the ISO-8859-1 heuristic.
  if (isUtf8(data) || isLatin1Text(data)) return "text";
  return "unknown";
}

/** No byte of `data` is NUL or in `[\x7f-\x9f]` (Spack's ISO-8859-1 text heuristic). */
export function isLatin1Text(data: Uint8Array): boolean {
  for (let i = 0; i < data.length; i++) {
    const c = data[i];
    if (c === 0 || (c >= 0x7f && c <= 0x9f)) return false;
  }
  return true;
}

/** `[A-Za-z0-9_-]`: the characters Spack's prefix regex lets stand before a prefix. */
function isWordOrDash(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) ||
    c === 0x5f || c === 0x2d;
}

/**
 * Finds the prefixes in text the way Spack's `utf8_paths_to_single_binary_regex` does with
 * `search`: `(?<![\w\-_/])([\w\-_]*?)(P1|P2|...)([\w\-_/]*)`. An occurrence of a prefix counts
 * unless the run of word characters before it is preceded by "/".
 */
export class PrefixMatcher {
  readonly #needles: Buffer[];
  readonly #longest: number;

  /** A matcher for `prefixes` (empty strings are ignored). */
  constructor(prefixes: string[]) {
    this.#needles = [...new Set(prefixes.filter((p) => p.length > 0))].map((p) => Buffer.from(p));
    this.#longest = Math.max(0, ...this.#needles.map((n) => n.byteLength));
  }

  /** True when `data` contains a prefix at a position the regex's look-behind allows. */
  search(data: Uint8Array): boolean {
    return this.#searchIn(data, () => true);
  }

  /**
   * `search` over the first `size` bytes of the open file `fd`, read in windows of
   * `buf.byteLength` bytes (so that the memory used does not depend on the file's size).
   */
  searchFile(fd: number, size: number, buf: Uint8Array): boolean {
    const overlap = Math.max(0, this.#longest - 1);
    if (buf.byteLength <= overlap) throw new RangeError("searchFile: buffer too small");
    let pos = 0; // file offset of buf[0]
    for (;;) {
      const len = readAt(fd, buf, Math.min(buf.byteLength, size - pos), pos);
      const win = buf.subarray(0, len);
      // A run of word characters reaching the window's start continues before it: look back
      // in the file for the character before the run.
      const before = () => pos === 0 || !slashBefore(fd, pos);
      if (this.#searchIn(win, before)) return true;
      if (pos + len >= size || len <= overlap) return false;
      pos += len - overlap;
    }
  }

  /**
   * The search proper; `atStart` answers for an occurrence whose word run reaches the start of
   * `data` (true when the look-behind allows it).
   */
  #searchIn(data: Uint8Array, atStart: () => boolean): boolean {
    const hay = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    for (const n of this.#needles) {
      let from = 0;
      for (;;) {
        const p = hay.indexOf(n, from);
        if (p < 0) break;
        let s = p;
        while (s > 0 && isWordOrDash(data[s - 1])) s--;
        if (s === 0 ? atStart() : data[s - 1] !== 0x2f) return true;
        from = p + 1;
      }
    }
    return false;
  }

  /** Spack's `regex.match` on a symlink target: the target starts with a prefix. */
  matchStart(target: string): boolean {
    const t = new TextEncoder().encode(target);
    return this.#needles.some((n) => n.length <= t.length && indexOf(t, n, 0) === 0);
  }
}

/** Byte-string search (first byte scan with `indexOf`, then compare). */
export function indexOf(hay: Uint8Array, needle: Uint8Array, from: number): number {
  if (needle.length === 0) return from;
  const first = needle[0];
  const last = hay.length - needle.length;
  let i = from;
  while (i <= last) {
    i = hay.indexOf(first, i);
    if (i < 0 || i > last) return -1;
    let j = 1;
    while (j < needle.length && hay[i + j] === needle[j]) j++;
    if (j === needle.length) return i;
    i++;
  }
  return -1;
}

/** Reads up to `len` bytes of `fd` at `pos` into `buf` (fewer only at the end of the file). */
export function readAt(fd: number, buf: Uint8Array, len: number, pos: number): number {
  let n = 0;
  while (n < len) {
    const got = readSync(fd, buf, n, len - n, pos + n);
    if (got <= 0) break;
    n += got;
  }
  return n;
}

/**
 * Whether the run of word characters that ends just before file offset `end` is preceded by
 * "/" (false when the run starts the file).
 */
function slashBefore(fd: number, end: number): boolean {
  const b = new Uint8Array(4096);
  while (end > 0) {
    const start = Math.max(0, end - b.byteLength);
    const n = readAt(fd, b, end - start, start);
    for (let i = n - 1; i >= 0; i--) if (!isWordOrDash(b[i])) return b[i] === 0x2f;
    end = start;
  }
  return false;
}
