/**
 * Spack's database JSON (versions 6 to 8): a build cache index or an install tree's
 * `.spack-db/index.json`. The text is parsed once; light records (name, version, hash, arch,
 * compiler) are made up front, spec nodes and DAGs only on demand. Nothing here loads zod
 * (`spackle list` stays fast); `validateIndexDb` checks every record against its schema.
 *
 * @module
 */
import { scalarText } from "../core/json.ts";
import { MemoryPacer } from "../core/memory_pacer.ts";
import { InvalidDataError, NotFoundError, UnsupportedError } from "../errors.ts";
import { archOf, archString, checkNodeIdentity, compilerOf, nodeFromDict } from "../spec/node.ts";
import type { SpecArch, SpecDag, SpecNode } from "../spec/types.ts";
import { filterRecords, type RecordQuery } from "./query.ts";
import { copyBytes, IndexScanner, type RecordFields } from "./scan.ts";
import { IndexReadAhead } from "./read_ahead.ts";

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
  /** The record's `installation_time` (seconds since the epoch), when it has a finite one. */
  installedAt?: number;
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

/** The hash of the `c`/`cxx`/`fortran` provider of a spec dict (the naming compiler when it has none of its own). */
function compilerProvider(spec: Obj): string | undefined {
  const deps = spec.dependencies;
  if (!Array.isArray(deps)) return undefined;
  for (const lang of ["c", "cxx", "fortran"]) {
    for (const d of deps as Obj[]) {
      const v = (d?.parameters as Obj | undefined)?.virtuals;
      if (Array.isArray(v) && v.includes(lang)) return scalarText(d.hash);
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

type Rec = Obj & { spec?: Obj };

/** Spec nodes of records, built on first request from their raw records (`rawOf`). */
function nodesOf(
  label: string,
  rawOf: (hash: string) => Rec | undefined,
): (hash: string) => SpecNode | undefined {
  const built = new Map<string, SpecNode>();
  return (hash) => {
    let n = built.get(hash);
    if (!n) {
      const spec = rawOf(hash)?.spec;
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
}

/**
 * Light records gathered from a database's records (`add`, in file order), then checked and
 * made into an `IndexDb` (`finish`) whose nodes come from `rawOf`.
 */
function recordsBuilder(label: string) {
  const records: IndexRecord[] = [];
  // Position of each hash's record, and the batch its bytes are in (by position).
  const byHash = new Map<string, number>();
  const batches: number[] = [];
  // Compiler providers are named after every record is read: hash of the provider, by record.
  const providers: (string | undefined)[] = [];
  // Light records repeat a few values (arch, compiler, versions): one string each.
  const interned = new Map<string, string>();
  const intern = (s: string | undefined): string | undefined => {
    if (s === undefined) return s;
    const have = interned.get(s);
    if (have !== undefined) return have;
    interned.set(s, s);
    return s;
  };
  // A bad record is reported after the version check, as when the document is parsed first.
  let bad: Error | undefined;
  const addRecord = (hash: string, rec: Rec | undefined, batch = 0) => {
    const spec = rec?.spec;
    if (!spec || typeof spec !== "object" || Array.isArray(spec)) {
      bad ??= new InvalidDataError(
        `Cannot read ${label}: record "database.installs.${hash}" has no spec object`,
      );
      return;
    }
    const own = compilerOf(spec);
    const arch = archOf(spec);
    const t = rec.installation_time;
    addFields(hash, {
      name: scalarText(spec.name),
      version: scalarText(spec.version),
      platform: arch?.platform,
      platformOs: arch?.platformOs,
      target: arch?.target,
      compiler: own ? `${own.name}@${own.version}` : undefined,
      provider: own ? undefined : compilerProvider(spec),
      external: !!spec.external,
      inBuildcache: rec.in_buildcache === true,
      installedAt: typeof t === "number" && Number.isFinite(t) ? t : undefined,
    }, batch);
  };
  // The last arch texts made (records share a few): parts, text. A triple seen before has
  // been checked.
  const archs: { p: string; o: string; t: string; text: string }[] = [];
  const addFields = (hash: string, f: RecordFields, batch = 0) => {
    const external = f.external;
    let arch: SpecArch | undefined;
    let text: string | undefined;
    if (f.platform !== undefined) {
      const p = f.platform, o = f.platformOs!, t = f.target!;
      for (const a of archs) {
        if (a.p === p && a.o === o && a.t === t) {
          text = a.text;
          break;
        }
      }
      if (text === undefined) {
        arch = { platform: p, platformOs: o, target: t };
        text = intern(archString(arch))!;
        if (archs.length >= 8) archs.pop();
        archs.unshift({ p, o, t, text });
      }
    }
    const r: IndexRecord = {
      // Names are mostly unique: not worth a table.
      name: f.name,
      version: intern(f.version)!,
      hash,
      arch: text,
      compiler: intern(f.compiler),
      inBuildcache: f.inBuildcache && !external,
      external,
    };
    if (f.installedAt !== undefined) r.installedAt = f.installedAt;
    // (The scanner checked the name, hash and version of most; a new arch is checked here.)
    if (!f.checked || arch) {
      try {
        checkNodeIdentity(
          { name: r.name, version: r.version, hash, arch },
          () => `${label} record "database.installs.${hash.slice(0, 64)}"`,
        );
      } catch (e) {
        bad ??= e as Error;
        return;
      }
    }
    const provider = f.compiler === undefined ? f.provider : undefined;
    const k = byHash.get(hash);
    if (k !== undefined) {
      // A repeated key: the last value wins, in the first key's place, as JSON.parse has it.
      records[k] = r;
      providers[k] = provider;
      batches[k] = batch;
    } else {
      byHash.set(hash, records.length);
      records.push(r);
      providers.push(provider);
      batches.push(batch);
    }
  };
  /** The batch of a hash's record, if it has one. */
  const batchOf = (hash: string): number | undefined => {
    const k = byHash.get(hash);
    return k === undefined ? undefined : batches[k];
  };
  return { add: addRecord, addFields, batchOf, finish };

  function finish(dbVersionValue: unknown, rawOf: (hash: string) => Rec | undefined): IndexDb {
    const dbVersion = scalarText(dbVersionValue);
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
    if (bad) throw bad;
    // Providers are few (a compiler or two): each one's text made once.
    const named = new Map<string, string | undefined>();
    providers.forEach((p, k) => {
      if (p === undefined) return;
      let text = named.get(p);
      if (text === undefined && !named.has(p)) {
        const at = byHash.get(p);
        const dep = at === undefined ? undefined : records[at];
        text = dep ? intern(`${dep.name}@${dep.version}`) : undefined;
        named.set(p, text);
      }
      if (text !== undefined) records[k].compiler = text;
    });
    // Spec dict format of the records: DB 6 came with spec format 3, 7 with 4, 8 with 5.
    const specFormat = specFormatOfDbVersion(v);
    const node = nodesOf(label, rawOf);
    return {
      dbVersion,
      label,
      records,
      size: records.length,
      get: (hash) => {
        const k = byHash.get(hash);
        return k === undefined ? undefined : records[k];
      },
      has: (hash) => byHash.has(hash),
      node,
      raw: rawOf,
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
        return { root: hash, nodes, formatVersion: specFormat, raw: rawOf(hash)! };
      },
    };
  }
}

/** Nodes from re-parsed batches: the batch of a hash, and the bytes of a batch. */
function batchedRaw(
  batchOf: (hash: string) => number | undefined,
  bytesOf: (k: number) => Uint8Array,
  label: string,
): (hash: string) => Rec | undefined {
  const dec = new TextDecoder();
  // The last batch parsed again (a DAG's records are often close together).
  let cached: { k: number; recs: Record<string, Rec> } | undefined;
  return (hash) => {
    const k = batchOf(hash);
    if (k === undefined) return undefined;
    if (cached?.k !== k) {
      let recs: Record<string, Rec>;
      try {
        recs = JSON.parse(`{${dec.decode(bytesOf(k))}}`);
      } catch (e) {
        throw new InvalidDataError(`Cannot read ${label} again: it changed since it was read`, {
          cause: e,
        });
      }
      cached = { k, recs };
    }
    const rec = cached.recs[hash];
    if (!rec) {
      throw new InvalidDataError(`Cannot read ${label} again: it changed since it was read`);
    }
    return rec;
  };
}

/** Options of {@link readIndexDb}. */
export interface ReadIndexDbOptions {
  /**
   * The index's bytes [start, end) again, for the nodes asked for after the read (a file read
   * back by offset). Without it, the records' bytes are kept in memory.
   */
  reread?: (start: number, end: number) => Uint8Array;
}

/**
 * Parses database text or bytes (or an already parsed value); `label` names it in errors.
 * Versions below 6 and above 8 are refused with `UnsupportedError`, a malformed document with
 * `InvalidDataError`. Text and bytes are never parsed whole: records are parsed a batch at a
 * time into light records (`IndexScanner`) and parsed again, by batch, only when a node, DAG
 * or raw record is asked for, so memory is the bytes plus the light records.
 */
export function parseIndexDb(input: string | Uint8Array | unknown, label = "index"): IndexDb {
  if (typeof input === "string") input = new TextEncoder().encode(input);
  const builder = recordsBuilder(label);
  if (input instanceof Uint8Array) {
    const bytes = input;
    const spans: number[] = [];
    const pacer = new MemoryPacer({ headroom: 8 << 20, every: 4 << 20 });
    const scanner = new IndexScanner(label, {
      fields: (hash, f, k) => builder.addFields(hash, f, k),
      record: (hash, rec, k) => builder.add(hash, rec as Rec | undefined, k),
      batch: (_k, s, e) => {
        spans.push(s, e);
        pacer.add(e - s);
      },
    });
    scanner.feed(bytes);
    const scan = scanner.end();
    if (!scan.hasInstalls) {
      throw new InvalidDataError(`Cannot read ${label}: no "database.installs" object`);
    }
    return builder.finish(
      scan.version,
      batchedRaw(builder.batchOf, (k) => bytes.subarray(spans[2 * k], spans[2 * k + 1]), label),
    );
  }
  const db = (input as { database?: { version?: unknown; installs?: unknown } } | null)
    ?.database;
  if (!db || typeof db !== "object" || !db.installs || typeof db.installs !== "object") {
    throw new InvalidDataError(`Cannot read ${label}: no "database.installs" object`);
  }
  const installs = db.installs as Record<string, Rec>;
  for (const h in installs) builder.add(h, installs[h]);
  return builder.finish(
    db.version,
    (hash) => Object.hasOwn(installs, hash) ? installs[hash] : undefined,
  );
}

/**
 * Reads a database from a stream of its bytes, as `parseIndexDb` parses them, holding only the
 * batch being parsed besides the light records: the records' bytes are read back with
 * `opts.reread` when a node is asked for, else kept.
 */
export async function readIndexDb(
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  label = "index",
  opts: ReadIndexDbOptions = {},
): Promise<IndexDb> {
  const builder = recordsBuilder(label);
  const spans: number[] = [];
  const kept: Uint8Array[] = [];
  const pacer = new MemoryPacer({ limit: 112 << 20, headroom: 16 << 20, every: 4 << 20 });
  const reread = opts.reread;
  const scanner = new IndexScanner(label, {
    fields: (hash, f, k) => builder.addFields(hash, f, k),
    record: (hash, rec, k) => builder.add(hash, rec as Rec | undefined, k),
    batch: (_k, s, e, bytes) => {
      spans.push(s, e);
      if (!reread) kept.push(copyBytes(bytes));
      pacer.add(e - s);
    },
  }, { batchBytes: !reread });
  if (chunks instanceof IndexReadAhead) chunks.attach(scanner);
  for await (const chunk of chunks) scanner.feed(chunk);
  const scan = scanner.end();
  if (!scan.hasInstalls) {
    throw new InvalidDataError(`Cannot read ${label}: no "database.installs" object`);
  }
  const bytesOf = reread
    ? (k: number) => {
      const b = reread(spans[2 * k], spans[2 * k + 1]);
      if (b.length !== spans[2 * k + 1] - spans[2 * k]) {
        throw new InvalidDataError(`Cannot read ${label} again: it changed since it was read`);
      }
      return b;
    }
    : (k: number) => kept[k];
  return builder.finish(scan.version, batchedRaw(builder.batchOf, bytesOf, label));
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
