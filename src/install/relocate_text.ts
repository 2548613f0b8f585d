/**
 * Prefix replacement in text files and in binaries, with Spack's rules (`relocate_text.py`):
 *
 * - text: one ordered alternation over the raw bytes,
 *   `(?<![\w\-_/])([\w\-_]*?)(OLD1|OLD2|…)([\w\-_/]*)`, each match replaced by
 *   `group1 + NEW + group3`; the file may grow or shrink;
 * - binaries: `(OLD1|OLD2|…)([^\0]{0,7}\0)?` replaced in place without changing the length:
 *   left-padded with `/` when the C string keeps a long enough common suffix, else terminated
 *   early; a longer new prefix cannot be written (CannotGrowString) and a short shrink of a
 *   short-suffixed C string neither (CannotShrinkCString).
 *
 * Prefixes are compared as UTF-8 bytes.
 *
 * @module
 */
import { Buffer } from "node:buffer";

/** An ordered old -> new prefix pair list (the order decides which alternative wins). */
export type PrefixPairs = [string, string][];

const SUFFIX_SAFETY = 7;

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\\/-]/g, "\\$&");
}

/** A string holding one char per byte (what the regexes below run on). */
function bytesAsLatin1(s: string): string {
  return Buffer.from(s, "utf8").toString("latin1");
}

/** The shortest shared start worth searching for instead of each old prefix. */
const ANCHOR_MIN = 8;

/** The length of the start all of `bufs` share. */
function commonStart(bufs: Buffer[]): number {
  if (bufs.length === 0) return 0;
  let n = Math.min(...bufs.map((b) => b.byteLength));
  for (const b of bufs) {
    let i = 0;
    while (i < n && b[i] === bufs[0][i]) i++;
    n = i;
  }
  return n;
}

/** Replaces prefixes in text files as Spack's `TextFilePrefixReplacer` does. */
export class TextReplacer {
  private readonly olds: Buffer[];
  private readonly news: Buffer[];
  private readonly absolute: boolean;
  /**
   * The bytes every old prefix starts with, when there are several and they share enough of
   * a start (the old install root): one search for it finds them all.
   */
  private readonly anchor?: Buffer;
  private readonly regex: RegExp;
  private readonly map: Map<string, string>;
  /** Pairs with identical old and new are dropped, as Spack does. */
  constructor(pairs: PrefixPairs) {
    const kept = pairs.filter(([o, n]) => o !== n);
    this.olds = kept.map(([o]) => Buffer.from(o, "utf8"));
    this.news = kept.map(([, n]) => Buffer.from(n, "utf8"));
    this.absolute = kept.every(([o]) => o.startsWith("/"));
    const common = commonStart(this.olds);
    if (this.olds.length > 1 && common >= ANCHOR_MIN) {
      this.anchor = this.olds[0].subarray(0, common);
    }
    this.map = new Map(kept.map(([o, n]) => [bytesAsLatin1(o), bytesAsLatin1(n)]));
    const alts = [...this.map.keys()].map(escapeRegex).join("|");
    this.regex = new RegExp(`(?<![\\w\\-_/])([\\w\\-_]*?)(${alts})([\\w\\-_/]*)`, "g");
  }

  /** True when there is nothing to replace. */
  get isNoop(): boolean {
    return this.olds.length === 0;
  }

  /**
   * The replaced content, or undefined when nothing matched. Equivalent to the regex (see
   * {@link TextReplacer.applyRegex}) for prefixes that start with `/` (absolute paths), but
   * found with `indexOf`: a match is an occurrence of an old prefix whose run of `[\w-]`
   * characters before it is not preceded by `[\w-/]`; group 1 and group 3 are kept as they are.
   */
  apply(data: Uint8Array): Uint8Array | undefined {
    if (this.isNoop) return undefined;
    if (!this.absolute) return this.applyRegex(data);
    const parts = this.applyParts(data);
    if (!parts) return undefined;
    const out = Buffer.concat(parts);
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  }

