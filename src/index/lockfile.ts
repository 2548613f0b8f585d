/**
 * Spack environment lock files (`spack.lock`): another source of concrete specs beside the
 * index. Formats 3 to 6 are read (Spack 0.18 to 1.x; Spack 1.2 writes 6): `roots` (the
 * environment's user specs with the lockfile key of each concrete root) and `concrete_specs`
 * (every node dict, keyed by lockfile key, with its dependencies given by key).
 *
 * Roots of included concrete environments (`include_concrete`) are roots too, as in Spack.
 * Format 3 keys nodes by their build hash and stores the older DAG hash in each node; like
 * Spack, the DAG hash is the identity and the first node seen for a DAG hash wins. Formats 4
 * to 6 key nodes by DAG hash.
 *
 * @module
 */
import { InvalidDataError } from "../errors.ts";
import { parseNodeJson, runtimeClosure } from "../spec/parse.ts";
import type { SpecDag, SpecNode } from "../spec/types.ts";

/** The lock file formats read. */
export const LOCKFILE_VERSIONS = [3, 4, 5, 6] as const;

/** One root of an environment: the user's spec text and its concrete DAG hash. */
export interface LockRoot {
  /** The DAG hash of the concrete root. */
  hash: string;
  /** The abstract spec as the user wrote it in spack.yaml (`spec` of the root entry). */
  spec: string;
}

