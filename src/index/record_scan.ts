/**
 * Reading the few fields a light index record needs (name, version, arch, compiler, the
 * compiler provider's hash, external, in_buildcache, installation_time) straight from a
 * record's bytes, validating its JSON as `JSON.parse` would but building nothing else. Strings
 * are skipped a byte at a time, the nested values nobody reads are only checked. A record of
 * an unusual shape (escaped keys, repeated keys that matter, values of another type than
 * Spack writes) is left to `JSON.parse`: the reader says so with `BAIL`. The WebAssembly
 * scanner (`wasm/index_scan.c`) reads plain records by the same rules; `entry` turns what it
 * found into the same fields.
 *
 * @module
 */
import { InvalidDataError } from "../errors.ts";
import { E, F } from "./wasm_scan.ts";

const Q = 0x22, BS = 0x5c, LB = 0x7b, RB = 0x7d, LS = 0x5b, RS = 0x5d, COMMA = 0x2c, COLON = 0x3a;

/** Thrown when the bytes known end before what is read (and more may come). */
export class NeedMore {}
/** The one `NeedMore` thrown. */
export const NEED_MORE = new NeedMore();
/** Thrown when a record is valid JSON of a shape the fast path leaves to `JSON.parse`. */
export class Bail {}
/** The one `Bail` thrown. */
export const BAIL = new Bail();

/** The fields of a record `list` needs (one object, refilled for every record). */
export interface RecordFields {
  /** The spec's name ("" when absent). */
  name: string;
  /** The spec's version ("" when absent). */
  version: string;
  /** The arch parts, when the spec has an arch object. */
  platform?: string;
  platformOs?: string;
  target?: string;
  /** The spec's own compiler (`compiler` attribute or `annotations.compiler`), when it has one. */
  compiler?: string;
  /** The hash of the `c`, else `cxx`, else `fortran` provider among the dependencies. */
  provider?: string;
  /** True when the spec is external. */
  external: boolean;
  /** True when `in_buildcache` is `true`. */
  inBuildcache: boolean;
  /** The record's `installation_time`, when a number. */
  installedAt?: number;
  /**
   * True when the name, the hash (the record's key) and the version are known to pass
   * `checkNodeIdentity` (the WebAssembly scanner checks them); else they are to be checked.
   */
  checked?: boolean;
}

/**
 * What the reader remembers of one WebAssembly scanner instance's numbers (arch objects and
 * strings): each instance numbers its own.
 */
export class ScannerNumbers {
  /** Arch parts by arch number. */
  readonly archs = new Map<number, [string, string, string]>();
  /** By a string number's slot (its low 8 bits): the number last seen there, and its text. */
  readonly ids = new Uint32Array(256);
  readonly texts: string[] = new Array(256).fill("");
}

/** What the reader uses of Node's `Buffer` class, where the runtime has one. */
interface NodeBufferClass {
  prototype: { latin1Slice?: unknown };
  from(
    b: ArrayBufferLike,
    offset: number,
    length: number,
  ): { latin1Slice(s: number, e: number): string };
}

const isWs = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
const isHex = (c: number) =>
  (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);

/** Key codes: the keys the reader looks at, by their bytes. */
const enum K {
  Other,
  Spec,
  InBuildcache,
  InstallationTime,
  Name,
  Version,
  Arch,
  External,
  Compiler,
  Annotations,
  Dependencies,
  Platform,
  PlatformOs,
  Target,
  Hash,
  Parameters,
  Virtuals,
}
const KEYS: [string, K][] = [
  ["spec", K.Spec],
  ["in_buildcache", K.InBuildcache],
  ["installation_time", K.InstallationTime],
  ["name", K.Name],
  ["version", K.Version],
  ["arch", K.Arch],
  ["external", K.External],
  ["compiler", K.Compiler],
  ["annotations", K.Annotations],
  ["dependencies", K.Dependencies],
  ["platform", K.Platform],
  ["platform_os", K.PlatformOs],
  ["target", K.Target],
  ["hash", K.Hash],
  ["parameters", K.Parameters],
  ["virtuals", K.Virtuals],
];
/** Keys by length, as bytes. */
const KEYS_BY_LEN: [Uint8Array, K][][] = [];
for (const [k, code] of KEYS) {
  const bytes = new TextEncoder().encode(k);
  (KEYS_BY_LEN[bytes.length] ??= []).push([bytes, code]);
}

