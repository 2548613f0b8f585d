/**
 * Spack's database JSON (a build-cache index, or an install tree's `.spack-db/index.json`),
 * versions 6 to 8, read lazily: the text is parsed once, each record gets a light summary,
 * and a record's spec is shape-checked and mapped only when it is used.
 *
 * @module
 */
import { InvalidDataError, NotFoundError, UnsupportedError } from "../errors.ts";
import { archString, nodeFromDict, parseNodeJson } from "../spec/parse.ts";
import type { SpecDag, SpecNode } from "../spec/types.ts";
import { filterRecords, type RecordQuery } from "./query.ts";

type Obj = Record<string, unknown>;

/** The light summary of one index record (no spec object is built for it). */
export interface IndexRecord {
  name: string;
  version: string;
  /** The record's key: the DAG hash. */
  hash: string;
  /** `platform-os-target`, when the node has an arch. */
  arch?: string;
  /** `name@version` of the compiler: the node's own (formats <= 4), else its c/cxx/fortran provider. */
  compiler?: string;
  /** `in_buildcache` (false when absent, as in install databases). */
  inBuildcache: boolean;
  /** True for externals (Spack counts them as available from any mirror, never fetched). */
  external: boolean;
}

/** Oldest and newest database versions read. */
export const INDEX_VERSIONS = { min: 6, max: 8 } as const;

/** The spec-file format of the node dicts in a database version (6 -> 3, 7 -> 4, 8 -> 5). */
export function specFormatOfDbVersion(dbVersion: number): number {
  return dbVersion >= 8 ? 5 : dbVersion === 7 ? 4 : 3;
}

function archText(a: unknown): string | undefined {
  if (!a || typeof a !== "object") return undefined;
  const x = a as Obj;
  const t = x.target;
  const target = typeof t === "string" ? t : String((t as Obj | null)?.name ?? "");
  return `${x.platform}-${x.platform_os}-${target}`;
}

/** A parsed database. */
export class SpackIndex {
  /** `database.version` as written. */
  readonly dbVersion: string;
  /** Record summaries in file order. */
  readonly records: IndexRecord[];
  readonly label: string;
  readonly #installs: Record<string, Obj>;
  readonly #byHash = new Map<string, IndexRecord>();
  readonly #nodes = new Map<string, SpecNode>();

  /** Use `parseIndexJson`. */
  constructor(installs: Record<string, Obj>, dbVersion: string, label: string) {
    this.#installs = installs;
    this.dbVersion = dbVersion;
    this.label = label;
    this.records = [];
    for (const hash in installs) {
      const rec = installs[hash];
      const spec = rec?.spec as Obj | undefined;
      if (!spec || typeof spec !== "object" || typeof spec.name !== "string") {
        throw new InvalidDataError(
          `Cannot read ${label}: record "database.installs.${hash}" has no spec with a name`,
        );
      }
      const r: IndexRecord = {
        name: spec.name,
        version: String(spec.version ?? ""),
        hash,
        arch: archText(spec.arch),
        compiler: undefined,
        inBuildcache: rec.in_buildcache === true,
        external: !!spec.external,
      };
      this.records.push(r);
      this.#byHash.set(hash, r);
    }
    for (const r of this.records) r.compiler = this.#compilerText(r.hash);
  }

  /** Number of records. */
  get size(): number {
    return this.records.length;
  }

  /** The summary of one hash. */
  get(hash: string): IndexRecord | undefined {
    return this.#byHash.get(hash);
  }

  /** True when the index has a record for `hash`. */
  has(hash: string): boolean {
    return this.#byHash.has(hash);
  }

  /** The record as written (`spec`, `ref_count`, `in_buildcache`, `path`, ...). */
  rawRecord(hash: string): Readonly<Obj> | undefined {
    return this.#installs[hash];
  }

  /**
   * The node of one record, shape-checked on first use (an `InvalidDataError` names the
   * record); undefined when the index has no such record.
   */
  node(hash: string): SpecNode | undefined {
    let n = this.#nodes.get(hash);
    if (n) return n;
    const rec = this.#installs[hash];
    if (!rec) return undefined;
    const spec = rec.spec as Obj;
    // Install records may leave out the node's own hash: the key is the hash.
    const checked = parseNodeJson(
      spec.hash === undefined ? { ...spec, hash } : spec,
      this.label,
      `database.installs.${hash}.spec`,
    );
    n = checked.hash === hash ? checked : nodeFromDict(checked.raw, hash);
    this.#nodes.set(hash, n);
    return n;
  }

