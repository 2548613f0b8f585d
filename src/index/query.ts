/**
 * Spec queries over records: `name`, `name@version` (Spack's `@1.2`, `@=1.2`, `@1.2:1.4`,
 * `@:2`, `@1.2:`, lists `@1.2,1.4`), `/hashprefix`, `name/hashprefix`, `%compiler[@version]`,
 * and `arch=`, `platform=`, `os=`, `target=`. `parseSpecQuery` reads several specs in one
 * text (`zlib libfoo@2`), matched with `matchesAnyQuery` (any of them). The matcher works on
 * any object with a name, version and hash (index records, entry references of listings that
 * come without an index).
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import type { SpecArch } from "../spec/types.ts";

/** One parsed query; every field that is set must match. */
export interface RecordQuery {
  name?: string;
  /** Version constraint as written after `@`. */
  version?: string;
  hashPrefix?: string;
  compiler?: string;
  compilerVersion?: string;
  platform?: string;
  os?: string;
  target?: string;
  /** The query text. */
  text: string;
}

/** What the matcher needs of a record. */
export interface QueryableRecord {
  name: string;
  version: string;
  hash: string;
  /** `platform-os-target` or the arch triple. */
  arch?: string | SpecArch;
  /** `name@version` of the compiler, when known. */
  compiler?: string;
}

const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.+-]*$/;
const HASH = /^[a-z2-7]+$/;

/**
 * Parses one query (`zlib@1.2: %gcc arch=linux-debian12-x86_64`, `/abc12`, `zlib/abc12`).
 * Throws `UsageError` naming the bad part. Empty text matches everything.
 */
export function parseQuery(text: string): RecordQuery {
  const q: RecordQuery = { text: text.trim() };
  const bad = (why: string): never => {
    throw new UsageError(`Invalid spec query "${text}": ${why}`);
  };
  const tokens = text.replace(/\s*=\s*/g, "=").replace(/([@%/])\s+/g, "$1").trim().split(/\s+/)
    .filter(Boolean);
  for (const tok of tokens) {
    const kv = /^([a-z_]+)=(.+)$/.exec(tok);
    if (kv) {
      const [, k, v] = kv;
      if (k === "arch" || k === "architecture") {
        const parts = v.split("-");
        if (parts.length < 3) bad(`arch "${v}" is not platform-os-target`);
        q.platform = parts[0];
        q.os = parts[1];
        q.target = parts.slice(2).join("-");
      } else if (k === "platform") q.platform = v;
      else if (k === "os" || k === "platform_os") q.os = v;
      else if (k === "target") q.target = v;
      else bad(`unknown attribute "${k}" (use arch=, platform=, os= or target=)`);
      continue;
    }
    const m = /^([^@%/]*)(?:@([^%/]+))?(?:%([^@/]+)(?:@([^/]+))?)?(?:\/(.*))?$/.exec(tok);
    if (!m) bad(`cannot parse "${tok}"`);
    const [, name, version, comp, compVersion, hash] = m!;
    if (name) {
      if (!NAME.test(name)) bad(`"${name}" is not a package name`);
      if (q.name !== undefined && q.name !== name) {
        bad(`two package names ("${q.name}" and "${name}")`);
      }
      q.name = name;
    }
    if (version !== undefined) {
      if (q.version !== undefined) bad(`two versions ("${q.version}" and "${version}")`);
      q.version = version;
    }
    if (comp !== undefined) {
      q.compiler = comp;
      if (compVersion) q.compilerVersion = compVersion;
    }
    if (hash !== undefined) {
      if (!hash || !HASH.test(hash)) {
        bad(`"/${hash}" is not a DAG hash prefix (lowercase base32: a-z, 2-7)`);
      }
      q.hashPrefix = hash;
    }
  }
  return q;
}

/** Spack's "infinity" version names: newer than any number, in this order. */
const INFINITY = ["stable", "trunk", "head", "master", "main", "develop"];

type Seg = number | string;

function segments(v: string): Seg[] {
  return (v.match(/[0-9]+|[A-Za-z]+/g) ?? []).map((s) => /^\d/.test(s) ? Number(s) : s);
}