  /**
   * Like {@link TextReplacer.apply} (for absolute prefixes), as the pieces of the new content
   * (views of `data` and the new prefixes): no copy of the file is made.
   */
  applyParts(data: Uint8Array): Uint8Array[] | undefined {
    if (this.isNoop) return undefined;
    const buf = Buffer.isBuffer(data)
      ? data
      : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const find = this.#finder(buf);
    const parts: Uint8Array[] = [];
    let copied = 0;
    let pos = 0;
    for (;;) {
      const at = find(pos);
      if (at < 0) break;
      const best = find.which;
      // Start of the [\w-] run before the prefix; the character before it must not be [\w-/].
      let p = at;
      while (p > 0 && isWordish(buf[p - 1])) p--;
      if (p < pos || (p > 0 && (isWordish(buf[p - 1]) || buf[p - 1] === 0x2f))) {
        pos = at + 1;
        continue;
      }
      let end = at + this.olds[best].byteLength;
      while (end < buf.byteLength && (isWordish(buf[end]) || buf[end] === 0x2f)) end++;
      parts.push(buf.subarray(copied, at), this.news[best]);
      copied = at + this.olds[best].byteLength;
      pos = end;
    }
    if (parts.length === 0) return undefined;
    parts.push(buf.subarray(copied));
    return parts;
  }

  /**
   * A search of `buf` for the first occurrence of an old prefix at or after a position (-1 when
   * none): the lowest position, and at one position the first old in the list (its index is
   * left in `which`). Positions asked for never go back.
   */
  #finder(buf: Buffer): ((pos: number) => number) & { which: number } {
    const olds = this.olds;
    const anchor = this.anchor;
    let find: ((pos: number) => number) & { which: number };
    if (anchor) {
      // One search for the shared start; the olds are compared where it is found.
      find = Object.assign((pos: number) => {
        for (let a = buf.indexOf(anchor, pos); a >= 0; a = buf.indexOf(anchor, a + 1)) {
          for (let i = 0; i < olds.length; i++) {
            const o = olds[i];
            if (
              a + o.byteLength <= buf.byteLength && buf.compare(
                  o,
                  anchor.byteLength,
                  o.byteLength,
                  a + anchor.byteLength,
                  a + o.byteLength,
                ) === 0
            ) {
              find.which = i;
              return a;
            }
          }
        }
        return -1;
      }, { which: -1 });
      return find;
    }
    // The next occurrence of each old, searched again only once passed.
    const next = olds.map(() => -2);
    find = Object.assign((pos: number) => {
      let at = -1;
      for (let i = 0; i < next.length; i++) {
        if (next[i] !== -1 && next[i] < pos) next[i] = buf.indexOf(olds[i], pos);
        if (next[i] >= 0 && (at < 0 || next[i] < at)) {
          at = next[i];
          find.which = i;
        }
      }
      return at;
    }, { which: -1 });
    return find;
  }

  /**
   * The pair index of a piece {@link TextReplacer.applyParts} returned for a replacement (the
   * very object it returned, one of the new prefixes), or -1 for a piece of the content.
   */
  pairOf(part: Uint8Array): number {
    return this.news.indexOf(part as Buffer);
  }

  /** True when {@link TextReplacer.applyParts} can be used (every old prefix is absolute). */
  get partsOk(): boolean {
    return this.absolute;
  }

  /** The same replacement with Spack's regex itself (slower; the reference for `apply`). */
  applyRegex(data: Uint8Array): Uint8Array | undefined {
    if (this.isNoop) return undefined;
    const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    if (!this.olds.some((o) => buf.indexOf(o) >= 0)) return undefined;
    const text = buf.toString("latin1");
    let changed = false;
    const out = text.replace(this.regex, (_m, g1: string, g2: string, g3: string) => {
      changed = true;
      return g1 + this.map.get(g2)! + g3;
    });
    if (!changed) return undefined;
    const b = Buffer.from(out, "latin1");
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  }
}

/** `[A-Za-z0-9_-]`: the characters of group 1 (`[\w\-_]` on bytes). */
function isWordish(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) ||
    c === 0x5f || c === 0x2d;
}

/** One in-place write into a binary. */
export interface BinaryPatch {
  offset: number;
  bytes: Uint8Array;
}

/** Why a prefix in a binary cannot be replaced. */
export interface BinaryStringProblem {
  kind: "grow" | "shrink";
  offset: number;
  old: string;
  new: string;
  /** The C string around the old prefix (for `shrink`). */
  cString?: string;
}

/** Replaces prefixes inside binaries as Spack's `BinaryFilePrefixReplacer` does. */
export class BinaryReplacer {
  private readonly pairs: [Buffer, Buffer][];
  /** Pairs with identical old and new are dropped, as Spack does. */
  constructor(pairs: PrefixPairs) {
    this.pairs = pairs.filter(([o, n]) => o !== n).map((
      [o, n],
    ) => [Buffer.from(o, "utf8"), Buffer.from(n, "utf8")]);
  }

