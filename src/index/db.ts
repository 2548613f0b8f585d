/**
 * Spack's database JSON (versions 6 to 8): a build cache index or an install tree's
 * `.spack-db/index.json`. The text is parsed once; light records (name, version, hash, arch,
 * compiler) are made up front, spec nodes and DAGs only on demand. Nothing here loads zod
 * (`spackle list` stays fast); `validateIndexDb` checks every record against its schema.
 *
 * @module
 */
import { InvalidDataError, NotFoundError, UnsupportedError } from "../errors.ts";
import { archOf, archString, checkNodeIdentity, compilerOf, nodeFromDict } from "../spec/node.ts";
import type { SpecDag, SpecNode } from "../spec/types.ts";
import { filterRecords, type RecordQuery } from "./query.ts";

type Obj = Record<string, unknown>;

/** The database versions spackle reads (Spack reads 6 and newer; 8 is Spack 1.x). */
export const DB_VERSIONS = { oldest: 6, newest: 8 } as const;

/** The spec-file format of the node dicts in a database version (6 -> 3, 7 -> 4, 8 -> 5). */
export function specFormatOfDbVersion(dbVersion: number): number {
  return dbVersion >= 8 ? 5 : dbVersion === 7 ? 4 : 3;
}

/** `platform-os-target` of a node (for records built from spec files instead of an index). */
export function archOfNode(n: SpecNode): string | undefined {
  return archString(n.arch);
}

/** One record of an index, without its spec built. */
export interface IndexRecord {
  name: string;
  version: string;
  /** The DAG hash (the record's key). */
  hash: string;
  /** `platform-os-target`, when the spec has an arch. */
  arch?: string;
  /** `name@version` of the compiler: the node attribute, else the `c`/`cxx`/`fortran` provider. */
  compiler?: string;
  /** True when the record says the spec is in the build cache (never for externals). */
  inBuildcache: boolean;
  /** True for external specs. */
  external: boolean;
}

/** A query over an index; every given field must match. */
export interface IndexQuery {
  name?: string;
  /** Exact version, or a prefix ending in `.` / `*` (`1.2.*` matches `1.2.3`). */
  version?: string;
  /** A DAG hash prefix (a leading `/` is ignored). */
  hashPrefix?: string;
  /** `platform-os-target`, or any of its parts (`linux`, `x86_64`, `linux-debian12`). */
  arch?: string;
  /** Only records in the build cache. */
  inBuildcache?: boolean;
}

/** A parsed database. */
export interface IndexDb {
  /** The `database.version` string. */
  dbVersion: string;
  /** Records in file order. */
  records: IndexRecord[];
  /** Number of records. */
  size: number;
  /** The record of a hash. */
  get(hash: string): IndexRecord | undefined;
  /** True when the index has a record for `hash`. */
  has(hash: string): boolean;
  /** The spec node of a hash (built on first request), or undefined. */
  node(hash: string): SpecNode | undefined;
  /** The DAG rooted at `hash` from the index's records (dependencies the index lacks are absent). */
  dag(hash: string): SpecDag | undefined;
  /**
   * The spec DAG of one record with its dependencies (every type) resolved from the index.
   * Dependencies the index lacks are left out (Spack tolerates them too); `missing` lists them.
   * A hash with no record is a `NotFoundError`.
   */
  spec(hash: string): SpecDag & { missing: string[] };
  /** The raw record (`{spec, ref_count, ...}`) of a hash, as written. */
  raw(hash: string): Obj | undefined;
  /** Records matching `q`, in file order. */
  query(q: IndexQuery): IndexRecord[];
  /**
   * Records matching a spec query (text as `parseQuery` in `query.ts` reads it: version
   * ranges, lists, `%compiler`, arch parts; or already parsed), in file order.
   */
  find(query: string | RecordQuery): IndexRecord[];
  /** The label errors name. */
  label: string;
}

