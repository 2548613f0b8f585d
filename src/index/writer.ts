/**
 * Writing Spack database JSON (version 8) as Spack does: a build cache index
 * (`BuildCacheDatabase`: records `spec`, `ref_count`, `in_buildcache`) or an install tree's
 * `.spack-db/index.json` (records `spec`, `ref_count`, `path`, `installed`, `explicit`,
 * `installation_time`, `deprecated_for`, then `origin` when set). Serialised like Spack's
 * `sjson.dump`: `json.dumps(..., separators=(",", ":"))`, ASCII-escaped, keys in insertion order.
 *
 * @module
 */
import { MemoryPacer } from "../core/memory_pacer.ts";
import { PyFloat, pyJsonDumps, pyJsonString } from "../core/json.ts";
import type { SpecDag } from "../spec/types.ts";

type Obj = Record<string, unknown>;

/** One record to write. `ref_count` is computed, never given. */
export interface IndexWriteRecord {
  /** The DAG hash (the record's key). */
  hash: string;
  /** The node dict as Spack stores it (`node_dict_with_hashes`: dependencies and `hash` included). */
  spec: Obj;
  /** Build cache indexes: whether the spec itself is in the cache. */
  inBuildcache?: boolean;
  /** Install databases: the prefix (null for an external without one). */
  path?: string | null;
  /** Install databases (default true). */
  installed?: boolean;
  /** Install databases (default false). */
  explicit?: boolean;
  /** Install databases: seconds since the epoch. */
  installationTime?: number;
  /** Install databases: the hash of the spec that deprecates this one. */
  deprecatedFor?: string | null;
  /** Install databases: written only when set, as Spack does. */
  origin?: string | null;
}

/** What kind of database to write. */
export interface BuildIndexOptions {
  kind: "buildcache" | "install";
  /** Paces the collections while records are written (default: a `MemoryPacer` of its own). */
  pacer?: MemoryPacer;
}

/** The database version written. */
export const DB_VERSION_WRITTEN = "8";

/**
 * The records of a build cache index for `specs`: every node of every DAG once, dependencies
 * before dependents (depth first, in dependency order), `inBuildcache` for the DAG roots.
 */
export function buildcacheRecords(specs: readonly SpecDag[]): IndexWriteRecord[] {
  const out = new Map<string, IndexWriteRecord>();
  const inCache = new Set(specs.map((s) => s.root));
  const add = (dag: SpecDag, hash: string, stack: Set<string>) => {
    if (out.has(hash) || stack.has(hash)) return;
    const n = dag.nodes.get(hash);
    if (!n) return;
    stack.add(hash);
    for (const d of n.dependencies) add(dag, d.hash, stack);
    stack.delete(hash);
    out.set(hash, { hash, spec: n.raw, inBuildcache: inCache.has(hash) });
  };
  for (const s of specs) add(s, s.root, new Set());
  return [...out.values()];
}

/**
 * Spack's `ref_count` of each record: how many records depend on it (any dependency type the
 * DAG hash covers: build, link, run, test), plus one per record deprecated in its favour.
 */
export function refCounts(records: readonly IndexWriteRecord[]): Map<string, number> {
  const counts = new Map<string, number>(records.map((r) => [r.hash, 0]));
  for (const r of records) {
    const deps = r.spec.dependencies;
    if (Array.isArray(deps)) {
      for (const d of deps as { hash?: unknown }[]) {
        const h = typeof d?.hash === "string" ? d.hash : undefined;
        if (h && counts.has(h)) counts.set(h, counts.get(h)! + 1);
      }
    }
    if (r.deprecatedFor && counts.has(r.deprecatedFor)) {
      counts.set(r.deprecatedFor, counts.get(r.deprecatedFor)! + 1);
    }
  }
  return counts;
}

/**
 * The database JSON text for `records` (in the given order), as Spack writes it: compact,
 * ASCII-escaped, `database.version` "8".
 */
export function buildIndexJson(
  records: readonly IndexWriteRecord[],
  opts: BuildIndexOptions,
): string {
  const counts = refCounts(records);
  // Serialised a record at a time (the text of one compact object is the concatenation of its
  // members'), with collections paced: serialising tens of thousands of records at once leaves
  // garbage many times the index's size, which Bun collects late.
  const pacer = opts.pacer ?? new MemoryPacer();
  const parts: string[] = [];
  for (const r of records) {
    const installs: Record<string, Obj> = {};
    const ref_count = counts.get(r.hash) ?? 0;
    if (opts.kind === "buildcache") {
      installs[r.hash] = { spec: r.spec, ref_count, in_buildcache: r.inBuildcache === true };
    } else {
      const rec: Obj = {
        spec: r.spec,
        ref_count,
        path: r.path ?? null,
        installed: r.installed ?? true,
        explicit: r.explicit ?? false,
        // Python floats: 1700000000.0, 1e-05.
        installation_time: new PyFloat(r.installationTime ?? Date.now() / 1000),
        deprecated_for: r.deprecatedFor ?? null,
      };
      if (r.origin) rec.origin = r.origin;
      installs[r.hash] = rec;
    }
    const text = pyJsonDumps(installs);
    parts.push(text.slice(1, -1));
    pacer.add(text.length * 4);
  }
  const head = pyJsonDumps({ database: { version: DB_VERSION_WRITTEN, installs: {} } });
  // `{"database":{"version":"8","installs":{}}}`: the records go between the last braces.
  return `${head.slice(0, -3)}${parts.join(",")}${head.slice(-3)}`;
}

/** One record of {@link putBuildcacheIndex}: the node dict's compact text (or its bytes). */
export interface BuildcacheIndexPiece {
  hash: string;
  spec: string | Uint8Array;
  refCount: number;
  inBuildcache: boolean;
}

/**
 * The build cache index of `count` records (`record(k)` gives the k-th, with its dict already
 * written) given to `put` piece by piece, in order: the bytes `buildIndexJson` writes for the
 * same records (`kind: "buildcache"`), for a writer that streams them (no text of the whole
 * index is made).
 */
export function putBuildcacheIndex(
  count: number,
  record: (k: number) => BuildcacheIndexPiece,
  put: (piece: string | Uint8Array) => void,
): void {
  const head = pyJsonDumps({ database: { version: DB_VERSION_WRITTEN, installs: {} } });
  put(head.slice(0, -3));
  for (let k = 0; k < count; k++) {
    const r = record(k);
    put(`${k ? "," : ""}${pyJsonString(r.hash)}:{"spec":`);
    put(r.spec);
    put(`,"ref_count":${r.refCount},"in_buildcache":${r.inBuildcache}}`);
  }
  put(head.slice(-3));
}
