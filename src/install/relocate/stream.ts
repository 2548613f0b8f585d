/**
 * Text relocation while a package tarball streams, so that a package is fetched and extracted
 * once whatever its buildinfo says. Spack writes the buildinfo (`.spack/binary_distribution`)
 * as the last member, so the files before it are relocated on a guess, and settled against
 * the buildinfo when the archive ends:
 *
 * - before the buildinfo, the package prefix is taken to be the directory member ending with
 *   the package's hash, and a small text file whose only absolute paths under that prefix's
 *   first component are occurrences of the prefix itself is rewritten as Spack's text
 *   relocation would rewrite it (the guess);
 * - once a buildinfo has streamed, the files it lists in `relocate_textfiles` are relocated
 *   with the real prefix map (exact);
 * - {@link StreamRelocation.settle} compares what was done with what the final buildinfo asks
 *   for; a file rewritten where it should not have been is put back as it was in the archive
 *   (each rewrite is journaled: where each new prefix was written and which old one it
 *   replaced), from the staged copy. Nothing is fetched or extracted again.
 *
 * The files whose relocation is finished are returned; the relocation after extraction
 * ({@link planRelocation}) does the rest.
 *
 * @module
 */
import {
  closeSync,
  fstatSync,
  ftruncateSync,
  openSync,
  readFileSync,
  readSync,
  writeSync,
} from "node:fs";
import { Buffer, isUtf8 } from "node:buffer";
import { join } from "node:path";
import { type PrefixPairs, TextReplacer } from "../relocate_text.ts";
import { type Buildinfo, parseBuildinfo } from "../relocate.ts";

/** Files larger than this are left to the relocation after extraction. */
export const STREAM_RELOCATE_MAX = 1 << 20;

/** Options of {@link StreamRelocation}. */
export interface StreamRelocationOptions {
  /** The package's DAG hash (its build prefix is the directory that ends with it). */
  hash: string;
  /** The package's install prefix. */
  newPrefix: string;
  /** The ordered prefix map a buildinfo gives (the one the relocation after extraction uses). */
  pairsFor: (info: Buildinfo) => PrefixPairs;
}

/**
 * Rewrites made in one mode (guess or exact): the files, and where their prefixes went (kept
 * compactly: tens of thousands of files may be rewritten).
 */
class Rewrites {
  /** Relative path -> where its journal starts in {@link Rewrites.journal}. */
  readonly files = new Map<string, number>();
  /** Per file: the count n, then n times (output offset, pair index). */
  #journal = new Int32Array(1 << 12);
  #end = 0;
  readonly olds: Buffer[];
  readonly news: Buffer[];
  readonly replacer: TextReplacer;
  constructor(readonly prefix: string, pairs: PrefixPairs) {
    const kept = pairs.filter(([o, n]) => o !== n);
    this.olds = kept.map(([o]) => Buffer.from(o, "utf8"));
    this.news = kept.map(([, n]) => Buffer.from(n, "utf8"));
    this.replacer = new TextReplacer(kept);
  }

