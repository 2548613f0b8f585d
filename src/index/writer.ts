/**
 * Writes Spack database JSON (version 8, as Spack 1.2 does): a build-cache index
 * (`spec`, `ref_count`, `in_buildcache` per record) or an install tree's
 * `.spack-db/index.json` (`spec`, `ref_count`, `path`, `installed`, `explicit`,
 * `installation_time`, `deprecated_for`, then `origin` when set). Compact JSON, no trailing
 * newline; records keyed by DAG hash, dependencies before dependents.
 *
 * @module
 */
import { pyJsonDumps, pyJsonString } from "../core/json.ts";
import { InvalidDataError } from "../errors.ts";
import type { SpecDag, SpecNode } from "../spec/types.ts";

/** The database version written. */
export const INDEX_WRITE_VERSION = "8";

/** One record to write. Fields a kind does not use are ignored. */
export interface IndexWriteRecord {
  /** The node; its `raw` dict (format 5 for new indexes) is written as is, `hash` last. */
  node: SpecNode;
  /** Dependents among the written records; computed (over every edge type) when absent. */
  refCount?: number;
  /** Build caches: the spec's files are in the mirror (default: true unless external). */
  inBuildcache?: boolean;
  /** Install trees: the prefix (externals: their path; default null). */
  path?: string | null;
  /** Install trees (default true). */
  installed?: boolean;
  /** Install trees (default false). */
  explicit?: boolean;
  /** Install trees: seconds since the epoch, written as a Python float (default: now). */
  installationTime?: number;
  /** Install trees (default null). */
  deprecatedFor?: string | null;
  /** Install trees: written only when set. */
  origin?: string;
}

/** Options of `buildIndexJson`. */
export interface BuildIndexOptions {
  kind: "buildcache" | "install";
}

/** A number as Python's `repr(float)` writes it (`1.0`, `1e-05`, `1e+16`). */
export function pyFloat(n: number): string {
  if (!Number.isFinite(n)) throw new InvalidDataError(`Cannot write ${n} as a JSON number`);
  if (n === 0) return Object.is(n, -0) ? "-0.0" : "0.0";
  const [mant, expText] = n.toExponential().split("e");
  const e = Number(expText);
  const sign = mant.startsWith("-") ? "-" : "";
  const digits = mant.replace(/^-/, "").replace(".", "");
  if (e < -4 || e >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${m}e${e < 0 ? "-" : "+"}${String(Math.abs(e)).padStart(2, "0")}`;
  }
  if (e < 0) return `${sign}0.${"0".repeat(-e - 1)}${digits}`;
  const int = digits.slice(0, e + 1).padEnd(e + 1, "0");
  const frac = digits.slice(e + 1);
  return `${sign}${int}.${frac || "0"}`;
}

/** The node dict as Spack writes it into a record: `hash` last, equal to the key. */
function nodeDictWithHash(node: SpecNode): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k in node.raw) if (k !== "hash") out[k] = node.raw[k];
  out.hash = node.hash;
  return out;
}

/**
 * Orders records so dependencies come before dependents (depth first, in input order, each
 * node's dependencies in its own edge order), keeping the first record of a repeated hash.
 */
export function orderRecords(records: IndexWriteRecord[]): IndexWriteRecord[] {
  const byHash = new Map<string, IndexWriteRecord>();
  for (const r of records) if (!byHash.has(r.node.hash)) byHash.set(r.node.hash, r);
  const out: IndexWriteRecord[] = [];
  const state = new Map<string, 1 | 2>();
  const visit = (r: IndexWriteRecord) => {
    const h = r.node.hash;
    if (state.has(h)) return; // done, or a cycle (cannot happen in a DAG): keep going
    state.set(h, 1);
    for (const d of r.node.dependencies) {
      const dr = byHash.get(d.hash);
      if (dr) visit(dr);
    }
    state.set(h, 2);
    out.push(r);
  };
  for (const r of byHash.values()) visit(r);
  return out;
}

/**
 * The database JSON text for `records` (see the module doc for the fields of each kind).
 * Byte-identical to Spack's when given the same nodes, values and order.
 */
export function buildIndexJson(records: IndexWriteRecord[], opts: BuildIndexOptions): string {
  const ordered = orderRecords(records);
  const refs = new Map<string, number>();
  for (const r of ordered) {
    for (const d of r.node.dependencies) refs.set(d.hash, (refs.get(d.hash) ?? 0) + 1);
  }
  const now = Date.now() / 1000;
  const parts: string[] = [];
  for (const r of ordered) {
    const h = r.node.hash;
    if (!/^[a-z2-7]{32}$/.test(h)) {
      throw new InvalidDataError(`Cannot write index: "${h}" (${r.node.name}) is not a DAG hash`);
    }
    const refCount = r.refCount ?? refs.get(h) ?? 0;
    let body = `"spec":${pyJsonDumps(nodeDictWithHash(r.node))},"ref_count":${refCount}`;
    if (opts.kind === "buildcache") {
      body += `,"in_buildcache":${(r.inBuildcache ?? !r.node.external) ? "true" : "false"}`;
    } else {
      const path = r.path === undefined ? (r.node.external?.path ?? null) : r.path;
      body += `,"path":${path === null ? "null" : pyJsonString(path)}`;
      body += `,"installed":${(r.installed ?? true) ? "true" : "false"}`;
      body += `,"explicit":${r.explicit ? "true" : "false"}`;
      body += `,"installation_time":${pyFloat(r.installationTime ?? now)}`;
      body += `,"deprecated_for":${r.deprecatedFor ? pyJsonString(r.deprecatedFor) : "null"}`;
      if (r.origin) body += `,"origin":${pyJsonString(r.origin)}`;
    }
    parts.push(`${pyJsonString(h)}:{${body}}`);
  }
  return `{"database":{"version":"${INDEX_WRITE_VERSION}","installs":{${parts.join(",")}}}}`;
}

/**
 * Records for a build-cache index from spec DAGs: every node of every DAG once (all
 * dependency types), `in_buildcache` true for the hashes in `pushed` (default: each DAG's
 * root) and false for the rest (externals and dependencies whose files are not in the mirror).
 */
export function recordsFromDags(
  dags: Iterable<SpecDag>,
  pushed?: ReadonlySet<string>,
): IndexWriteRecord[] {
  const list = [...dags];
  const inCache = pushed ?? new Set(list.map((d) => d.root));
  const out: IndexWriteRecord[] = [];
  const seen = new Set<string>();
  for (const dag of list) {
    // The root first: orderRecords puts its dependencies before it.
    const root = dag.nodes.get(dag.root);
    const nodes = root ? [root, ...dag.nodes.values()] : [...dag.nodes.values()];
    for (const n of nodes) {
      if (seen.has(n.hash)) continue;
      seen.add(n.hash);
      out.push({ node: n, inBuildcache: inCache.has(n.hash) && !n.external });
    }
  }
  return out;
}
