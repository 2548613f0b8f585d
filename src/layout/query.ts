/**
 * Spec queries over entry references: `name`, `name@version`, `@version`, `/hashprefix`,
 * `name/hashprefix`, `%compiler[@version]`, `arch=`, `platform=`, `os=`, `target=`. Several
 * specs in one string (`zlib libfoo@2`) match any of them.
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import type { EntryRef } from "./types.ts";

/** One parsed spec query; every set field must match. */
export interface SpecQuery {
  name?: string;
  /** Version constraint as written (`1.2`, `=1.2`, `1.2:1.4`, `:2`, `1:`). */
  version?: string;
  hashPrefix?: string;
  compiler?: string;
  compilerVersion?: string;
  platform?: string;
  os?: string;
  target?: string;
  /** The text of this spec. */
  text: string;
}

const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.+-]*$/;
const HASH = /^[a-z2-7]+$/;

/** Parses query text (or several texts, joined by spaces) into specs. Empty means "all". */
export function parseSpecQuery(input: string | string[]): SpecQuery[] {
  const text = Array.isArray(input) ? input.join(" ") : input;
  const tokens = text.replace(/\s*=\s*/g, "=").replace(/([@%])\s+/g, "$1").trim().split(/\s+/)
    .filter(Boolean);
  const specs: SpecQuery[] = [];
  let cur: SpecQuery | undefined;
  const bad = (why: string): never => {
    throw new UsageError(`Invalid spec query "${text}": ${why}`);
  };
  for (const tok of tokens) {
    const kv = /^([a-z_]+)=(.+)$/.exec(tok);
    if (kv) {
      cur ??= pushNew(specs, "");
      const [, k, v] = kv;
      if (k === "arch" || k === "architecture") {
        const parts = v.split("-");
        if (parts.length !== 3) bad(`arch "${v}" is not platform-os-target`);
        [cur.platform, cur.os, cur.target] = parts;
      } else if (k === "platform") cur.platform = v;
      else if (k === "os" || k === "platform_os") cur.os = v;
      else if (k === "target") cur.target = v;
      else bad(`unknown attribute "${k}" (use arch=, platform=, os= or target=)`);
      cur.text += (cur.text ? " " : "") + tok;
      continue;
    }
    // name[@version][%compiler[@version]][/hash], or parts of it.
    const m = /^([^@%/]*)(?:@([^%/]+))?(?:%([^@/]+)(?:@([^/]+))?)?(?:\/(.+))?$/.exec(tok);
    if (!m) bad(`cannot parse "${tok}"`);
    const [, name, version, comp, compVersion, hash] = m!;
    if (name) {
      if (!NAME.test(name)) bad(`"${name}" is not a package name`);
      cur = pushNew(specs, tok);
      cur.name = name;
    } else if (hash && !version && !comp) {
      // "/hash" on its own starts a new spec unless the current one has no hash yet.
      if (!cur || cur.hashPrefix) cur = pushNew(specs, tok);
      else cur.text += " " + tok;
    } else {
      cur ??= pushNew(specs, "");
      cur.text += (cur.text ? " " : "") + tok;
    }
    if (version) cur.version = version;
    if (comp) {
      cur.compiler = comp;
      if (compVersion) cur.compilerVersion = compVersion;
    }
    if (hash) {
      if (!HASH.test(hash)) bad(`"/${hash}" is not a DAG hash prefix (lowercase base32)`);
      cur.hashPrefix = hash;
    }
  }
  return specs;
}

function pushNew(specs: SpecQuery[], text: string): SpecQuery {
  const q: SpecQuery = { text };
  specs.push(q);
  return q;
}

function segs(v: string): (number | string)[] {
  return v.split(/[.\-_]/).map((s) => /^\d+$/.test(s) ? Number(s) : s);
}

/** Compares versions segment by segment (numbers numerically, numbers before strings). */
export function compareVersions(a: string, b: string): number {
  const x = segs(a), y = segs(b);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const p = x[i], q = y[i];
    if (p === undefined) return -1;
    if (q === undefined) return 1;
    if (p === q) continue;
    if (typeof p === "number" && typeof q === "number") return p - q;
    if (typeof p === "number") return 1;
    if (typeof q === "number") return -1;
    return p < q ? -1 : 1;
  }
  return 0;
}

/** True when `v` is `prefix` or starts with `prefix.` (Spack: `@1.2` matches 1.2 and 1.2.3). */
function inPrefix(v: string, prefix: string): boolean {
  return v === prefix || v.startsWith(prefix + ".") || v.startsWith(prefix + "-");
}

/** True when version `v` satisfies the constraint `c` (`1.2`, `=1.2`, `a:b`, list `a,b`). */
export function versionMatches(v: string, c: string): boolean {
  return c.split(",").some((part) => {
    if (part.startsWith("=")) return v === part.slice(1);
    const colon = part.indexOf(":");
    if (colon < 0) return inPrefix(v, part);
    const lo = part.slice(0, colon), hi = part.slice(colon + 1);
    if (lo && compareVersions(v, lo) < 0) return false;
    if (hi && compareVersions(v, hi) > 0 && !inPrefix(v, hi)) return false;
    return true;
  });
}

/** True when `ref` matches one query spec. */
export function matchesSpec(ref: EntryRef, q: SpecQuery): boolean {
  if (q.name !== undefined && ref.name !== q.name) return false;
  if (q.hashPrefix !== undefined && !ref.hash.startsWith(q.hashPrefix)) return false;
  if (q.version !== undefined && !versionMatches(ref.version, q.version)) return false;
  if (q.compiler !== undefined) {
    if (!ref.compiler) return false;
    const at = ref.compiler.indexOf("@");
    const cname = at < 0 ? ref.compiler : ref.compiler.slice(0, at);
    if (cname !== q.compiler) return false;
    if (q.compilerVersion && !versionMatches(ref.compiler.slice(at + 1), q.compilerVersion)) {
      return false;
    }
  }
  if (q.platform !== undefined || q.os !== undefined || q.target !== undefined) {
    const [platform, os, ...t] = (ref.arch ?? "").split("-");
    const target = t.join("-");
    if (q.platform !== undefined && platform !== q.platform) return false;
    if (q.os !== undefined && os !== q.os) return false;
    if (q.target !== undefined && target !== q.target) return false;
  }
  return true;
}

/** True when `ref` matches any of `specs` (or `specs` is empty). */
export function matchesQuery(ref: EntryRef, specs: SpecQuery[]): boolean {
  return specs.length === 0 || specs.some((q) => matchesSpec(ref, q));
}