/** `name@version` of the naming compiler: the node's own, else its c/cxx/fortran provider. */
function compilerText(spec: Obj, installs: Record<string, { spec?: Obj }>): string | undefined {
  const own = compilerOf(spec);
  if (own) return `${own.name}@${own.version}`;
  const deps = spec.dependencies;
  if (!Array.isArray(deps)) return undefined;
  for (const lang of ["c", "cxx", "fortran"]) {
    for (const d of deps as Obj[]) {
      const v = (d?.parameters as Obj | undefined)?.virtuals;
      if (Array.isArray(v) && v.includes(lang)) {
        const dep = installs[String(d.hash)]?.spec;
        if (dep) return `${dep.name}@${dep.version}`;
      }
    }
  }
  return undefined;
}

function versionMatches(have: string, want: string): boolean {
  if (want.endsWith("*")) return have.startsWith(want.slice(0, -1));
  if (want.endsWith(".")) return have.startsWith(want);
  return have === want;
}

function archMatches(have: string | undefined, want: string): boolean {
  if (!have) return false;
  if (have === want) return true;
  const h = have.split("-");
  const w = want.split("-");
  // A contiguous run of parts: "linux", "debian12", "x86_64", "linux-debian12", ...
  for (let i = 0; i + w.length <= h.length; i++) {
    if (w.every((p, j) => h[i + j] === p)) return true;
  }
  return false;
}

