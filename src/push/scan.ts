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

const utf8Strict = new TextDecoder("utf-8", { fatal: true });

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
  try {
    utf8Strict.decode(data);
    return "text";
  } catch {
    // not UTF-8: try the ISO-8859-1 heuristic
  }
  for (let i = 0; i < data.length; i++) {
    const c = data[i];
    if (c === 0 || (c >= 0x7f && c <= 0x9f)) return "unknown";
  }
  return "text";
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
  readonly #needles: Uint8Array[];

  /** A matcher for `prefixes` (empty strings are ignored). */
  constructor(prefixes: string[]) {
    const enc = new TextEncoder();
    this.#needles = [...new Set(prefixes.filter((p) => p.length > 0))].map((p) => enc.encode(p));
  }

  /** True when `data` contains a prefix at a position the regex's look-behind allows. */
  search(data: Uint8Array): boolean {
    for (const n of this.#needles) {
      let from = 0;
      for (;;) {
        const p = indexOf(data, n, from);
        if (p < 0) break;
        let s = p;
        while (s > 0 && isWordOrDash(data[s - 1])) s--;
        if (s === 0 || data[s - 1] !== 0x2f) return true;
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