function compareSeg(a: Seg, b: Seg): number {
  if (typeof a === "number" && typeof b === "number") return a - b;
  const ia = typeof a === "string" ? INFINITY.indexOf(a) : -1;
  const ib = typeof b === "string" ? INFINITY.indexOf(b) : -1;
  if (ia >= 0 || ib >= 0) return ia - ib; // both infinite: by rank; one infinite wins
  if (typeof a === "number") return 1; // numbers are newer than other strings
  if (typeof b === "number") return -1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Orders versions as Spack does (numbers numerically, `develop` and co. newest). */
export function compareVersions(a: string, b: string): number {
  const x = segments(a), y = segments(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const c = compareSeg(x[i], y[i]);
    if (c !== 0) return c;
  }
  return x.length - y.length;
}

/** True when `v` equals `prefix` or extends it by more components (`1.2` covers `1.2.3`). */
function inPrefix(v: string, prefix: string): boolean {
  if (v === prefix) return true;
  const x = segments(v), p = segments(prefix);
  if (p.length === 0 || x.length < p.length) return false;
  return p.every((s, i) => s === x[i]) && /[._-]/.test(v.charAt(prefix.length)) &&
    v.startsWith(prefix);
}

/** True when version `v` satisfies `constraint` (`1.2`, `=1.2`, `1.2:1.4`, `:2`, `a,b`). */
export function versionSatisfies(v: string, constraint: string): boolean {
  const bare = v.replace(/^=/, "");
  return constraint.split(",").some((raw) => {
    const part = raw.trim();
    if (part.startsWith("=")) return bare === part.slice(1);
    const colon = part.indexOf(":");
    if (colon < 0) return inPrefix(bare, part);
    const lo = part.slice(0, colon), hi = part.slice(colon + 1);
    if (lo && compareVersions(bare, lo) < 0) return false;
    if (hi && compareVersions(bare, hi) > 0 && !inPrefix(bare, hi)) return false;
    return true;
  });
}

function archParts(a: string | SpecArch | undefined): [string, string, string] | undefined {
  if (a === undefined) return undefined;
  if (typeof a !== "string") return [a.platform, a.platformOs, a.target];
  const p = a.split("-");
  return [p[0] ?? "", p[1] ?? "", p.slice(2).join("-")];
}

/** True when `rec` satisfies every field `q` sets. */
export function matchesQuery(rec: QueryableRecord, q: RecordQuery): boolean {
  if (q.name !== undefined && rec.name !== q.name) return false;
  if (q.hashPrefix !== undefined && !rec.hash.startsWith(q.hashPrefix)) return false;
  if (q.version !== undefined && !versionSatisfies(rec.version, q.version)) return false;
  if (q.compiler !== undefined) {
    if (!rec.compiler) return false;
    const at = rec.compiler.indexOf("@");
    const cname = at < 0 ? rec.compiler : rec.compiler.slice(0, at);
    if (cname !== q.compiler) return false;
    if (q.compilerVersion !== undefined) {
      if (at < 0 || !versionSatisfies(rec.compiler.slice(at + 1), q.compilerVersion)) return false;
    }
  }
  if (q.platform !== undefined || q.os !== undefined || q.target !== undefined) {
    const a = archParts(rec.arch);
    if (!a) return false;
    if (q.platform !== undefined && a[0] !== q.platform) return false;
    if (q.os !== undefined && a[1] !== q.os) return false;
    if (q.target !== undefined && a[2] !== q.target) return false;
  }
  return true;
}

/** The records of `records` that match `query` (text or parsed), in their order. */
export function filterRecords<T extends QueryableRecord>(
  records: Iterable<T>,
  query: string | RecordQuery,
): T[] {
  const q = typeof query === "string" ? parseQuery(query) : query;
  const out: T[] = [];
  for (const r of records) if (matchesQuery(r, q)) out.push(r);
  return out;
}

/** One spec of a multi-spec query (`parseSpecQuery`); the same shape as `RecordQuery`. */
export type SpecQuery = RecordQuery;

/**
 * Parses query text (or several texts, joined by spaces) into specs: a package name starts
 * a new spec, `/hash` on its own starts one unless the current spec has no hash yet, and
 * `@version`, `%compiler`, `key=value` attach to the current spec. Empty text means "all"
 * (no specs). Throws `UsageError` naming the bad part.
 */
export function parseSpecQuery(input: string | string[]): SpecQuery[] {
  const text = Array.isArray(input) ? input.join(" ") : input;
  const tokens = text.replace(/\s*=\s*/g, "=").replace(/([@%])\s+/g, "$1").trim().split(/\s+/)
    .filter(Boolean);
  const groups: string[][] = [];
  let cur: { toks: string[]; hasHash: boolean } | undefined;
  const start = () => {
    cur = { toks: [], hasHash: false };
    groups.push(cur.toks);
    return cur;
  };
  for (const tok of tokens) {
    const m = /^([^@%/=]*)(?:@[^%/]+)?(?:%[^/]+)?(?:\/(.*))?$/.exec(tok);
    const name = !/=/.test(tok) && m ? m[1] : "";
    const hash = !/=/.test(tok) && m ? m[2] : undefined;
    if (name) start();
    else if (hash !== undefined && tok.startsWith("/")) {
      if (!cur || cur.hasHash) start();
    } else if (!cur) start();
    cur!.toks.push(tok);
    if (hash !== undefined) cur!.hasHash = true;
  }
  return groups.map((g) => {
    try {
      return parseQuery(g.join(" "));
    } catch (e) {
      // Name the whole text, as written.
      if (e instanceof UsageError) {
        throw new UsageError(e.message.replace(`"${g.join(" ")}"`, `"${text}"`));
      }
      throw e;
    }
  });
}

/** True when `rec` matches any of `specs` (or `specs` is empty). */
export function matchesAnyQuery(rec: QueryableRecord, specs: readonly RecordQuery[]): boolean {
  return specs.length === 0 || specs.some((q) => matchesQuery(rec, q));
}