/** Records matching `q` among `records`. */
export function queryRecords(records: readonly IndexRecord[], q: IndexQuery): IndexRecord[] {
  const prefix = q.hashPrefix?.replace(/^\//, "").toLowerCase();
  return records.filter((r) =>
    (q.name === undefined || r.name === q.name) &&
    (q.version === undefined || versionMatches(r.version, q.version)) &&
    (!prefix || r.hash.startsWith(prefix)) &&
    (q.arch === undefined || archMatches(r.arch, q.arch)) &&
    (q.inBuildcache === undefined || r.inBuildcache === q.inBuildcache)
  );
}

/**
 * Parses database text (or an already parsed value); `label` names it in errors. Versions
 * below 6 and above 8 are refused with `UnsupportedError`, a malformed document with
 * `InvalidDataError`.
 */
export function parseIndexDb(input: string | Uint8Array | unknown, label = "index"): IndexDb {
  let doc: unknown = input;
  if (input instanceof Uint8Array) input = new TextDecoder().decode(input);
  if (typeof input === "string") {
    try {
      doc = JSON.parse(input);
    } catch (e) {
      throw new InvalidDataError(`Cannot parse ${label}: ${(e as Error).message}`, { cause: e });
    }
  }
  const db = (doc as { database?: { version?: unknown; installs?: unknown } } | null)?.database;
  if (!db || typeof db !== "object" || !db.installs || typeof db.installs !== "object") {
    throw new InvalidDataError(`Cannot read ${label}: no "database.installs" object`);
  }
  const dbVersion = String(db.version ?? "");
  const v = Number(dbVersion);
  if (!(v >= DB_VERSIONS.oldest)) {
    throw new UnsupportedError(
      `Cannot read ${label}: database version "${dbVersion}" is older than 6 (Spack cannot read it either)`,
    );
  }
  if (v > DB_VERSIONS.newest) {
    throw new UnsupportedError(
      `Cannot read ${label}: database version "${dbVersion}" is newer than 8, the newest spackle knows`,
    );
  }
  const installs = db.installs as Record<string, Obj & { spec?: Obj }>;
  const records: IndexRecord[] = [];
  const byHash = new Map<string, IndexRecord>();
  for (const hash in installs) {
    const rec = installs[hash];
    const spec = rec?.spec;
    if (!spec || typeof spec !== "object" || Array.isArray(spec)) {
      throw new InvalidDataError(
        `Cannot read ${label}: record "database.installs.${hash}" has no spec object`,
      );
    }
    const external = !!spec.external;
    const r: IndexRecord = {
      name: String(spec.name),
      version: String(spec.version ?? ""),
      hash,
      arch: archString(archOf(spec)),
      compiler: compilerText(spec, installs),
      inBuildcache: rec.in_buildcache === true && !external,
      external,
    };
    checkNodeIdentity(
      { name: r.name, version: r.version, hash, arch: archOf(spec) },
      `${label} record "database.installs.${hash.slice(0, 64)}"`,
    );
    records.push(r);
    byHash.set(hash, r);
  }
  // Spec dict format of the records: DB 6 came with spec format 3, 7 with 4, 8 with 5.
  const specFormat = specFormatOfDbVersion(v);
  const built = new Map<string, SpecNode>();
  const node = (hash: string): SpecNode | undefined => {
    let n = built.get(hash);
    if (!n) {
      const spec = installs[hash]?.spec;
      if (!spec) return undefined;
      const deps = spec.dependencies;
      if (typeof spec.name !== "string" || (deps !== undefined && typeof deps !== "object")) {
        throw new InvalidDataError(
          `Cannot read ${label}: the spec at "database.installs.${hash}.spec" has no name or bad dependencies`,
        );
      }
      if (Array.isArray(deps)) {
        deps.forEach((d: unknown, i) => {
          const e = d as Obj | null;
          if (!e || typeof e !== "object" || typeof e.hash !== "string") {
            throw new InvalidDataError(
              `Cannot read ${label}: the spec at "database.installs.${hash}.spec.dependencies[${i}]" has no hash string`,
            );
          }
        });
      }
      n = nodeFromDict(spec.hash ? spec : { ...spec, hash }, hash);
      built.set(hash, n);
    }
    return n;
  };
  return {
    dbVersion,
    label,
    records,
    size: records.length,
    get: (hash) => byHash.get(hash),
    has: (hash) => byHash.has(hash),
    node,
    raw: (hash) => installs[hash],
    query: (q) => queryRecords(records, q),
    find: (q) => filterRecords(records, q),
    spec(hash) {
      const root = node(hash);
      if (!root) throw new NotFoundError(`Cannot find spec "${hash}" in ${label}`);
      const nodes = new Map<string, SpecNode>([[root.hash, root]]);
      const missing: string[] = [];
      const stack = [root];
      while (stack.length) {
        const n = stack.pop()!;
        for (const d of n.dependencies) {
          if (nodes.has(d.hash)) continue;
          const dn = node(d.hash);
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
        formatVersion: specFormat,
        raw: { spec: { nodes: [...nodes.values()].map((n) => n.raw) } },
        missing,
      };
    },
    dag(hash) {
      const root = node(hash);
      if (!root) return undefined;
      const nodes = new Map<string, SpecNode>();
      const stack = [root];
      while (stack.length) {
        const n = stack.pop()!;
        if (nodes.has(n.hash)) continue;
        nodes.set(n.hash, n);
        for (const d of n.dependencies) {
          const dn = node(d.hash);
          if (dn && !nodes.has(dn.hash)) stack.push(dn);
        }
      }
      // The root first, as in a spec file.
      return { root: hash, nodes, formatVersion: specFormat, raw: installs[hash] };
    },
  };
}

/**
 * Checks every record of `db` against Spack's record schema (zod, loaded here), throwing an
 * `InvalidDataError` that names the label and the JSON path of the first bad value.
 */
export async function validateIndexDb(db: IndexDb): Promise<void> {
  const { IndexRecordJson } = await import("../spec/schema.ts");
  for (const r of db.records) {
    const res = IndexRecordJson.safeParse(db.raw(r.hash));
    if (!res.success) {
      const issue = res.error.issues[0];
      const path = issue.path.map((p) => typeof p === "number" ? `[${p}]` : `.${String(p)}`)
        .join("");
      throw new InvalidDataError(
        `Cannot read ${db.label}: "database.installs.${r.hash}${path}": ${issue.message}`,
      );
    }
  }
}