/** A previously read arch object: its bytes and parts. */
interface ArchSeen {
  bytes: Uint8Array;
  platform: string;
  platformOs: string;
  target: string;
}

/** True when the last string `fastString` read is ASCII. */
let fastAscii = true;

/**
 * Index past the string whose quote is at i when it has no escape, no control character and
 * ends before n (`fastAscii` tells whether it is ASCII); else -1 (read it by small steps).
 */
function fastString(b: Uint8Array, i: number, n: number): number {
  let high = 0;
  for (let k = i + 1; k < n; k++) {
    const c = b[k];
    if (c === Q) {
      fastAscii = high < 0x80;
      return k + 1;
    }
    if (c < 0x20 || c === BS) return -1;
    high |= c;
  }
  return -1;
}

/** Index past the number at i (JSON's grammar), or -1 when it is not one or may go on. */
function fastNumber(b: Uint8Array, i: number, n: number): number {
  let k = i;
  if (b[k] === 0x2d) k++;
  if (k >= n) return -1;
  let c = b[k];
  if (c === 0x30) c = b[++k];
  else if (c >= 0x31 && c <= 0x39) {
    do c = b[++k]; while (k < n && c >= 0x30 && c <= 0x39);
  } else return -1;
  if (k < n && c === 0x2e) {
    const s = ++k;
    while (k < n && b[k] >= 0x30 && b[k] <= 0x39) k++;
    if (k === s) return -1;
    c = b[k];
  }
  if (k < n && (c === 0x65 || c === 0x45)) {
    k++;
    if (k < n && (b[k] === 0x2b || b[k] === 0x2d)) k++;
    const s = k;
    while (k < n && b[k] >= 0x30 && b[k] <= 0x39) k++;
    if (k === s) return -1;
  }
  return k < n ? k : -1;
}

/** Index past a key (string, colon, blanks) at i: where its value starts; -1 on anything else. */
function fastKey(b: Uint8Array, i: number, n: number): number {
  if (i >= n || b[i] !== Q) return -1;
  i = fastString(b, i, n);
  if (i < 0) return -1;
  while (i < n && isWs(b[i])) i++;
  if (i >= n || b[i] !== COLON) return -1;
  i++;
  while (i < n && isWs(b[i])) i++;
  return i;
}

/** Open containers of `fastValue` (1 for an object), reused. */
let fastStack = new Uint8Array(256);

/**
 * Index past the JSON value at i, checked whole, when nothing in it needs a closer look (no
 * escape, everything before n); else -1 (read it by small steps for the error, if any).
 */
function fastValue(b: Uint8Array, i: number, n: number): number {
  let depth = 0;
  for (;;) {
    while (i < n && isWs(b[i])) i++;
    if (i >= n) return -1;
    const c = b[i];
    if (c === Q) {
      i = fastString(b, i, n);
      if (i < 0) return -1;
    } else if (c === LB || c === LS) {
      i++;
      while (i < n && isWs(b[i])) i++;
      if (i >= n) return -1;
      if (b[i] === (c === LB ? RB : RS)) i++;
      else {
        if (depth === fastStack.length) {
          const grown = new Uint8Array(2 * depth);
          grown.set(fastStack);
          fastStack = grown;
        }
        fastStack[depth++] = c === LB ? 1 : 0;
        if (c === LB && (i = fastKey(b, i, n)) < 0) return -1;
        continue;
      }
    } else if (c === 0x74) {
      if (i + 4 > n || b[i + 1] !== 0x72 || b[i + 2] !== 0x75 || b[i + 3] !== 0x65) return -1;
      i += 4;
    } else if (c === 0x66) {
      if (
        i + 5 > n || b[i + 1] !== 0x61 || b[i + 2] !== 0x6c || b[i + 3] !== 0x73 ||
        b[i + 4] !== 0x65
      ) return -1;
      i += 5;
    } else if (c === 0x6e) {
      if (i + 4 > n || b[i + 1] !== 0x75 || b[i + 2] !== 0x6c || b[i + 3] !== 0x6c) return -1;
      i += 4;
    } else if ((i = fastNumber(b, i, n)) < 0) return -1;
    // After a value: the end, a comma, or closing brackets.
    for (;;) {
      if (depth === 0) return i;
      while (i < n && isWs(b[i])) i++;
      if (i >= n) return -1;
      const d = b[i];
      const obj = fastStack[depth - 1] === 1;
      if (d === COMMA) {
        i++;
        while (i < n && isWs(b[i])) i++;
        if (obj && (i = fastKey(b, i, n)) < 0) return -1;
        break;
      }
      if (d !== (obj ? RB : RS)) return -1;
      depth--;
      i++;
    }
  }
}

