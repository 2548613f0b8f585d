/**
 * The text of `list`'s table: columns padded to the longest cell (the last one not padded),
 * each line trimmed at its end, as `output.ts`'s `table` makes them, a block of lines at a time.
 * Tens of thousands of lines are made as bytes (each distinct version, arch and compiler cell
 * encoded once, padded) and decoded once per block: several times faster than padding and
 * concatenating strings line by line. A block with a cell that is not printable ASCII is made
 * as strings instead (the same text).
 *
 * @module
 */

import type { EntryRef } from "../../mod.ts";

/** What a line shows of a reference. */
export type ListRow = Pick<
  EntryRef,
  "name" | "version" | "hash" | "arch" | "compiler" | "inBuildcache"
>;

/** `--long` (whole hashes) and `--all` (the "(not in cache)" column). */
export interface ListTableOptions {
  long: boolean;
  all: boolean;
}

/** Lines per block of text. */
const BLOCK = 2000;
const SP = 0x20;
const NOT_IN_CACHE = "(not in cache)";

/** The column widths of the rows. */
function widthsOf(rows: readonly ListRow[], o: ListTableOptions): number[] {
  let w0 = 0, w1 = 0, w2 = 0, w3 = 0, w4 = 0;
  for (const r of rows) {
    w0 = Math.max(w0, r.name.length);
    w1 = Math.max(w1, r.version.length);
    w2 = Math.max(w2, o.long ? r.hash.length : Math.min(7, r.hash.length));
    w3 = Math.max(w3, (r.arch ?? "-").length);
    w4 = Math.max(w4, (r.compiler ?? "-").length);
  }
  return [w0, w1, w2, w3, w4];
}

/** The cells of a row: name, version, hash, arch, compiler, and with `all` the cache mark. */
export function listCells(r: ListRow, o: ListTableOptions): string[] {
  return [
    r.name,
    r.version,
    o.long ? r.hash : r.hash.slice(0, 7),
    r.arch ?? "-",
    r.compiler ?? "-",
    ...(o.all ? [r.inBuildcache ? "" : NOT_IN_CACHE] : []),
  ];
}

/** A line as strings (any text): each cell but the last padded to its column's width. */
function lineText(r: ListRow, o: ListTableOptions, w: number[]): string {
  const cells = listCells(r, o);
  const line = cells.map((c, i) => i === cells.length - 1 ? c : c.padEnd(w[i])).join("  ");
  // Only a line ending in blanks (or in text trimEnd may see as such) is trimmed.
  const last = line.charCodeAt(line.length - 1);
  return last <= 32 || last >= 0x80 ? line.trimEnd() : line;
}

const printable = (s: string): boolean => {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
};

/**
 * A column's cells as bytes, padded to `width` and followed by two blanks (`width` 0: as they
 * are), by text; undefined for a cell that is not printable ASCII.
 */
function cellBytes(width: number): (s: string) => Uint8Array | undefined {
  const cells = new Map<string, Uint8Array | null>();
  return (s) => {
    let b = cells.get(s);
    if (b === undefined) {
      b = printable(s) ? new TextEncoder().encode(width ? s.padEnd(width) + "  " : s) : null;
      cells.set(s, b);
    }
    return b ?? undefined;
  };
}

/** Writes the ASCII text `s` at `p` of `buf` padded to `width`; false on any other character. */
function putPadded(buf: Uint8Array, p: number, s: string, width: number): boolean {
  const n = s.length;
  for (let k = 0; k < n; k++) {
    const c = s.charCodeAt(k);
    if (c < 0x21 || c > 0x7e) return false;
    buf[p + k] = c;
  }
  buf.fill(SP, p + n, p + width + 2);
  return true;
}

/** The lines of the rows, a block of text (lines joined by "\n") at a time. */
export function* listTable(rows: readonly ListRow[], o: ListTableOptions): Generator<string> {
  const w = widthsOf(rows, o);
  const version = cellBytes(w[1]), arch = cellBytes(w[3]);
  const compiler = cellBytes(o.all ? w[4] : 0);
  const notInCache = new TextEncoder().encode(NOT_IN_CACHE);
  const buf = new Uint8Array(BLOCK * (w[0] + w[1] + w[2] + w[3] + w[4] + 12 + NOT_IN_CACHE.length));
  const dec = new TextDecoder();
  for (let from = 0; from < rows.length; from += BLOCK) {
    const to = Math.min(rows.length, from + BLOCK);
    let p = 0;
    for (let i = from; i < to; i++) {
      const r = rows[i], start = p;
      const v = version(r.version), a = arch(r.arch ?? "-"), c = compiler(r.compiler ?? "-");
      const hash = o.long ? r.hash : r.hash.slice(0, 7);
      if (!v || !a || !c || !putPadded(buf, p, r.name, w[0])) break;
      p += w[0] + 2;
      buf.set(v, p);
      p += v.length;
      if (!putPadded(buf, p, hash, w[2])) break;
      p += w[2] + 2;
      buf.set(a, p);
      p += a.length;
      buf.set(c, p);
      p += c.length;
      if (o.all && !r.inBuildcache) buf.set(notInCache, p), p += notInCache.length;
      // The only blanks are spaces: trimmed as trimEnd trims.
      while (p > start && buf[p - 1] === SP) p--;
      buf[p++] = 0x0a;
      if (i === to - 1) {
        yield dec.decode(buf.subarray(0, p - 1));
        p = -1;
      }
    }
    // A block with other text: made as strings.
    if (p !== -1) {
      const lines: string[] = [];
      for (let i = from; i < to; i++) lines.push(lineText(rows[i], o, w));
      yield lines.join("\n");
    }
  }
}
