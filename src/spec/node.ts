/**
 * Node dicts into `SpecNode`s without any schema (no zod): what the index and the layout
 * readers use on their hot paths. `parse.ts` checks documents before mapping them with these.
 *
 * @module
 */
import type { DepType, SpecArch, SpecDependency, SpecNode } from "./types.ts";
import { InvalidDataError } from "../errors.ts";
import { scalarText } from "../core/json.ts";

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return !!v && typeof v === "object" && !Array.isArray(v);
}

const DEP_ORDER: DepType[] = ["build", "link", "run", "test"];

function depTypes(v: unknown): DepType[] {
  const list = typeof v === "string" ? [v] : Array.isArray(v) ? v : [];
  return DEP_ORDER.filter((t) => list.includes(t));
}

/** The arch of a node dict, when it has one. */
export function archOf(raw: Obj): SpecArch | undefined {
  const a = raw.arch;
  if (!isObj(a)) return undefined;
  const t = a.target;
  return {
    platform: scalarText(a.platform),
    platformOs: scalarText(a.platform_os),
    target: typeof t === "string" ? t : isObj(t) ? scalarText(t.name) : "",
  };
}

/** `platform-os-target` of an arch (undefined stays undefined). */
export function archString(a: SpecArch | undefined): string | undefined {
  return a ? `${a.platform}-${a.platformOs}-${a.target}` : undefined;
}

/**
 * The compiler a node records: the `compiler` attribute (formats <= 4) or the
 * `annotations.compiler` Spack 1.x keeps for converted nodes (`gcc@=12.2.0`). Format-5 nodes
 * name their compiler as a dependency instead (see `namingCompiler`).
 */
export function compilerOf(raw: Obj): { name: string; version: string } | undefined {
  const c = raw.compiler;
  if (isObj(c) && typeof c.name === "string") {
    return { name: c.name, version: scalarText(c.version).replace(/^=/, "") };
  }
  const ann = raw.annotations;
  if (isObj(ann) && typeof ann.compiler === "string") {
    const m = /^([^@]+)@=?(.+)$/.exec(ann.compiler);
    if (m) return { name: m[1], version: m[2] };
  }
  return undefined;
}

function edgeHash(e: Obj): string {
  return scalarText(e.hash ?? e.full_hash ?? e.build_hash ?? e.package_hash);
}

function depsOf(raw: Obj): SpecDependency[] {
  const d = raw.dependencies;
  if (Array.isArray(d)) {
    return d.filter(isObj).map((e) => {
      const p = isObj(e.parameters) ? e.parameters : {};
      return {
        name: scalarText(e.name),
        hash: edgeHash(e),
        depTypes: depTypes(p.deptypes ?? e.type),
        virtuals: Array.isArray(p.virtuals) ? p.virtuals.map((v) => scalarText(v)) : [],
      };
    });
  }
  if (isObj(d)) {
    return Object.entries(d).filter(([, v]) => isObj(v)).map(([name, v]) => ({
      name,
      hash: edgeHash(v as Obj),
      depTypes: depTypes((v as Obj).type),
      virtuals: [],
    }));
  }
  return [];
}

/**
 * One node dict (already shape-checked, or trusted) into a `SpecNode`. `raw` is kept as given.
 * `hash` overrides the node's own (index records are keyed by hash).
 */
export function nodeFromDict(raw: Obj, hash?: string): SpecNode {
  const ext = raw.external;
  const mod = isObj(ext) ? ext.module : undefined;
  return {
    name: scalarText(raw.name),
    version: scalarText(raw.version),
    hash: hash ?? scalarText(raw.hash ?? raw.full_hash ?? raw.build_hash),
    arch: archOf(raw),
    compiler: compilerOf(raw),
    namespace: typeof raw.namespace === "string" ? raw.namespace : undefined,
    external: isObj(ext)
      ? {
        path: typeof ext.path === "string" ? ext.path : undefined,
        module: typeof mod === "string"
          ? mod
          : Array.isArray(mod)
          ? mod.map((m) => scalarText(m)).join(" ")
          : null,
      }
      : undefined,
    dependencies: depsOf(raw),
    raw,
  };
}

/**
 * The compiler Spack puts into v2 names and shows: the node's own compiler (formats <= 4),
 * else the first dependency providing `c`, then `cxx`, then `fortran` (format 5), else none.
 */
export function namingCompiler(
  node: SpecNode,
  lookup: (hash: string) => SpecNode | undefined,
): { name: string; version: string } | undefined {
  if (node.compiler) return node.compiler;
  for (const lang of ["c", "cxx", "fortran"]) {
    const d = node.dependencies.find((e) => e.virtuals.includes(lang));
    if (d) {
      const n = lookup(d.hash);
      if (n) return { name: n.name, version: n.version };
    }
  }
  return undefined;
}

const SPEC_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.+-]*$/;
const SPEC_HASH = /^[a-z0-9]{1,64}$/;

/** True when `s` can be one path component: no separator, NUL or newline, not "." or "..". */
function pathSafe(s: string): boolean {
  return !/[\/\\\0\n]/.test(s) && s !== "." && s !== "..";
}

/**
 * Refuses a node whose name, hash, version or architecture could not be a package's (they
 * become path components of prefixes and mirror paths): `InvalidDataError` naming `label` (or
 * what it gives, made only then).
 */
export function checkNodeIdentity(
  n: { name: string; version: string; hash: string; arch?: SpecArch },
  label: string | (() => string),
): void {
  const bad = (what: string, v: string) =>
    new InvalidDataError(
      `Cannot read ${typeof label === "string" ? label : label()}: the ${what} ${
        JSON.stringify(v.slice(0, 80))
      } is not valid`,
    );
  if (!SPEC_NAME.test(n.name)) throw bad("package name", n.name);
  if (!SPEC_HASH.test(n.hash)) throw bad(`hash of "${n.name}"`, n.hash);
  if (!pathSafe(n.version)) throw bad(`version of "${n.name}"`, n.version);
  for (const v of [n.arch?.platform, n.arch?.platformOs, n.arch?.target]) {
    if (v !== undefined && !pathSafe(v)) throw bad(`architecture of "${n.name}"`, v);
  }
}
