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

/**
 * One build cache record whose node dict is already written (`pyJsonDumps` of the dict): a
 * rebuild keeps this text instead of the parsed dict, a fraction of its memory.
 */
export interface WrittenBuildcacheRecord {
  hash: string;
  /** `pyJsonDumps(spec)`: the node dict's compact text. */
  specText: string;
  /** The hashes of the node's dependencies, one per entry of its `dependencies`. */
  deps: readonly string[];
  inBuildcache: boolean;
}

/**
 * The build cache index for records whose node dicts are already written, in the given order,
 * as UTF-8 bytes: the bytes `buildIndexJson` writes for the same records (`kind: "buildcache"`),
 * put together a record at a time (no text of the whole index is made).
 */
export function buildcacheIndexBytes(records: readonly WrittenBuildcacheRecord[]): Uint8Array {
  const counts = new Map<string, number>(records.map((r) => [r.hash, 0]));
  let size = 64;
  for (const r of records) {
    size += r.specText.length + r.hash.length + 64;
    for (const h of r.deps) {
      const c = counts.get(h);
      if (c !== undefined) counts.set(h, c + 1);
    }
  }
  const enc = new TextEncoder();
  let out = new Uint8Array(size);
  let used = 0;
  const put = (text: string | Uint8Array) => {
    for (;;) {
      if (typeof text !== "string") {
        if (used + text.length <= out.length) {
          out.set(text, used);
          used += text.length;
          return;
        }
      } else if (used + text.length <= out.length) {
        // Written text is ASCII (Python's ensure_ascii): one byte a character.
        const r = enc.encodeInto(text, out.subarray(used));
        if (r.read === text.length) {
          used += r.written;
          return;
        }
      }
      const grown = new Uint8Array(2 * out.length + 3 * text.length);
      grown.set(out.subarray(0, used));
      out = grown;
    }
  };
  putBuildcacheIndex(records.length, (k) => {
    const r = records[k];
    return {
      hash: r.hash,
      spec: r.specText,
      refCount: counts.get(r.hash)!,
      inBuildcache: r.inBuildcache,
    };
  }, put);
  return out.subarray(0, used);
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
 * written) given to `put` piece by piece, in order: what {@link buildcacheIndexBytes} gathers,
 * for a writer that streams it (no text of the whole index is made).
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
