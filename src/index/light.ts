/**
 * The fields of a listing (name, version, arch, compiler provider, `in_buildcache`) read from
 * a batch of index records by their bytes, without `JSON.parse`: a record written in the
 * compact layout Spack and spackle write (`"<hash>":{"spec":{"name":...,"version":...,"arch":
 * {"platform":...,"platform_os":...,"target":...}, ... "hash":"<hash>"},"ref_count":N,
 * "in_buildcache":B}`) is read at fixed places; its other bytes are skipped by native searches
 * (`"},"ref_count":` cannot occur inside a JSON string). A record of another shape (externals,
 * compiler attributes, other dependency layouts) is parsed by itself; a batch whose record
 * boundaries are not where this layout puts them gives `undefined` (the caller parses it
 * whole, which also reports bad JSON). The skipped bytes are parsed, and so checked, when a
 * record's node is asked for.
 *
 * @module
 */
import { Buffer } from "node:buffer";

/** A record's listing fields. */
export interface LightFields {
  hash: string;
  name: string;
  version: string;
  /** The arch's platform, os and target name. */
  platform: string;
  platformOs: string;
  target: string;
  /** The hash of the first `c`, else `cxx`, else `fortran` provider among the dependencies. */
  provider?: string;
  inBuildcache: boolean;
}

/** A record's listing fields, or the record parsed (`rec`) when its shape is another. */
export type LightRecord = LightFields | { hash: string; rec: unknown };

const Q = 0x22, BS = 0x5c;
const enc = new TextEncoder();
const bytesOf = (s: string) => enc.encode(s);
const HEAD = bytesOf('":{"spec":{"name":"');
const VERSION = bytesOf('","version":"');
const ARCH = bytesOf('","arch":{"platform":"');
const OS = bytesOf('","platform_os":"');
const TARGET = bytesOf('","target":');
const TARGET_DICT = bytesOf('{"name":"');
const SPEC_END = '"},"ref_count":';
const HASH_KEY = bytesOf('"hash":"');
const IN_CACHE = bytesOf(',"in_buildcache":');
const TRUE_END = bytesOf("true}");
const FALSE_END = bytesOf("false}");
const DEP = bytesOf('{"name":"');
const DEP_HASH = bytesOf('","hash":"');
const DEP_PARAMS = bytesOf('","parameters":{"deptypes":[');
const DEP_VIRTUALS = bytesOf('],"virtuals":[');
const DEP_END = bytesOf("]}}");
const CXX = bytesOf("cxx");
const FORTRAN = bytesOf("fortran");
const DEP_DIRECT_TRUE = bytesOf('],"direct":true}}');
const DEP_DIRECT_FALSE = bytesOf('],"direct":false}}');
/** Keys that make a record's listing fields other than the fixed places say. */
const UNUSUAL = ['"external":', '"compiler":'];
const DEPS = '"dependencies":[';

const isB32 = (c: number) => (c >= 0x61 && c <= 0x7a) || (c >= 0x32 && c <= 0x37);

function has(b: Uint8Array, i: number, needle: Uint8Array): boolean {
  if (i + needle.length > b.length) return false;
  for (let k = 0; k < needle.length; k++) if (b[i + k] !== needle[k]) return false;
  return true;
}

/** Where each occurrence of `needle` in `buf` is, in order. */
function allOf(buf: Buffer, needle: string, from: number): number[] {
  const at: number[] = [];
  for (
    let i = buf.indexOf(needle, from, "latin1");
    i >= 0;
    i = buf.indexOf(needle, i + 1, "latin1")
  ) {
    at.push(i);
  }
  return at;
}

/** Occurrences of `at` (sorted) in [s, e), from the cursor `c[0]` on (moved past `s`). */
function countIn(at: number[], c: number[], s: number, e: number): number {
  while (c[0] < at.length && at[c[0]] < s) c[0]++;
  let n = 0;
  for (let k = c[0]; k < at.length && at[k] < e; k++) n++;
  return n;
}

/**
 * Reads the records in `b[s, e)` (the members of `installs`, no braces); `undefined` when
 * their boundaries are not those of the compact layout.
 */