/** A parsed lock file. */
export interface Lockfile {
  /** `_meta.lockfile-version` (3 to 6). */
  version: number;
  /** The roots in the lock's order, duplicates (same DAG hash) removed. */
  roots: LockRoot[];
  /** Every concrete node by DAG hash (`root` is the first root's hash, or "" when none). */
  dag: SpecDag;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => !!v && typeof v === "object" && !Array.isArray(v);

/**
 * Parses the text of a `spack.lock`; `label` names it in errors. Refuses what is not JSON, a
 * format outside 3 to 6, roots missing from `concrete_specs` and dependencies naming a node
 * the lock lacks.
 */
export function parseLockfile(text: string, label = "lock file"): Lockfile {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new InvalidDataError(`Cannot parse ${label}: not JSON (${(e as Error).message})`, {
      cause: e,
    });
  }
  if (!isObj(doc)) throw new InvalidDataError(`Cannot read ${label}: not a JSON object`);
  const meta = doc._meta;
  const version = isObj(meta) ? meta["lockfile-version"] : undefined;
  if (typeof version !== "number") {
    throw new InvalidDataError(
      `Cannot read ${label}: no "_meta.lockfile-version" (not a Spack environment lock file?)`,
    );
  }
  if (!(LOCKFILE_VERSIONS as readonly number[]).includes(version)) {
    throw new InvalidDataError(
      `Cannot read ${label}: lock file format ${version} is not supported (formats ${
        LOCKFILE_VERSIONS[0]
      } to ${LOCKFILE_VERSIONS.at(-1)} are${
        version > LOCKFILE_VERSIONS.at(-1)! ? "; it was written by a newer Spack" : ""
      }${
        version < LOCKFILE_VERSIONS[0]
          ? "; rewrite it with a newer Spack: spack -e ENV concretize"
          : ""
      })`,
    );
  }
  const cs = doc.concrete_specs;
  if (!isObj(cs)) {
    throw new InvalidDataError(`Cannot read ${label}: no "concrete_specs" object`);
  }
  if (!Array.isArray(doc.roots)) {
    throw new InvalidDataError(`Cannot read ${label}: no "roots" list`);
  }
  // Included concrete environments (`include_concrete`, nested): their roots are roots of
  // this environment too, after its own, and their specs are known by their keys.
  const allSpecs: [string, unknown][] = Object.entries(cs);
  const allRoots: unknown[] = [...doc.roots];
  const include = (d: Obj, where: string) => {
    const inc = d.include_concrete;
    if (inc === undefined) return;
    if (!isObj(inc)) {
      throw new InvalidDataError(`Cannot read ${label}: "${where}" is not an object`);
    }
    for (const [env, info] of Object.entries(inc)) {
      const w = `${where}.${env}`;
      if (!isObj(info) || !Array.isArray(info.roots)) {
        throw new InvalidDataError(`Cannot read ${label}: "${w}" has no "roots" list`);
      }
      allRoots.push(...info.roots);
      if (isObj(info.concrete_specs)) allSpecs.push(...Object.entries(info.concrete_specs));
      include(info, `${w}.include_concrete`);
    }
  };
  include(doc, "include_concrete");
  // Lockfile key -> node (its own DAG hash as identity).
  const byKey = new Map<string, SpecNode>();
  for (const [key, raw] of allSpecs) {
    if (byKey.has(key)) continue;
    const node = parseNodeJson(
      isObj(raw) && raw.hash === undefined ? { ...raw, hash: key } : raw,
      label,
      `concrete_specs.${key}`,
    );
    byKey.set(key, node);
  }
  const nodes = new Map<string, SpecNode>();
  const dagHashes = new Set([...byKey.values()].map((n) => n.hash));
  for (const [key, node] of byKey) {
    for (const d of node.dependencies) {
      const target = byKey.get(d.hash);
      if (target) d.hash = target.hash;
      else if (!dagHashes.has(d.hash)) {
        throw new InvalidDataError(
          `Cannot read ${label}: "${node.name}" (concrete_specs.${key}) depends on ` +
            `"${d.name}" (${d.hash}), which is not in "concrete_specs"`,
        );
      }
    }
  }
  const roots: LockRoot[] = [];
  const missing: string[] = [];
  for (const [i, r] of allRoots.entries()) {
    if (!isObj(r) || typeof r.hash !== "string") {
      throw new InvalidDataError(`Cannot read ${label}: "roots[${i}]" has no "hash"`);
    }
    const node = byKey.get(r.hash);
    if (!node) {
      missing.push(`${typeof r.spec === "string" ? r.spec : "?"} (${r.hash})`);
      continue;
    }
    if (!roots.some((x) => x.hash === node.hash)) {
      roots.push({ hash: node.hash, spec: typeof r.spec === "string" ? r.spec : node.name });
    }
  }
  if (missing.length) {
    throw new InvalidDataError(
      `Cannot read ${label}: ${missing.length} root(s) missing from "concrete_specs": ${
        missing.join(", ")
      }`,
    );
  }
  // Nodes reachable from the roots first, in traversal order (the first node of a DAG hash
  // wins, as in Spack), then the rest.
  const byHash = new Map<string, SpecNode>();
  for (const n of byKey.values()) if (!byHash.has(n.hash)) byHash.set(n.hash, n);
  const visit = (h: string) => {
    const n = byHash.get(h);
    if (!n || nodes.has(h)) return;
    nodes.set(h, n);
    for (const d of n.dependencies) visit(d.hash);
  };
  for (const r of roots) visit(r.hash);
  for (const [h, n] of byHash) if (!nodes.has(h)) nodes.set(h, n);
  return {
    version,
    roots,
    dag: { root: roots[0]?.hash ?? "", nodes, formatVersion: version, raw: doc },
  };
}

/**
 * The concrete specs of a lock that install, push, bundle, sync and download act on: the
 * roots (default) or, with `all`, every concrete spec of the lock.
 */
export function lockfileSpecs(lock: Lockfile, opts: { all?: boolean } = {}): SpecNode[] {
  if (opts.all) return [...lock.dag.nodes.values()];
  return lock.roots.map((r) => lock.dag.nodes.get(r.hash)!);
}

/**
 * Every spec a lock's roots (or, with `all`, all its specs) need at run time: the link/run
 * closure, dependencies first, each once, externals left out.
 */
export function lockfileClosure(lock: Lockfile, opts: { all?: boolean } = {}): SpecNode[] {
  const out = new Map<string, SpecNode>();
  for (const s of lockfileSpecs(lock, opts)) {
    if (s.external) continue;
    for (const n of runtimeClosure(lock.dag, s.hash)) out.set(n.hash, n);
  }
  return [...out.values()];
}