  /** True when there is nothing to replace. */
  get isNoop(): boolean {
    return this.pairs.length === 0;
  }

  /**
   * The writes that relocate `data` (computed on the original content, never changing its
   * length), and the problems that prevent it. Nothing is written.
   */
  plan(data: Uint8Array): { patches: BinaryPatch[]; problems: BinaryStringProblem[] } {
    const patches: BinaryPatch[] = [];
    const problems: BinaryStringProblem[] = [];
    this.planWindow(data, 0, 0, data.byteLength, patches, problems);
    return { patches, problems };
  }

  /** Bytes a window must extend past its scanned part so that matches can be judged. */
  get overlap(): number {
    return Math.max(0, ...this.pairs.map(([o]) => o.byteLength)) + SUFFIX_SAFETY + 1;
  }

  /**
   * Plans the matches that start in `[from, limit)` (file offsets) of a window of the file
   * that starts at offset `base` (the window must hold {@link overlap} bytes past `limit`, or
   * reach the end of the file). Offsets in patches and problems are file offsets. Returns the
   * offset where the next window's scan continues.
   */
  planWindow(
    data: Uint8Array,
    base: number,
    from: number,
    limit: number,
    patches: BinaryPatch[],
    problems: BinaryStringProblem[],
  ): number {
    if (this.isNoop) return limit;
    const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    let pos = Math.max(0, from - base);
    const stop = limit - base;
    // Next occurrence of each old prefix at or after the search position.
    const next = this.pairs.map(([o]) => buf.indexOf(o, pos));
    for (;;) {
      // Leftmost match; at equal positions the first alternative wins (regex semantics).
      let best = -1;
      let at = Infinity;
      for (let i = 0; i < next.length; i++) {
        if (next[i] >= 0 && next[i] < pos) next[i] = buf.indexOf(this.pairs[i][0], pos);
        if (next[i] >= 0 && next[i] < at) {
          at = next[i];
          best = i;
        }
      }
      if (best < 0 || at >= stop) break;
      const [oldP, newP] = this.pairs[best];
      const end1 = at + oldP.byteLength;
      // ([^\0]{0,7}\0)? : the first NUL within the next 8 bytes.
      let nul = -1;
      for (let j = end1; j < Math.min(end1 + SUFFIX_SAFETY + 1, buf.byteLength); j++) {
        if (buf[j] === 0) {
          nul = j;
          break;
        }
      }
      const end = nul >= 0 ? nul + 1 : end1;
      const suffixLen = nul >= 0 ? nul - end1 : 0;
      const shorter = oldP.byteLength - newP.byteLength;
      if (shorter < 0) {
        problems.push({
          kind: "grow",
          offset: base + at,
          old: oldP.toString(),
          new: newP.toString(),
        });
      } else if (
        nul < 0 || suffixLen >= SUFFIX_SAFETY ||
        sameTail(oldP, newP, SUFFIX_SAFETY - suffixLen)
      ) {
        const bytes = new Uint8Array(oldP.byteLength);
        bytes.fill(0x2f, 0, shorter);
        bytes.set(newP, shorter);
        patches.push({ offset: base + at, bytes });
      } else if (shorter > SUFFIX_SAFETY) {
        const tail = buf.subarray(end1, end);
        const bytes = new Uint8Array(newP.byteLength + tail.byteLength);
        bytes.set(newP, 0);
        bytes.set(tail, newP.byteLength);
        patches.push({ offset: base + at, bytes });
      } else {
        problems.push({
          kind: "shrink",
          offset: base + at,
          old: oldP.toString(),
          new: newP.toString(),
          cString: buf.subarray(at, end - 1).toString("latin1"),
        });
      }
      pos = end;
    }
    return base + Math.max(pos, stop);
  }
}

/** Python's `old[-n:] == new[-n:]` for 0 < n (n > length compares whole strings). */
function sameTail(a: Uint8Array, b: Uint8Array, n: number): boolean {
  const ta = a.subarray(Math.max(0, a.byteLength - n));
  const tb = b.subarray(Math.max(0, b.byteLength - n));
  if (ta.byteLength !== tb.byteLength) return false;
  for (let i = 0; i < ta.byteLength; i++) if (ta[i] !== tb[i]) return false;
  return true;
}

/** Applies patches to a buffer in place. */
export function applyPatches(data: Uint8Array, patches: BinaryPatch[]): void {
  for (const p of patches) data.set(p.bytes, p.offset);
}