export function lightRecords(b: Uint8Array, s: number, e: number): LightRecord[] | undefined {
  const buf = Buffer.from(b.buffer, b.byteOffset, e);
  const str = (i: number, end: number): string | undefined => {
    for (let k = i; k < end; k++) {
      const c = b[k];
      if (c === BS || c >= 0x80) return undefined;
    }
    return buf.toString("latin1", i, end);
  };
  /** The string whose text starts at i (past its quote): [value, index past the closing quote]. */
  const strAt = (i: number): [string, number] | undefined => {
    const j = b.indexOf(Q, i);
    if (j < 0 || j >= e) return undefined;
    const v = str(i, j);
    return v === undefined ? undefined : [v, j + 1];
  };
  const unusual = UNUSUAL.map((k) => allOf(buf, k, s)).flat().sort((x, y) => x - y);
  const deps = allOf(buf, DEPS, s);
  const dec = new TextDecoder();
  const cu = [0], cd = [0];
  const out: LightRecord[] = [];
  let p = s;
  while (p < e) {
    // `"<hash>":{"spec":{"name":"`
    if (b[p] !== Q || b[p + 33] !== Q) return undefined;
    for (let k = p + 1; k <= p + 32; k++) if (!isB32(b[k])) return undefined;
    if (!has(b, p + 33, HEAD)) return undefined;
    const hash = str(p + 1, p + 33)!;
    const start = p + 33 + HEAD.length;
    // The spec ends at the first `"},"ref_count":`, just after its own hash.
    const specEnd = buf.indexOf(SPEC_END, start, "latin1");
    if (
      specEnd < 0 || !has(b, specEnd - 40, HASH_KEY) || str(specEnd - 32, specEnd) !== hash
    ) return undefined;
    let i = specEnd + SPEC_END.length;
    while (i < e && b[i] >= 0x30 && b[i] <= 0x39) i++;
    if (i === specEnd + SPEC_END.length || !has(b, i, IN_CACHE)) return undefined;
    i += IN_CACHE.length;
    const inBuildcache = has(b, i, TRUE_END);
    if (!inBuildcache && !has(b, i, FALSE_END)) return undefined;
    const end = i + (inBuildcache ? TRUE_END : FALSE_END).length;
    if (end > e || (end < e && b[end] !== 0x2c)) return undefined;
    const light = countIn(unusual, cu, start, specEnd) === 0
      ? readSpec(start, specEnd, hash, inBuildcache, countIn(deps, cd, start, specEnd))
      : undefined;
    if (light) out.push(light);
    else {
      // Another shape: this record alone is parsed.
      let rec: Record<string, unknown>;
      try {
        rec = JSON.parse(`{${dec.decode(b.subarray(p, end))}}`);
      } catch {
        return undefined;
      }
      out.push({ hash, rec: rec[hash] });
    }
    p = end + 1;
  }
  return p === e + 1 || (p === s && s === e) ? out : undefined;

  function readSpec(
    i: number,
    specEnd: number,
    hash: string,
    inBuildcache: boolean,
    depLists: number,
  ): LightRecord | undefined {
    const name = strAt(i);
    if (!name || !has(b, name[1] - 1, VERSION)) return undefined;
    const version = strAt(name[1] - 1 + VERSION.length);
    if (!version || !has(b, version[1] - 1, ARCH)) return undefined;
    const platform = strAt(version[1] - 1 + ARCH.length);
    if (!platform || !has(b, platform[1] - 1, OS)) return undefined;
    const os = strAt(platform[1] - 1 + OS.length);
    if (!os || !has(b, os[1] - 1, TARGET)) return undefined;
    let t = os[1] - 1 + TARGET.length;
    if (has(b, t, TARGET_DICT)) t += TARGET_DICT.length;
    else if (b[t] === Q) t++;
    else return undefined;
    const target = strAt(t);
    if (!target || target[1] > specEnd) return undefined;
    let provider: string | undefined;
    if (depLists > 1) return undefined;
    if (depLists === 1) {
      const at = buf.indexOf(DEPS, target[1], "latin1");
      const found = readDeps(at + DEPS.length, specEnd);
      if (found === false) return undefined;
      provider = found;
    }
    return {
      hash,
      name: name[0],
      version: version[0],
      platform: platform[0],
      platformOs: os[0],
      target: target[0],
      provider,
      inBuildcache,
    };
  }

  /** Index past the string whose text starts at i (no escapes, ASCII), or -1. */
  function skipStr(i: number, limit: number): number {
    const j = b.indexOf(Q, i);
    if (j < 0 || j >= limit) return -1;
    for (let k = i; k < j; k++) if (b[k] === BS || b[k] >= 0x80) return -1;
    return j + 1;
  }

  /** The compiler provider of the dependency list at i; false when its shape is another. */
  function readDeps(i: number, specEnd: number): string | undefined | false {
    // Where the hash of the first provider of each language starts (-1: none yet).
    let c = -1, cxx = -1, fortran = -1;
    if (b[i] === 0x5d) return undefined;
    for (;;) {
      if (!has(b, i, DEP)) return false;
      const nameEnd = skipStr(i + DEP.length, specEnd);
      if (nameEnd < 0 || !has(b, nameEnd - 1, DEP_HASH)) return false;
      const h = nameEnd - 1 + DEP_HASH.length;
      const hashEnd = skipStr(h, specEnd);
      if (hashEnd < 0 || !has(b, hashEnd - 1, DEP_PARAMS)) return false;
      let k = hashEnd - 1 + DEP_PARAMS.length;
      // deptypes: strings only.
      while (b[k] === Q) {
        k = skipStr(k + 1, specEnd);
        if (k < 0) return false;
        if (b[k] === 0x2c) k++;
      }
      if (!has(b, k, DEP_VIRTUALS)) return false;
      k += DEP_VIRTUALS.length;
      while (b[k] === Q) {
        const vEnd = skipStr(k + 1, specEnd);
        if (vEnd < 0) return false;
        const len = vEnd - k - 2;
        if (len === 1 && b[k + 1] === 0x63) c < 0 && (c = h);
        else if (len === 3 && has(b, k + 1, CXX)) cxx < 0 && (cxx = h);
        else if (len === 7 && has(b, k + 1, FORTRAN)) fortran < 0 && (fortran = h);
        k = vEnd;
        if (b[k] === 0x2c) k++;
      }
      if (has(b, k, DEP_END)) k += DEP_END.length;
      else if (has(b, k, DEP_DIRECT_TRUE)) k += DEP_DIRECT_TRUE.length;
      else if (has(b, k, DEP_DIRECT_FALSE)) k += DEP_DIRECT_FALSE.length;
      else return false;
      i = k;
      if (b[i] === 0x5d) break;
      if (b[i] !== 0x2c) return false;
      i++;
    }
    const at = c >= 0 ? c : cxx >= 0 ? cxx : fortran;
    return at < 0 ? undefined : buf.toString("latin1", at, b.indexOf(Q, at));
  }
}
