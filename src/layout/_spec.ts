/**
 * Spec documents for the layout readers. `parseSpec` is the spec model's own parser
 * (`spec/parse.ts`, zod-checked, loaded on first use so that listing never loads it);
 * `parseSpecDoc` is a small unchecked mapping into the same model, and the helpers name files
 * (compiler of a node, arch string) without loading the schemas.
 *
 * @module
 */
import { InvalidDataError } from "../errors.ts";
import type { DepType, SpecArch, SpecDag, SpecDependency, SpecNode } from "../spec/types.ts";

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return !!v && typeof v === "object" && !Array.isArray(v);
}

const DEP_TYPES = new Set(["build", "link", "run", "test"]);

function depTypes(v: unknown): DepType[] {
  const list = typeof v === "string" ? [v] : Array.isArray(v) ? v : [];
  return list.filter((t): t is DepType => typeof t === "string" && DEP_TYPES.has(t));
}

/** The arch of a node dict, when it has one. */
export function archOf(raw: Obj): SpecArch | undefined {
  const a = raw.arch;
  if (!isObj(a)) return undefined;
  const t = a.target;
  return {
    platform: String(a.platform ?? ""),
    platformOs: String(a.platform_os ?? ""),
    target: typeof t === "string" ? t : isObj(t) ? String(t.name ?? "") : "",
  };
}

/** `platform-os-target`. */
export function archString(a: SpecArch | undefined): string | undefined {
  return a ? `${a.platform}-${a.platformOs}-${a.target}` : undefined;
}

/** The compiler recorded on a node (attribute, or the `annotations.compiler` of converted nodes). */
export function compilerOf(raw: Obj): { name: string; version: string } | undefined {
  const c = raw.compiler;
  if (isObj(c) && typeof c.name === "string") {
    return { name: c.name, version: String(c.version ?? "").replace(/^=/, "") };
  }
  const ann = raw.annotations;
  if (isObj(ann) && typeof ann.compiler === "string") {
    const m = /^([^@]+)@=?(.+)$/.exec(ann.compiler);
    if (m) return { name: m[1], version: m[2] };
  }
  return undefined;
}

function depsOf(raw: Obj): SpecDependency[] {
  const d = raw.dependencies;
  if (Array.isArray(d)) {
    return d.filter(isObj).map((e) => {
      const p = isObj(e.parameters) ? e.parameters : {};
      return {
        name: String(e.name ?? ""),
        hash: String(e.hash ?? e.full_hash ?? e.build_hash ?? ""),
        depTypes: depTypes(p.deptypes ?? e.type),
        virtuals: Array.isArray(p.virtuals) ? p.virtuals.map(String) : [],
      };
    });
  }
  if (isObj(d)) {
    // Format 1: {"<name>": {"hash": ..., "type": [...]}}.
    return Object.entries(d).filter(([, v]) => isObj(v)).map(([name, v]) => {
      const e = v as Obj;
      return {
        name,
        hash: String(e.hash ?? e.full_hash ?? e.build_hash ?? ""),
        depTypes: depTypes(e.type),
        virtuals: [],
      };
    });
  }
  return [];
}

/** One node dict (formats 2 to 5, or an index record's spec) into a SpecNode. */
export function nodeFromDict(raw: Obj, fallbackName?: string): SpecNode {
  const ext = raw.external;
  return {
    name: String(raw.name ?? fallbackName ?? ""),
    version: String(raw.version ?? ""),
    hash: String(raw.hash ?? raw.full_hash ?? raw.build_hash ?? ""),
    arch: archOf(raw),
    compiler: compilerOf(raw),
    namespace: typeof raw.namespace === "string" ? raw.namespace : undefined,
    external: isObj(ext)
      ? {
        path: typeof ext.path === "string" ? ext.path : undefined,
        module: typeof ext.module === "string" ? ext.module : null,
      }
      : undefined,
    dependencies: depsOf(raw),
    raw,
  };
}

/**
 * A spec document checked and mapped by the spec model's parser (`parseSpecJson`), loaded on
 * first use. `label` names the document in errors.
 */
export async function parseSpec(doc: unknown, label = "spec"): Promise<SpecDag> {
  const { parseSpecJson } = await import("../spec/parse.ts");
  return parseSpecJson(doc, label);
}

/**
 * A spec document (`{"spec": {...}, ...}` of a v2 spec file or v3 spec blob, or a bare spec
 * dict) into the spec model without schema checks. `label` names the document in errors.
 */
export function parseSpecDoc(doc: unknown, label = "spec"): SpecDag {
  if (!isObj(doc)) throw new InvalidDataError(`Cannot read ${label}: not a JSON object`);
  const spec = doc.spec ?? doc;
  let nodes: SpecNode[];
  let formatVersion = 1;
  if (Array.isArray(spec)) {
    // Format 1: a list of single-key maps {"<name>": {...}}.
    nodes = spec.filter(isObj).map((m) => {
      const [name, body] = Object.entries(m)[0] ?? [];
      if (!name || !isObj(body)) throw new InvalidDataError(`Cannot read ${label}: bad node`);
      return nodeFromDict({ name, ...body }, name);
    });
  } else if (isObj(spec) && Array.isArray(spec.nodes)) {
    const meta = isObj(spec._meta) ? spec._meta : {};
    formatVersion = typeof meta.version === "number" ? meta.version : 1;
    nodes = spec.nodes.filter(isObj).map((n) => nodeFromDict(n));
  } else {
    throw new InvalidDataError(`Cannot read ${label}: no "spec.nodes" list`);
  }
  if (nodes.length === 0) throw new InvalidDataError(`Cannot read ${label}: the spec has no nodes`);
  for (const n of nodes) {
    if (!n.name || !n.hash) {
      throw new InvalidDataError(`Cannot read ${label}: a node has no name or no hash`);
    }
  }
  const blv = doc.buildcache_layout_version;
  return {
    root: nodes[0].hash,
    nodes: new Map(nodes.map((n) => [n.hash, n])),
    formatVersion,
    buildcacheLayoutVersion: typeof blv === "number" ? blv : undefined,
    raw: doc,
  };
}

/**
 * The compiler Spack puts into v2 names: the node's own compiler (formats <= 4), else the
 * first dependency providing `c`, then `cxx`, then `fortran` (format 5), else none.
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