  /** Records the pieces written for `rel`. */
  record(rel: string, parts: Uint8Array[]): void {
    const n = (parts.length - 1) / 2;
    if (this.#end + 1 + 2 * n > this.#journal.length) {
      const grown = new Int32Array(Math.max(this.#journal.length * 2, this.#end + 1 + 2 * n));
      grown.set(this.#journal.subarray(0, this.#end));
      this.#journal = grown;
    }
    const j = this.#journal;
    const start = this.#end;
    j[start] = n;
    let at = start + 1;
    let out = 0;
    const one = this.news.length === 1;
    for (let i = 0; i < parts.length; i++) {
      if (i % 2 === 1) {
        j[at++] = out;
        j[at++] = one ? 0 : this.replacer.pairOf(parts[i]);
      }
      out += parts[i].byteLength;
    }
    this.#end = at;
    this.files.set(rel, start);
  }

  /** The (output offset, pair index) list of `rel`, or undefined when it was not rewritten. */
  #entries(rel: string): Int32Array | undefined {
    const start = this.files.get(rel);
    if (start === undefined) return undefined;
    return this.#journal.subarray(start + 1, start + 1 + 2 * this.#journal[start]);
  }

  /** Puts `rel` (under `dir`) back as it was in the archive. */
  undo(dir: string, rel: string): void {
    const journal = this.#entries(rel);
    if (!journal) return;
    this.files.delete(rel);
    const fd = openSync(join(dir, rel), "r+");
    try {
      const data = new Uint8Array(fstatSync(fd).size);
      let got = 0;
      while (got < data.byteLength) {
        const n = readSync(fd, data, got, data.byteLength - got, got);
        if (n === 0) break;
        got += n;
      }
      const parts: Uint8Array[] = [];
      let at = 0;
      for (let i = 0; i < journal.length; i += 2) {
        const off = journal[i], pair = journal[i + 1];
        parts.push(data.subarray(at, off), this.olds[pair]);
        at = off + this.news[pair].byteLength;
      }
      parts.push(data.subarray(at, got));
      const out = Buffer.concat(parts);
      let w = 0;
      while (w < out.byteLength) w += writeSync(fd, out, w, out.byteLength - w, w);
      ftruncateSync(fd, out.byteLength);
    } finally {
      closeSync(fd);
    }
  }
}

/**
 * In-stream text relocation of one package (see the module): given to the extraction as its
 * member rewriter, then settled with the final buildinfo.
 */
export class StreamRelocation {
  readonly #opts: StreamRelocationOptions;
  /** Rewrites on the guess, once the prefix directory has streamed. */
  #guess?: Rewrites;
  #guessUnder = "";
  /** The package's `.spack` directory on the guess. */
  #guessMeta = "";
  #anchor = Buffer.alloc(0);
  /** Rewrites with the prefix map of the first buildinfo that streamed. */
  #exact?: Rewrites;
  #exactUnder = "";
  #listed = new Set<string>();
  /** Listed files relocated with the real map (rewritten or not). */
  #checked = new Set<string>();
  #infoSeen = false;
  /** The buildinfo that streamed, not read yet. */
  #pending?: { prefix: string; path: string };

  constructor(opts: StreamRelocationOptions) {
    this.#opts = opts;
  }

