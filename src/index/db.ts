/**
 * Spack's database JSON (versions 6 to 8): a build cache index or an install tree's
 * `.spack-db/index.json`. The text is parsed once; light records (name, version, hash, arch,
 * compiler) are made up front, spec nodes and DAGs only on demand. Nothing here loads zod
 * (`spackle list` stays fast); `validateIndexDb` checks every record against its schema.
 *
 * @module
 */
import { MemoryPacer } from "../core/memory_pacer.ts";
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

/** The hash of the `c`/`cxx`/`fortran` provider of a spec dict (the naming compiler when it has none of its own). */
function compilerProvider(spec: Obj): string | undefined {
  const deps = spec.dependencies;
  if (!Array.isArray(deps)) return undefined;
  for (const lang of ["c", "cxx", "fortran"]) {
    for (const d of deps as Obj[]) {
      const v = (d?.parameters as Obj | undefined)?.virtuals;
      if (Array.isArray(v) && v.includes(lang)) return String(d.hash);
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

/** Bytes of record text parsed per `JSON.parse` call when an index is read from bytes. */
const BATCH_BYTES = 256 << 10;
/** How far past a batch's target size a split point is looked for before reading record by record. */
const SPLIT_SEARCH = 1 << 20;

const Q = 0x22, BS = 0x5c, LB = 0x7b, RB = 0x7d, LS = 0x5b, RS = 0x5d, COMMA = 0x2c, COLON = 0x3a;

type Rec = Obj & { spec?: Obj };

/** What `scanIndexBytes` found besides the records. */
interface ScannedIndex {
  /** The `database.version` value, parsed. */
  version: unknown;
  /** True when `database.installs` is an object. */
  hasInstalls: boolean;
  /** Byte spans of the batches the records were parsed in (for `batchText`). */
  batchStarts: number[];
  batchEnds: number[];
}

/**
 * Reads an index from its bytes without building the whole document: the structure down to
 * `database.installs` is walked, and the records are parsed a batch of about `BATCH_BYTES` at a
 * time (one `JSON.parse` over their contiguous text, wrapped in braces), `onRecord` getting each
 * (key, value, batch number); only one batch's documents exist at once. A batch ends before a
 * `,"<32-character DAG hash>":{` found past its target size: such a guess is right when the
 * batch parses (a cut anywhere but between two records of `installs` leaves one of the batches
 * unbalanced); when it does not, the rest is walked record by record (strings skipped by
 * `indexOf`, brackets by depth) and cut only between records. `progress(bytes)` is called after
 * every batch. Malformed JSON is an `InvalidDataError` naming the byte offset.
 */
function scanIndexBytes(
  b: Uint8Array,
  label: string,
  onRecord: (hash: string, rec: unknown, batch: number) => void,
  progress: (bytes: number) => void,
): ScannedIndex {
  const n = b.length;
  const fail = (i: number, what: string): never => {
    const got = i >= n ? "the end" : JSON.stringify(String.fromCharCode(b[i]));
    throw new InvalidDataError(
      `Cannot parse ${label}: expected ${what} at byte ${i}, found ${got}`,
    );
  };
  const ws = (i: number): number => {
    while (i < n) {
      const c = b[i];
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
      i++;
    }
    return i;
  };
  // Index just past the string starting (at its quote) at i.
  const skipString = (i: number): number => {
    let j = i + 1;
    for (;;) {
      const q = b.indexOf(Q, j);
      if (q < 0) return fail(n, "the end of a string");
      let k = q - 1, slashes = 0;
      while (b[k] === BS) k--, slashes++;
      if (slashes % 2 === 0) return q + 1;
      j = q + 1;
    }
  };
  const skipValue = (i: number): number => {
    const c = b[i];
    if (c === Q) return skipString(i);
    if (c === LB || c === LS) {
      let depth = 0;
      while (i < n) {
        const d = b[i];
        if (d === Q) {
          i = skipString(i);
          continue;
        }
        if (d === LB || d === LS) depth++;
        else if (d === RB || d === RS) {
          if (--depth === 0) return i + 1;
        }
        i++;
      }
      return fail(n, "a closing bracket");
    }
    const s = i;
    while (i < n) {
      const d = b[i];
      if (
        d === COMMA || d === RB || d === RS || d === 0x20 || d === 0x0a || d === 0x0d ||
        d === 0x09
      ) break;
      i++;
    }
    if (i === s) fail(i, "a value");
    return i;
  };
  const dec = new TextDecoder();
  const parse = (s: number, e: number, what = `at byte ${s}`): unknown => {
    try {
      return JSON.parse(dec.decode(b.subarray(s, e)));
    } catch (err) {
      throw new InvalidDataError(
        `Cannot parse ${label}: bad JSON ${what}: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
  };
  // Calls `each(key, valueStart)` for every member of the object at i (which must be `{`);
  // `each` returns the index just past the value. Returns the index past the `}`.
  const members = (i: number, each: (key: string, at: number) => number): number => {
    if (b[i] !== LB) fail(i, '"{"');
    i = ws(i + 1);
    if (b[i] === RB) return i + 1;
    for (;;) {
      if (b[i] !== Q) fail(i, "a key string");
      const ke = skipString(i);
      const key = String(parse(i, ke));
      i = ws(ke);
      if (b[i] !== COLON) fail(i, '":"');
      i = ws(each(key, ws(i + 1)));
      if (b[i] === COMMA) i = ws(i + 1);
      else if (b[i] === RB) return i + 1;
      else fail(i, '"," or "}"');
    }
  };
  const isB32 = (c: number) => (c >= 0x61 && c <= 0x7a) || (c >= 0x32 && c <= 0x37);
  // The index of the `,` before the first `"<32 base32>":{` key at or after `from`, or -1.
  const findSplit = (from: number): number => {
    let j = from;
    const stop = Math.min(n, from + SPLIT_SEARCH);
    while (j < stop) {
      const q = b.indexOf(Q, j);
      if (q < 0 || q >= stop) return -1;
      j = q + 1;
      if (b[q + 33] !== Q) continue;
      let ok = true;
      for (let k = q + 1; k <= q + 32; k++) {
        if (!isB32(b[k])) {
          ok = false;
          break;
        }
      }
      if (!ok) continue;
      const c = ws(q + 34);
      if (b[c] !== COLON || b[ws(c + 1)] !== LB) continue;
      let p = q - 1;
      while (p > from && (b[p] === 0x20 || b[p] === 0x0a || b[p] === 0x0d || b[p] === 0x09)) p--;
      if (b[p] === COMMA) return p;
    }
    return -1;
  };
  const out: ScannedIndex = {
    version: undefined,
    hasInstalls: false,
    batchStarts: [],
    batchEnds: [],
  };
  // Parses the records in [s, e) (members of `installs`, no trailing comma) as one batch.
  const batch = (s: number, e: number, strict: boolean): boolean => {
    let doc: unknown;
    try {
      doc = JSON.parse(`{${dec.decode(b.subarray(s, e))}}`);
    } catch (err) {
      if (!strict) return false;
      throw new InvalidDataError(
        `Cannot parse ${label}: bad JSON in the records at bytes ${s} to ${e}: ${
          (err as Error).message
        }`,
        { cause: err },
      );
    }
    const k = out.batchStarts.length;
    out.batchStarts.push(s);
    out.batchEnds.push(e);
    const recs = doc as Record<string, unknown>;
    for (const hash in recs) onRecord(hash, recs[hash], k);
    progress(e - s);
    return true;
  };
  // Reads the records of the `installs` object at i; returns the index past its `}`.
  const installs = (i: number): number => {
    i = ws(i + 1);
    if (b[i] === RB) return i + 1;
    // Guessed cuts while they hold.
    for (;;) {
      if (i + BATCH_BYTES >= n) break;
      const cut = findSplit(i + BATCH_BYTES);
      if (cut < 0 || !batch(i, cut, false)) break;
      i = ws(cut + 1);
    }
    // The rest, record by record.
    let s = i;
    for (;;) {
      if (b[i] !== Q) fail(i, "a key string");
      i = ws(skipString(i));
      if (b[i] !== COLON) fail(i, '":"');
      const e = skipValue(ws(i + 1));
      i = ws(e);
      if (b[i] === RB) {
        batch(s, e, true);
        return i + 1;
      }
      if (b[i] !== COMMA) fail(i, '"," or "}"');
      i = ws(i + 1);
      if (e - s >= BATCH_BYTES) {
        batch(s, e, true);
        s = i;
      }
    }
  };
  let i = ws(0);
  // A UTF-8 byte order mark is tolerated, as decoding the text would drop it.
  if (b[i] === 0xef && b[i + 1] === 0xbb && b[i + 2] === 0xbf) i = ws(i + 3);
  i = members(i, (key, at) => {
    if (key !== "database" || b[at] !== LB) return skipValue(at);
    return members(at, (k, v) => {
      if (k === "version") {
        const e = skipValue(v);
        out.version = parse(v, e);
        return e;
      }
      if (k !== "installs" || b[v] !== LB) return skipValue(v);
      out.hasInstalls = true;
      return installs(v);
    });
  });
  i = ws(i);
  if (i < n) fail(i, "the end of the document");
  return out;
}

/**
 * Parses database text or bytes (or an already parsed value); `label` names it in errors.
 * Versions below 6 and above 8 are refused with `UnsupportedError`, a malformed document with
 * `InvalidDataError`. Text and bytes are never parsed whole: records are parsed a batch at a
 * time into light records (`scanIndexBytes`) and parsed again, by batch, only when a node, DAG
 * or raw record is asked for, so memory is the bytes plus the light records.
 */
export function parseIndexDb(input: string | Uint8Array | unknown, label = "index"): IndexDb {
  if (typeof input === "string") input = new TextEncoder().encode(input);
  const records: IndexRecord[] = [];
  const byHash = new Map<string, IndexRecord>();
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
  const addRecord = (hash: string, rec: Rec | undefined) => {
    const spec = rec?.spec;
    if (!spec || typeof spec !== "object" || Array.isArray(spec)) {
      bad ??= new InvalidDataError(
        `Cannot read ${label}: record "database.installs.${hash}" has no spec object`,
      );
      return;
    }
    const external = !!spec.external;
    const own = compilerOf(spec);
    const r: IndexRecord = {
      name: intern(String(spec.name))!,
      version: intern(String(spec.version ?? ""))!,
      hash,
      arch: intern(archString(archOf(spec))),
      compiler: own ? intern(`${own.name}@${own.version}`) : undefined,
      inBuildcache: rec.in_buildcache === true && !external,
      external,
    };
    try {
      checkNodeIdentity(
        { name: r.name, version: r.version, hash, arch: archOf(spec) },
        `${label} record "database.installs.${hash.slice(0, 64)}"`,
      );
    } catch (e) {
      bad ??= e as Error;
      return;
    }
    const provider = own ? undefined : compilerProvider(spec);
    const old = byHash.get(hash);
    if (old) {
      // A repeated key: the last value wins, in the first key's place, as JSON.parse has it.
      const k = records.indexOf(old);
      records[k] = r;
      providers[k] = provider;
    } else {
      records.push(r);
      providers.push(provider);
    }
    byHash.set(hash, r);
  };
  let dbVersionValue: unknown;
  let rawOf: (hash: string) => Rec | undefined;
  if (input instanceof Uint8Array) {
    const bytes = input;
    const batchOf = new Map<string, number>();
    const pacer = new MemoryPacer({ headroom: 8 << 20, every: 512 << 10 });
    const scan = scanIndexBytes(bytes, label, (hash, rec, k) => {
      batchOf.set(hash, k);
      addRecord(hash, rec as Rec | undefined);
    }, (n) => pacer.add(n));
    if (!scan.hasInstalls) {
      throw new InvalidDataError(`Cannot read ${label}: no "database.installs" object`);
    }
    dbVersionValue = scan.version;
    const dec = new TextDecoder();
    // The last batch parsed again (a DAG's records are often close together).
    let cached: { k: number; recs: Record<string, Rec> } | undefined;
    rawOf = (hash) => {
      const k = batchOf.get(hash);
      if (k === undefined) return undefined;
      if (cached?.k !== k) {
        const text = dec.decode(bytes.subarray(scan.batchStarts[k], scan.batchEnds[k]));
        cached = { k, recs: JSON.parse(`{${text}}`) };
      }
      return cached.recs[hash];
    };
  } else {
    const db = (input as { database?: { version?: unknown; installs?: unknown } } | null)
      ?.database;
    if (!db || typeof db !== "object" || !db.installs || typeof db.installs !== "object") {
      throw new InvalidDataError(`Cannot read ${label}: no "database.installs" object`);
    }
    dbVersionValue = db.version;
    const installs = db.installs as Record<string, Rec>;
    rawOf = (hash) => Object.hasOwn(installs, hash) ? installs[hash] : undefined;
    for (const h in installs) addRecord(h, installs[h]);
  }
  const dbVersion = String(dbVersionValue ?? "");
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
  providers.forEach((p, k) => {
    const dep = p === undefined ? undefined : byHash.get(p);
    if (dep) records[k].compiler = intern(`${dep.name}@${dep.version}`);
  });
  // Spec dict format of the records: DB 6 came with spec format 3, 7 with 4, 8 with 5.
  const specFormat = specFormatOfDbVersion(v);
  const built = new Map<string, SpecNode>();
  const node = (hash: string): SpecNode | undefined => {
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
  return {
    dbVersion,
    label,
    records,
    size: records.length,
    get: (hash) => byHash.get(hash),
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