  /**
   * The spec DAG of one record with its dependencies (every type) resolved from the index.
   * Dependencies the index lacks are left out (Spack tolerates them too); `missing` lists them.
   * A hash with no record is a `NotFoundError`.
   */
  spec(hash: string): SpecDag & { missing: string[] } {
    const root = this.node(hash);
    if (!root) throw new NotFoundError(`Cannot find spec "${hash}" in ${this.label}`);
    const nodes = new Map<string, SpecNode>();
    const missing: string[] = [];
    const stack = [root];
    nodes.set(root.hash, root);
    while (stack.length) {
      const n = stack.pop()!;
      for (const d of n.dependencies) {
        if (nodes.has(d.hash)) continue;
        const dn = this.node(d.hash);
        if (!dn) {
          if (!missing.includes(d.hash)) missing.push(d.hash);
          continue;
        }
        nodes.set(d.hash, dn);
        stack.push(dn);
      }
    }
    return {
      root: root.hash,
      nodes,
      formatVersion: specFormatOfDbVersion(Number(this.dbVersion)),
      raw: { spec: { nodes: [...nodes.values()].map((n) => n.raw) } },
      missing,
    };
  }

  /** The records matching a query (text as `parseQuery` reads it, or parsed), in file order. */
  find(query: string | RecordQuery): IndexRecord[] {
    return filterRecords(this.records, query);
  }

  /** The naming compiler of a record without building nodes. */
  #compilerText(hash: string): string | undefined {
    const spec = this.#installs[hash].spec as Obj;
    const c = spec.compiler as Obj | undefined;
    if (c && typeof c === "object" && typeof c.name === "string") {
      return `${c.name}@${String(c.version ?? "").replace(/^=/, "")}`;
    }
    const ann = spec.annotations as Obj | undefined;
    if (ann && typeof ann.compiler === "string") return ann.compiler.replace("@=", "@");
    const deps = spec.dependencies;
    if (!Array.isArray(deps)) return undefined;
    for (const lang of ["c", "cxx", "fortran"]) {
      for (const d of deps as Obj[]) {
        const v = (d?.parameters as Obj | undefined)?.virtuals;
        if (Array.isArray(v) && v.includes(lang)) {
          const dep = this.#byHash.get(String(d.hash));
          if (dep) return `${dep.name}@${dep.version}`;
        }
      }
    }
    return undefined;
  }
}

/**
 * Parses database JSON text (or bytes) once. Versions 6 to 8 are read; older ones are an
 * `UnsupportedError` (Spack cannot read them either), newer ones too (Spack skips them).
 * `label` names the file in errors.
 */
export function parseIndexJson(input: string | Uint8Array, label = "index"): SpackIndex {
  const text = typeof input === "string" ? input : new TextDecoder().decode(input);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new InvalidDataError(`Cannot parse ${label}: ${(e as Error).message}`, { cause: e });
  }
  const db = (doc as { database?: Obj } | null)?.database;
  if (!db || typeof db !== "object") {
    throw new InvalidDataError(`Cannot read ${label}: no "database" object`);
  }
  const installs = db.installs;
  if (!installs || typeof installs !== "object" || Array.isArray(installs)) {
    throw new InvalidDataError(`Cannot read ${label}: no "database.installs" object`);
  }
  const dbVersion = String(db.version ?? "");
  const v = Number(dbVersion);
  if (!/^\d+$/.test(dbVersion) || v < INDEX_VERSIONS.min) {
    throw new UnsupportedError(
      `Cannot read ${label}: database version "${dbVersion}" is older than ${INDEX_VERSIONS.min} (Spack cannot read it either)`,
    );
  }
  if (v > INDEX_VERSIONS.max) {
    throw new UnsupportedError(
      `Cannot read ${label}: database version "${dbVersion}" is newer than ${INDEX_VERSIONS.max}, the newest spackle reads`,
    );
  }
  return new SpackIndex(installs as Record<string, Obj>, dbVersion, label);
}

/** `platform-os-target` of a node (for records built from spec files instead of an index). */
export function archOfNode(n: SpecNode): string | undefined {
  return archString(n.arch);
}