  /** Told of each directory member, in archive order. */
  directory(name: string): void {
    if (this.#guess || this.#infoSeen) return;
    const h = this.#opts.hash;
    if (!name.endsWith(`-${h}`) && !name.endsWith(`/${h}`)) return;
    const old = "/" + name;
    this.#guess = new Rewrites(name, [[old, this.#opts.newPrefix]]);
    this.#guessUnder = name + "/";
    this.#guessMeta = name + "/.spack";
    this.#anchor = Buffer.from("/" + old.split("/")[1] + "/");
  }

  /**
   * True when the content of the regular file `dir/base` (`size` bytes, being written to
   * `path`) is to be seen.
   */
  wants(dir: string, base: string, size: number, path: string): boolean {
    if (isBuildinfo(dir, base)) {
      // Read from its staged copy if a file follows it (Spack writes it last: then never).
      if (!this.#infoSeen && dir !== ".spack") {
        this.#pending = { prefix: dir.slice(0, -"/.spack".length), path };
      }
      this.#infoSeen = true;
      return false;
    }
    if (size > STREAM_RELOCATE_MAX) return false;
    this.#adoptPending();
    if (this.#exact) return this.#listed.has(relative(dir, base, this.#exactUnder) ?? "");
    if (!this.#guess || this.#infoSeen || size < 8) return false;
    const under = this.#guessUnder;
    const meta = this.#guessMeta;
    if (dir !== this.#guess.prefix && !dir.startsWith(under)) return false;
    return dir !== meta && !(dir.startsWith(meta) && dir[meta.length] === "/");
  }

  /**
   * The content to write for `dir/base` (as pieces), or undefined to write `data` as it is.
   * `data` is only valid during the call.
   */
  rewrite(dir: string, base: string, data: Uint8Array): Uint8Array[] | undefined {
    if (this.#exact) {
      const parts = this.#exact.replacer.applyParts(data);
      const rel = relative(dir, base, this.#exactUnder)!;
      this.#checked.add(rel);
      if (parts) this.#exact.record(rel, parts);
      return parts;
    }
    const g = this.#guess!;
    const r = g.replacer;
    if (r.isNoop || !r.partsOk) return undefined;
    const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    if (isBinaryMagic(buf)) return undefined;
    const parts = r.applyParts(buf);
    if (!parts) return undefined;
    if (!isUtf8(buf) && NOT_LATIN1_TEXT.test(buf.toString("latin1"))) return undefined;
    // Each replaced occurrence holds the anchor once at its start (the anchor is a path's
    // first component); any other occurrence could belong to another old prefix.
    if (count(buf, this.#anchor) !== (parts.length - 1) / 2) return undefined;
    g.record(relative(dir, base, this.#guessUnder)!, parts);
    return parts;
  }

  /** Reads the buildinfo that streamed, if one is pending. */
  #adoptPending(): void {
    const p = this.#pending;
    if (!p) return;
    this.#pending = undefined;
    try {
      const info = parseBuildinfo(readFileSync(p.path, "utf8"));
      const pairs = this.#opts.pairsFor(info);
      const exact = new Rewrites(p.prefix, pairs);
      if (exact.replacer.isNoop || !exact.replacer.partsOk) return;
      this.#exact = exact;
      this.#exactUnder = p.prefix + "/";
      this.#listed = new Set(info.relocateTextfiles);
    } catch {
      // An unreadable buildinfo is reported by the relocation after extraction.
    }
  }

  /**
   * Settles the rewrites against the package's buildinfo once the archive has ended: puts back
   * every file rewritten that the buildinfo's relocation would not have rewritten that way,
   * and returns the relative paths whose text relocation is done. `tree` is the directory the
   * members were extracted into, `memberPrefix` the package prefix found in it.
   */
  settle(
    tree: string,
    memberPrefix: string,
    info: Buildinfo,
    pairs: PrefixPairs,
  ): Set<string> {
    const done = new Set<string>();
    const exact = this.#exact;
    if (exact) {
      // The same member (a member appears once): the same buildinfo, the same map.
      if (exact.prefix === memberPrefix) { for (const rel of this.#checked) done.add(rel); }
      else for (const rel of [...exact.files.keys()]) exact.undo(join(tree, exact.prefix), rel);
    }
    const g = this.#guess;
    if (g && g.files.size) {
      const holds = g.prefix === memberPrefix &&
        info.hashToPrefix.get(this.#opts.hash) === "/" + g.prefix &&
        guessHolds("/" + g.prefix, this.#opts.newPrefix, this.#anchor.toString(), pairs);
      const listed = new Set(info.relocateTextfiles);
      for (const rel of [...g.files.keys()]) {
        if (holds && listed.has(rel)) done.add(rel);
        else g.undo(join(tree, g.prefix), rel);
      }
    }
    return done;
  }

  /** Files rewritten so far (guessed and exact). */
  get rewritten(): number {
    return (this.#guess?.files.size ?? 0) + (this.#exact?.files.size ?? 0);
  }
}

/**
 * True when relocating the guessed prefix alone is what Spack's relocation with the real map
 * does to a file that holds the anchor only inside occurrences of that prefix: the guess is
 * the package's build prefix (checked by the caller) and maps to the same new prefix, no earlier map entry can match
 * where it matches, and every old prefix starts with the anchor.
 */
function guessHolds(
  oldPrefix: string,
  newPrefix: string,
  anchor: string,
  pairs: PrefixPairs,
): boolean {
  const i = pairs.findIndex(([o]) => o === oldPrefix);
  if (i < 0 || pairs[i][1] !== newPrefix) return false;
  for (let j = 0; j < i; j++) {
    const k = pairs[j][0];
    if (k.startsWith(oldPrefix) || oldPrefix.startsWith(k)) return false;
  }
  return pairs.every(([o]) => o.startsWith(anchor));
}

function isBuildinfo(dir: string, base: string): boolean {
  return base === "binary_distribution" && (dir === ".spack" || dir.endsWith("/.spack"));
}

/** `dir/base` relative to `under` (which ends with `/`), or undefined outside of it. */
function relative(dir: string, base: string, under: string): string | undefined {
  if (dir.length === under.length - 1 && under.startsWith(dir)) return base;
  if (!dir.startsWith(under)) return undefined;
  // Built from pieces (a slice of the full name would hold on to it).
  return `${dir.slice(under.length)}/${base}`;
}

// deno-lint-ignore no-control-regex
const NOT_LATIN1_TEXT = /[\x00\x7f-\x9f]/;

function count(buf: Buffer, needle: Buffer): number {
  let n = 0;
  for (let i = buf.indexOf(needle); i >= 0; i = buf.indexOf(needle, i + needle.byteLength)) n++;
  return n;
}

/** ELF or Mach-O magic in the first 8 bytes (what Spack lists as binaries). */
function isBinaryMagic(b: Uint8Array): boolean {
  const m = (b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3]) >>> 0;
  if (m === 0x7f454c46) return true;
  if ([0xcffaedfe, 0xfeedfacf, 0xcefaedfe, 0xfeedface].includes(m)) return true;
  if (m === 0xcafebabe || m === 0xbebafeca) {
    const n = m === 0xcafebabe
      ? (b[4] << 24 | b[5] << 16 | b[6] << 8 | b[7]) >>> 0
      : (b[7] << 24 | b[6] << 16 | b[5] << 8 | b[4]) >>> 0;
    return n < 10;
  }
  return false;
}