/**
 * A validating reader over `b`, of which `n` bytes are known; with `final` false, reaching the
 * end of them throws `NEED_MORE`. `base` is the absolute offset of `b[0]` (errors name it).
 */
export class RecordReader {
  b: Uint8Array = new Uint8Array(0);
  n = 0;
  final = false;
  base = 0;
  /** True when the last string read is ASCII without escapes. */
  plain = true;
  readonly f: RecordFields = { name: "", version: "", external: false, inBuildcache: false };
  readonly #dec = new TextDecoder();
  /** Arch objects seen lately (most records share a few). */
  #arches: ArchSeen[] = [];

  constructor(readonly label: string) {}

  /** Points the reader at new bytes. */
  reset(b: Uint8Array, n: number, final: boolean, base: number): void {
    this.b = b;
    this.n = n;
    this.final = final;
    this.base = base;
    this.#latin1 = undefined;
  }

  /** The bytes as a Node `Buffer`, whose latin1 decoding is the fastest; null without one. */
  #latin1: { latin1Slice(s: number, e: number): string } | null | undefined;

  /** The text of the ASCII bytes [s, e) (a string token's inside, as the scanners checked). */
  asciiText(s: number, e: number): string {
    let l = this.#latin1;
    if (l === undefined) {
      const B = (globalThis as unknown as { Buffer?: NodeBufferClass }).Buffer;
      const b = this.b;
      l = this.#latin1 = typeof B?.prototype?.latin1Slice === "function"
        ? B.from(b.buffer, b.byteOffset, b.byteLength)
        : null;
    }
    return l ? l.latin1Slice(s, e) : this.#dec.decode(this.b.subarray(s, e));
  }

  fail(i: number, what: string): never {
    if (i >= this.n && !this.final) throw NEED_MORE;
    const got = i >= this.n ? "the end" : JSON.stringify(String.fromCharCode(this.b[i]));
    throw new InvalidDataError(
      `Cannot parse ${this.label}: expected ${what} at byte ${this.base + i}, found ${got}`,
    );
  }

  ws(i: number): number {
    const { b, n } = this;
    while (i < n && isWs(b[i])) i++;
    return i;
  }

  /** Index past the string whose quote is at i, checked (control characters, escapes). */
  str(i: number): number {
    const e = fastString(this.b, i, this.n);
    if (e < 0) return this.#slowString(i);
    this.plain = fastAscii;
    return e;
  }

  #slowString(i: number): number {
    const { b, n } = this;
    let plain = true;
    for (let k = i + 1; k < n; k++) {
      const c = b[k];
      if (c === Q) {
        this.plain = plain;
        return k + 1;
      }
      if (c < 0x20) this.fail(k, "a character allowed in a string");
      if (c >= 0x80) plain = false;
      else if (c === BS) {
        plain = false;
        const e = b[++k];
        if (k >= n) break;
        if (e === 0x75) {
          if (k + 4 >= n) break;
          for (let h = 1; h <= 4; h++) if (!isHex(b[k + h])) this.fail(k + h, "a hex digit");
          k += 4;
        } else if (
          e !== Q && e !== BS && e !== 0x2f && e !== 0x62 && e !== 0x66 && e !== 0x6e &&
          e !== 0x72 && e !== 0x74
        ) this.fail(k, "an escape character");
      }
    }
    return this.fail(n, "the end of a string");
  }

  /** The text of the string token [s, e) (quotes included) read by `str`. */
  text(s: number, e: number): string {
    if (this.plain) return this.#dec.decode(this.b.subarray(s + 1, e - 1));
    return JSON.parse(this.#dec.decode(this.b.subarray(s, e)));
  }

  /** Index past the number at i, checked as JSON's grammar has it. */
  num(i: number): number {
    const { b, n } = this;
    let k = i;
    if (b[k] === 0x2d) k++;
    if (k >= n) this.fail(k, "a digit");
    if (b[k] === 0x30) k++;
    else if (isDigit(b[k])) { while (k < n && isDigit(b[k])) k++; }
    else this.fail(k, "a digit");
    if (k < n && b[k] === 0x2e) {
      const s = ++k;
      while (k < n && isDigit(b[k])) k++;
      if (k === s) this.fail(k, "a digit");
    }
    if (k < n && (b[k] === 0x65 || b[k] === 0x45)) {
      k++;
      if (k < n && (b[k] === 0x2b || b[k] === 0x2d)) k++;
      const s = k;
      while (k < n && isDigit(b[k])) k++;
      if (k === s) this.fail(k, "a digit");
    }
    // A number cut by the end of the known bytes may go on.
    if (k >= n && !this.final) throw NEED_MORE;
    return k;
  }

  /** Index past the literal `word` (bytes) at i. */
  lit(i: number, word: string): number {
    const { b, n } = this;
    for (let k = 0; k < word.length; k++) {
      if (i + k >= n || b[i + k] !== word.charCodeAt(k)) this.fail(i + k, JSON.stringify(word));
    }
    return i + word.length;
  }

  /** Index past the JSON value at i, checked whole (containers without recursion). */
  value(i: number): number {
    const e = fastValue(this.b, i, this.n);
    return e >= 0 ? e : this.#slowValue(i);
  }

  /** `value` by small steps, with the errors (or `NEED_MORE`) that name what is wrong. */
  #slowValue(i: number): number {
    const { b, n } = this;
    // Open containers: true for an object.
    const stack: boolean[] = [];
    for (;;) {
      // A value at i.
      if (i >= n) this.fail(i, "a value");
      const c = b[i];
      if (c === Q) i = this.str(i);
      else if (c === LB) {
        i = this.ws(i + 1);
        if (i < n && b[i] === RB) i++;
        else {
          stack.push(true);
          i = this.#key(i);
          continue;
        }
      } else if (c === LS) {
        i = this.ws(i + 1);
        if (i < n && b[i] === RS) i++;
        else {
          stack.push(false);
          continue;
        }
      } else if (c === 0x74) i = this.lit(i, "true");
      else if (c === 0x66) i = this.lit(i, "false");
      else if (c === 0x6e) i = this.lit(i, "null");
      else if (c === 0x2d || isDigit(c)) i = this.num(i);
      else this.fail(i, "a value");
      // After a value: the end, a comma, or closing brackets.
      for (;;) {
        if (!stack.length) return i;
        i = this.ws(i);
        if (i >= n) this.fail(i, '"," or a closing bracket');
        const d = b[i];
        const obj = stack[stack.length - 1];
        if (d === COMMA) {
          i = this.ws(i + 1);
          if (obj) i = this.#key(i);
          break;
        }
        if (d === (obj ? RB : RS)) {
          stack.pop();
          i++;
          continue;
        }
        this.fail(i, obj ? '"," or "}"' : '"," or "]"');
      }
    }
  }

  /** Past a member's key and colon at i: where its value starts. */
  #key(i: number): number {
    if (i >= this.n || this.b[i] !== Q) this.fail(i, "a key string");
    i = this.ws(this.str(i));
    if (i >= this.n || this.b[i] !== COLON) this.fail(i, '":"');
    return this.ws(i + 1);
  }

  /** Past the `}` of the last object closed by `#after` or `#first`. */
  #close = 0;
  /** Where the value of the last key read by `#keyAt` starts. */
  #v = 0;

  /** The first key of the object at i (`{`), or -1 when it is empty (`#close` past it). */
  #first(i: number): number {
    i = this.ws(i + 1);
    if (i < this.n && this.b[i] === RB) {
      this.#close = i + 1;
      return -1;
    }
    return i;
  }

  /** The next key after a member's value ending at e, or -1 at the object's end (`#close`). */
  #after(e: number): number {
    const b = this.b;
    let i = this.ws(e);
    if (i >= this.n) this.fail(i, '"," or "}"');
    if (b[i] === COMMA) {
      i = this.ws(i + 1);
      return i;
    }
    if (b[i] === RB) {
      this.#close = i + 1;
      return -1;
    }
    return this.fail(i, '"," or "}"');
  }

  /** The code of the key at i; `#v` is where its value starts. An escaped key bails out. */
  #keyAt(i: number): K {
    const b = this.b;
    if (i >= this.n || b[i] !== Q) this.fail(i, "a key string");
    const ke = this.str(i);
    if (!this.plain) throw BAIL;
    const key = this.#keyCode(i + 1, ke - 1);
    let v = this.ws(ke);
    if (v >= this.n || b[v] !== COLON) this.fail(v, '":"');
    v = this.ws(v + 1);
    this.#v = v;
    return key;
  }

  #keyCode(s: number, e: number): K {
    const cands = KEYS_BY_LEN[e - s];
    if (!cands) return K.Other;
    const b = this.b;
    for (const [bytes, code] of cands) {
      let k = 0;
      while (k < bytes.length && b[s + k] === bytes[k]) k++;
      if (k === bytes.length) return code;
    }
    return K.Other;
  }

  /** Strings read lately, by a hash of their bytes (values repeat: versions, hashes). */
  #seen = new Map<number, string>();

  /** The text of the string token [s, e) read by `str`, the same string for the same bytes. */
  #cached(s: number, e: number): string {
    return this.plain && e - s <= 66 ? this.ascii(s, e) : this.text(s, e);
  }

  /** The text of the ASCII string token [s, e) (no escapes), the same string for the same bytes. */
  ascii(s: number, e: number): string {
    const b = this.b;
    let h = 0x811c9dc5;
    for (let k = s + 1; k < e - 1; k++) h = Math.imul(h ^ b[k], 0x01000193);
    const have = this.#seen.get(h);
    if (have !== undefined && have.length === e - s - 2) {
      let k = 0;
      while (k < have.length && have.charCodeAt(k) === b[s + 1 + k]) k++;
      if (k === have.length) return have;
    }
    const t = this.#dec.decode(b.subarray(s + 1, e - 1));
    if (this.#seen.size >= 4096) this.#seen.clear();
    this.#seen.set(h, t);
    return t;
  }

  /** The ASCII string token at entry word `w` of `t` (offsets + `s`), or undefined. */
  #span(t: Uint32Array, w: number, s: number, cache: boolean): string | undefined {
    const a = t[w], e = t[w + 1];
    if (a === e) return undefined;
    return cache ? this.ascii(a + s, e + s) : this.asciiText(a + s + 1, e + s - 1);
  }

  readonly #numbers = new ScannerNumbers();

  /** The string token at entry word `w` of `t` (offsets + `s`) whose number is at `idw`. */
  #numbered(t: Uint32Array, w: number, idw: number, s: number, c: ScannerNumbers) {
    const a = t[w], e = t[w + 1];
    if (a === e) return undefined;
    const id = t[idw];
    if (!id) return this.ascii(a + s, e + s);
    const slot = id & 255;
    if (c.ids[slot] === id) return c.texts[slot];
    const text = this.#dec.decode(this.b.subarray(a + s + 1, e + s - 1));
    c.ids[slot] = id;
    c.texts[slot] = text;
    return text;
  }

  /**
   * Fills `f` from the entry at `o` of the WebAssembly scanner's table (offsets + `s`);
   * `numbers` are the reader's memory of that scanner instance's numbers.
   */
  entry(t: Uint32Array, o: number, s: number, numbers = this.#numbers): void {
    const f = this.f;
    const flags = t[o + E.FLAGS];
    const archs = numbers.archs;
    f.name = this.#span(t, o + E.NAME, s, false) ?? "";
    f.version = this.#numbered(t, o + E.VERSION, o + E.VERSION_ID, s, numbers) ?? "";
    f.checked = (flags & F.CHECKED) !== 0;
    if (flags & F.ARCH) {
      // The scanner numbers the arch objects it has seen: each one's parts decoded once.
      const id = t[o + E.ARCH_ID];
      let parts = id ? archs.get(id) : undefined;
      if (!parts) {
        parts = [
          this.#span(t, o + E.PLATFORM, s, true) ?? "",
          this.#span(t, o + E.OS, s, true) ?? "",
          this.#span(t, o + E.TARGET, s, true) ?? "",
        ];
        if (id) archs.set(id, parts);
      }
      f.platform = parts[0];
      f.platformOs = parts[1];
      f.target = parts[2];
    } else f.platform = f.platformOs = f.target = undefined;
    if (flags & F.COMPILER) {
      const name = this.#numbered(t, o + E.CNAME, o + E.CNAME_ID, s, numbers)!;
      const version = this.#numbered(t, o + E.CVERSION, o + E.CVERSION_ID, s, numbers) ?? "";
      f.compiler = `${name}@${version.replace(/^=/, "")}`;
    } else {
      const annotated = this.#numbered(t, o + E.ANNOT, o + E.ANNOT_ID, s, numbers);
      const m = annotated === undefined ? null : /^([^@]+)@=?(.+)$/.exec(annotated);
      f.compiler = m ? `${m[1]}@${m[2]}` : undefined;
    }
    f.provider = flags & F.PROVIDER
      ? this.#numbered(t, o + E.PROVIDER, o + E.PROVIDER_ID, s, numbers) ?? ""
      : undefined;
    f.external = (flags & F.EXTERNAL) !== 0;
    f.inBuildcache = (flags & F.IN_BUILDCACHE) !== 0;
    f.installedAt = undefined;
    if (flags & F.TIME) {
      const v = Number(this.#dec.decode(this.b.subarray(t[o + E.TIME] + s, t[o + E.TIME + 1] + s)));
      if (Number.isFinite(v)) f.installedAt = v;
    }
  }

  /** The string value at i (bails out on another type); `#end` is past it. */
  #stringAt(i: number, cache: boolean): string {
    if (i >= this.n || this.b[i] !== Q) {
      this.value(i);
      throw BAIL;
    }
    const e = this.str(i);
    this.#end = e;
    return cache ? this.#cached(i, e) : this.text(i, e);
  }
  #end = 0;

  /**
   * Reads the record object at i (`{`) into `f`; returns the index past it. Throws `BAIL` for
   * a shape left to `JSON.parse`, `NEED_MORE` when the bytes end first.
   */
  record(i: number): number {
    const f = this.f;
    const b = this.b;
    f.name = f.version = "";
    f.platform =
      f.platformOs =
      f.target =
      f.compiler =
      f.provider =
        undefined;
    f.external = f.inBuildcache = false;
    f.installedAt = undefined;
    f.checked = false;
    let seen = 0;
    for (let k = this.#first(i); k >= 0;) {
      const key = this.#keyAt(k);
      const at = this.#v;
      let e: number;
      if (key !== K.Spec && key !== K.InBuildcache && key !== K.InstallationTime) {
        e = this.value(at);
      } else {
        if (seen & (1 << key)) throw BAIL;
        seen |= 1 << key;
        if (key === K.Spec) {
          if (b[at] !== LB) throw BAIL;
          e = this.#spec(at);
        } else {
          e = this.value(at);
          if (key === K.InBuildcache) f.inBuildcache = b[at] === 0x74;
          else if (b[at] === 0x2d || isDigit(b[at])) {
            const t = Number(this.#dec.decode(b.subarray(at, e)));
            if (Number.isFinite(t)) f.installedAt = t;
          }
        }
      }
      k = this.#after(e);
    }
    if (!(seen & (1 << K.Spec))) throw BAIL;
    return this.#close;
  }

  #spec(i: number): number {
    const f = this.f;
    const b = this.b;
    let seen = 0;
    let own: string | undefined;
    let annotated: string | undefined;
    for (let k = this.#first(i); k >= 0;) {
      const key = this.#keyAt(k);
      const at = this.#v;
      let e: number;
      if (key === K.Other || key === K.Hash) e = this.value(at);
      else {
        if (seen & (1 << key)) throw BAIL;
        seen |= 1 << key;
        switch (key) {
          case K.Name:
            f.name = this.#stringAt(at, false);
            e = this.#end;
            break;
          case K.Version:
            f.version = this.#stringAt(at, true);
            e = this.#end;
            break;
          case K.Arch:
            e = this.#arch(at);
            break;
          case K.External: {
            e = this.value(at);
            const c = b[at];
            f.external = c === LB || c === LS || c === 0x74 ||
              (c === Q
                ? e - at > 2
                : c !== 0x66 && c !== 0x6e && Number(this.#dec.decode(b.subarray(at, e))) !== 0);
            break;
          }
          case K.Compiler:
            e = this.#compiler(at);
            own = this.#own;
            break;
          case K.Annotations:
            e = this.#annotations(at);
            annotated = this.#own;
            break;
          case K.Dependencies:
            e = b[at] === LS ? this.#deps(at) : this.value(at);
            break;
          default:
            e = this.value(at);
        }
      }
      k = this.#after(e);
    }
    f.compiler = own ?? annotated;
    return this.#close;
  }

  /** The compiler read by `#compiler` or `#annotations`. */
  #own: string | undefined;

  /** The `compiler` object at i: `#own` is its `name@version`, when it has a name. */
  #compiler(i: number): number {
    if (this.b[i] !== LB) throw BAIL;
    let name: string | undefined, version = "";
    let seen = 0;
    for (let k = this.#first(i); k >= 0;) {
      const key = this.#keyAt(k);
      const at = this.#v;
      let e: number;
      if (key === K.Name || key === K.Version) {
        if (seen & (1 << key)) throw BAIL;
        seen |= 1 << key;
        if (key === K.Name) name = this.#stringAt(at, true);
        else version = this.#stringAt(at, true);
        e = this.#end;
      } else e = this.value(at);
      k = this.#after(e);
    }
    this.#own = name === undefined ? undefined : `${name}@${version.replace(/^=/, "")}`;
    return this.#close;
  }

  /** The `annotations` object at i: `#own` is the compiler it names, if any. */
  #annotations(i: number): number {
    if (this.b[i] !== LB) throw BAIL;
    let own: string | undefined;
    let seen = false;
    for (let k = this.#first(i); k >= 0;) {
      const key = this.#keyAt(k);
      const at = this.#v;
      let e: number;
      if (key === K.Compiler) {
        if (seen) throw BAIL;
        seen = true;
        if (this.b[at] === Q) {
          const m = /^([^@]+)@=?(.+)$/.exec(this.#stringAt(at, true));
          if (m) own = `${m[1]}@${m[2]}`;
          e = this.#end;
        } else e = this.value(at);
      } else e = this.value(at);
      k = this.#after(e);
    }
    this.#own = own;
    return this.#close;
  }

  #arch(i: number): number {
    const b = this.b, f = this.f;
    if (b[i] !== LB) throw BAIL;
    // The same bytes as an arch read before are the same arch.
    for (const a of this.#arches) {
      const len = a.bytes.length;
      if (i + len > this.n) continue;
      let k = 0;
      while (k < len && b[i + k] === a.bytes[k]) k++;
      if (k === len) {
        f.platform = a.platform;
        f.platformOs = a.platformOs;
        f.target = a.target;
        return i + len;
      }
    }
    let platform = "", platformOs = "", target = "";
    let seen = 0;
    for (let k = this.#first(i); k >= 0;) {
      const key = this.#keyAt(k);
      const at = this.#v;
      let e: number;
      if (key !== K.Platform && key !== K.PlatformOs && key !== K.Target) e = this.value(at);
      else {
        if (seen & (1 << key)) throw BAIL;
        seen |= 1 << key;
        if (key === K.Platform) platform = this.#stringAt(at, true);
        else if (key === K.PlatformOs) platformOs = this.#stringAt(at, true);
        else if (b[at] === Q) target = this.#stringAt(at, true);
        else if (b[at] === LB) target = this.#targetName(at);
        else throw BAIL;
        e = this.#end;
      }
      k = this.#after(e);
    }
    const end = this.#close;
    f.platform = platform;
    f.platformOs = platformOs;
    f.target = target;
    if (end - i <= 4096) {
      if (this.#arches.length >= 8) this.#arches.pop();
      this.#arches.unshift({
        bytes: new Uint8Array(b.subarray(i, end)),
        platform,
        platformOs,
        target,
      });
    }
    return end;
  }

  /** The `name` of the target object at i ("" without one); `#end` is past the object. */
  #targetName(i: number): string {
    let name = "";
    let seen = false;
    for (let k = this.#first(i); k >= 0;) {
      const key = this.#keyAt(k);
      const at = this.#v;
      let e: number;
      if (key === K.Name) {
        if (seen) throw BAIL;
        seen = true;
        name = this.#stringAt(at, true);
        e = this.#end;
      } else e = this.value(at);
      k = this.#after(e);
    }
    this.#end = this.#close;
    return name;
  }

  /** The dependency list at i (`[`): the first `c`, else `cxx`, else `fortran` provider. */
  #deps(i: number): number {
    const b = this.b;
    let c: string | undefined, cxx: string | undefined, fortran: string | undefined;
    i = this.ws(i + 1);
    if (i < this.n && b[i] === RS) return i + 1;
    for (;;) {
      if (i < this.n && b[i] === LB) {
        i = this.#dep(i);
        const langs = this.#langs;
        if (langs) {
          if (langs & 1) c ??= this.#depHash;
          if (langs & 2) cxx ??= this.#depHash;
          if (langs & 4) fortran ??= this.#depHash;
        }
      } else i = this.value(i);
      i = this.ws(i);
      if (i >= this.n) this.fail(i, '"," or "]"');
      if (b[i] === RS) break;
      if (b[i] !== COMMA) this.fail(i, '"," or "]"');
      i = this.ws(i + 1);
    }
    this.f.provider = c ?? cxx ?? fortran;
    return i + 1;
  }

  /** What `#dep` read: the languages the dependency provides, and its hash when it does. */
  #langs = 0;
  #depHash = "";

  /** One dependency object at i; returns the index past it. */
  #dep(i: number): number {
    const b = this.b;
    let seen = 0;
    let hs = -1, he = -1;
    this.#langs = 0;
    for (let k = this.#first(i); k >= 0;) {
      const key = this.#keyAt(k);
      const at = this.#v;
      let e: number;
      if (key !== K.Hash && key !== K.Parameters) e = this.value(at);
      else {
        if (seen & (1 << key)) throw BAIL;
        seen |= 1 << key;
        if (key === K.Hash) {
          if (b[at] !== Q) {
            this.value(at);
            throw BAIL;
          }
          e = this.str(at);
          if (!this.plain) throw BAIL;
          hs = at;
          he = e;
        } else e = b[at] === LB ? this.#parameters(at) : this.value(at);
      }
      k = this.#after(e);
    }
    const end = this.#close;
    if (this.#langs) this.#depHash = hs < 0 ? "" : (this.plain = true, this.#cached(hs, he));
    return end;
  }

  /** The parameters object at i: `#langs` from its `virtuals`. */
  #parameters(i: number): number {
    const b = this.b;
    let seen = false;
    for (let k = this.#first(i); k >= 0;) {
      const key = this.#keyAt(k);
      const at = this.#v;
      let e: number;
      if (key === K.Virtuals) {
        if (seen) throw BAIL;
        seen = true;
        e = b[at] === LS ? this.#virtuals(at) : this.value(at);
      } else e = this.value(at);
      k = this.#after(e);
    }
    return this.#close;
  }

  /** The virtuals list at i (`[`): `#langs` bit 1 for `c`, 2 for `cxx`, 4 for `fortran`. */
  #virtuals(i: number): number {
    const b = this.b;
    i = this.ws(i + 1);
    if (i < this.n && b[i] === RS) return i + 1;
    for (;;) {
      if (i < this.n && b[i] === Q) {
        const e = this.str(i);
        const len = e - i - 2;
        if (!this.plain) {
          const t = this.text(i, e);
          this.#langs |= t === "c" ? 1 : t === "cxx" ? 2 : t === "fortran" ? 4 : 0;
        } else if (len === 1 && b[i + 1] === 0x63) this.#langs |= 1;
        else if (len === 3 && b[i + 1] === 0x63 && b[i + 2] === 0x78 && b[i + 3] === 0x78) {
          this.#langs |= 2;
        } else if (len === 7 && this.#dec.decode(b.subarray(i + 1, e - 1)) === "fortran") {
          this.#langs |= 4;
        }
        i = e;
      } else i = this.value(i);
      i = this.ws(i);
      if (i >= this.n) this.fail(i, '"," or "]"');
      if (b[i] === RS) return i + 1;
      if (b[i] !== COMMA) this.fail(i, '"," or "]"');
      i = this.ws(i + 1);
    }
  }
}
