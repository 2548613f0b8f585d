/**
 * Installing specs from build caches into a Spack install tree.
 *
 * Two phases. Stage: for every spec of the runtime closure that is not installed yet, in
 * parallel (`jobs`), stream fetch -> verify -> gunzip -> untar into a staging directory inside
 * the root -> relocate. Commit: only when every spec staged, under the root's lock, rename
 * each staged prefix into place (dependencies first) and record it in the database. A failure
 * in the first phase installs nothing; the final prefixes only ever appear by rename, so a
 * killed process leaves no partial prefix (the next run deletes the stale staging
 * directories).
 *
 * The lock is a directory, `ROOT/.spack-db/spackle.lock` (created with `mkdir`, which is
 * atomic), holding the owner's pid; a lock whose owner is dead is taken over.
 *
 * @module
 */
import {
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, resolve } from "node:path";
import { createHash } from "node:crypto";
import { hostname } from "node:os";
import { pidAlive, removeDeadOwners } from "../core/pid.ts";
import process from "node:process";
import { InvalidDataError, NotFoundError, SpackleError, UsageError } from "../errors.ts";
import { gunzipStream } from "../core/gzip.ts";
import { MemoryPacer } from "../core/memory.ts";
import { buildIndexJson, type IndexWriteRecord } from "../index/writer.ts";
import type { Entry, EntryRef, ReadOptions } from "../layout/types.ts";
import type { SpecDag, SpecNode } from "../spec/types.ts";
import { extractTarball, speculationHolds } from "./extract.ts";
import {
  applyRelocation,
  dropMissingRpaths,
  parseBuildinfo,
  planRelocation,
  prefixMap,
  relocationError,
} from "./relocate.ts";
import { filterShebang, SBANG_SCRIPT } from "./sbang.ts";

/** Spack 1.x's default install tree projection. */
export const DEFAULT_PROJECTION =
  "{architecture.platform}-{architecture.target}/{name}-{version}-{hash}";

/**
 * What install reads from a mirror: the layout's `Mirror`/`MirrorSet` (from `openMirror`,
 * `openMirrors` in src/layout/mirror.ts) fit.
 */
export interface InstallSource {
  /** The one entry in the build cache a query names (NotFoundError, UsageError when several). */
  resolve(query: string, opts?: { signal?: AbortSignal }): Promise<EntryRef>;
  /** The entry of a full DAG hash, metadata fetched and checked. */
  entry(hash: string, opts?: ReadOptions): Promise<Entry>;
}

/** Progress events. */
export interface InstallProgress {
  phase: "resolve" | "skip" | "fetch" | "staged" | "installed" | "warning";
  name?: string;
  hash?: string;
  bytes?: number;
  message?: string;
}

/** Options of {@link installSpecs}. */
export interface InstallOptions {
  /** The install tree root. */
  root: string;
  /** Parallel downloads (default 4). */
  jobs?: number;
  signal?: AbortSignal;
  onProgress?: (p: InstallProgress) => void;
  /** Accept unsigned metadata (default false: signatures are required). */
  allowUnsigned?: boolean;
  /** Install tree projection (default {@link DEFAULT_PROJECTION}). */
  projection?: string;
  /**
   * Relocate plain-text files while extracting, checked against the buildinfo afterwards
   * (default true; a package whose check fails is extracted again without it).
   */
  speculate?: boolean;
  /** Install only the named specs, not their dependencies (default false). */
  noDeps?: boolean;
}

/** One installed (or already present) spec. */
export interface InstalledSpec {
  name: string;
  version: string;
  hash: string;
  prefix: string;
  /** False when it was already installed. */
  installed: boolean;
  explicit: boolean;
}

/** What {@link installSpecs} did. */
export interface InstallResult {
  root: string;
  specs: InstalledSpec[];
}

const DB_DIR = ".spack-db";
const STAGING = ".spackle-staging";

/** Formats a projection for a spec node (`{name}`, `{version}`, `{hash}`, `{hash:N}`, arch...). */
export function projectPrefix(
  root: string,
  node: SpecNode,
  projection = DEFAULT_PROJECTION,
): string {
  const rel = projection.replace(/\{([^}]+)\}/g, (_m, key: string) => {
    const [k, arg] = key.split(":");
    switch (k) {
      case "name":
        return node.name;
      case "version":
        return node.version;
      case "hash":
        return arg ? node.hash.slice(0, Number(arg)) : node.hash;
      case "namespace":
        return node.namespace ?? "";
      case "architecture":
        return node.arch ? `${node.arch.platform}-${node.arch.platformOs}-${node.arch.target}` : "";
      case "architecture.platform":
        return node.arch?.platform ?? "";
      case "architecture.os":
      case "architecture.platform_os":
        return node.arch?.platformOs ?? "";
      case "architecture.target":
        return node.arch?.target ?? "";
      case "compiler.name":
        return node.compiler?.name ?? "";
      case "compiler.version":
        return node.compiler?.version ?? "";
      case "compiler":
        return node.compiler ? `${node.compiler.name}-${node.compiler.version}` : "";
      default:
        throw new UsageError(`Cannot use projection "${projection}": unknown field "{${key}}"`);
    }
  });
  if (rel.split("/").some((p) => p === ".." || p === "")) {
    throw new UsageError(`Cannot use projection "${projection}": it gives "${rel}"`);
  }
  return join(root, rel);
}

const RUNTIME = (types: string[]) => types.includes("link") || types.includes("run");

/** Spack's `specs_to_relocate`: root, transitive link deps breadth-first, direct run deps. */
export function specsToRelocate(dag: SpecDag, rootHash: string): SpecNode[] {
  const out: SpecNode[] = [];
  const seen = new Set<string>();
  const add = (n: SpecNode | undefined) => {
    if (!n || seen.has(n.hash)) return;
    seen.add(n.hash);
    if (!n.external) out.push(n);
  };
  const queue = [rootHash];
  const visited = new Set<string>([rootHash]);
  while (queue.length) {
    const h = queue.shift()!;
    const n = dag.nodes.get(h);
    if (!n) continue;
    add(n);
    for (const d of n.dependencies) {
      if (d.depTypes.includes("link") && !visited.has(d.hash)) {
        visited.add(d.hash);
        queue.push(d.hash);
      }
    }
  }
  const root = dag.nodes.get(rootHash);
  for (const d of root?.dependencies ?? []) {
    if (d.depTypes.includes("run")) add(dag.nodes.get(d.hash));
  }
  return out;
}

async function findRoots(
  sources: InstallSource[],
  queries: string[],
  signal?: AbortSignal,
): Promise<{ hash: string; source: InstallSource; ref: EntryRef }[]> {
  const out: { hash: string; source: InstallSource; ref: EntryRef }[] = [];
  for (const q of queries) {
    let found: { hash: string; source: InstallSource; ref: EntryRef } | undefined;
    let missing: unknown;
    for (const source of sources) {
      try {
        const ref = await source.resolve(q, { signal });
        found = { hash: ref.hash, source, ref };
        break;
      } catch (e) {
        if (!(e instanceof NotFoundError)) throw e;
        missing ??= e;
      }
    }
    if (!found) throw missing ?? new NotFoundError(`Cannot find "${q}" in the mirror`);
    if (!out.some((o) => o.hash === found!.hash)) out.push(found);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Database (Spack's DB version 8 `index.json`).

interface DbRecord {
  spec: Record<string, unknown>;
  ref_count: number;
  path: string | null;
  installed: boolean;
  explicit: boolean;
  installation_time: number;
  deprecated_for: string | null;
  /** Written by Spack only when set. */
  origin?: string | null;
}

interface Db {
  database: { version: string; installs: Record<string, DbRecord> };
}

function readDb(root: string): Db {
  const p = join(root, DB_DIR, "index.json");
  if (!existsSync(p)) return { database: { version: "8", installs: {} } };
  try {
    const db = JSON.parse(readFileSync(p, "utf8")) as Db;
    if (!db.database?.installs) throw new Error("no database.installs");
    return db;
  } catch (e) {
    throw new InvalidDataError(`Cannot read the install database "${p}": ${(e as Error).message}`);
  }
}

function writeDb(root: string, db: Db): void {
  // Spack's text (compact, Python floats); ref_count is computed by the writer.
  const records: IndexWriteRecord[] = Object.entries(db.database.installs).map(([hash, r]) => ({
    hash,
    spec: r.spec,
    path: r.path,
    installed: r.installed,
    explicit: r.explicit,
    installationTime: r.installation_time,
    deprecatedFor: r.deprecated_for,
    origin: r.origin,
  }));
  atomicWrite(join(root, DB_DIR, "index.json"), buildIndexJson(records, { kind: "install" }));
}

function atomicWrite(path: string, data: string | Uint8Array, mode = 0o644): void {
  const tmp = `${path}.${hostname()}.${process.pid}.tmp`;
  writeFileSync(tmp, data, { mode });
  renameSync(tmp, path);
}

/** The spec node dict as Spack stores it in the DB (its own raw dict, dependencies included). */
function dbSpec(node: SpecNode): Record<string, unknown> {
  return node.raw;
}

// ---------------------------------------------------------------------------------------------
// Lock.

async function withLock<T>(root: string, signal: AbortSignal | undefined, fn: () => T): Promise<T> {
  const lock = join(root, DB_DIR, "spackle.lock");
  const me = `${hostname()}:${process.pid}`;
  for (let i = 0;; i++) {
    signal?.throwIfAborted();
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, "owner"), me);
      break;
    } catch (e) {
      if ((e as { code?: string }).code !== "EEXIST") throw e;
      let owner = "";
      try {
        owner = readFileSync(join(lock, "owner"), "utf8");
      } catch { /* being created or removed */ }
      const [host, pid] = owner.split(":");
      const stale = owner
        ? host === hostname() && !pidAlive(Number(pid))
        : Date.now() - statSafe(lock) > 10_000;
      if (stale) {
        rmSync(lock, { recursive: true, force: true });
        continue;
      }
      if (i > 6000) {
        throw new SpackleError("conflict", `Cannot lock "${root}": held by ${owner || "?"}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** Spack's `verify.write_manifest` for a prefix staged at `dir` that will live at `prefix`. */
function writeManifestIfMissing(dir: string, prefix: string): void {
  const file = join(dir, ".spack", "install_manifest.json");
  if (existsSync(file)) return;
  const entry = (path: string): Record<string, unknown> => {
    const st = lstatSync(path);
    const e: Record<string, unknown> = { mode: st.mode, owner: st.uid, group: st.gid };
    if (st.isSymbolicLink()) e.dest = readlinkSync(path);
    else if (st.isFile()) {
      const sha1 = createHash("sha1").update(readFileSync(path)).digest();
      e.hash = base32(sha1);
      e.time = st.mtimeMs / 1000;
      e.size = st.size;
    }
    return e;
  };
  const manifest: Record<string, unknown> = {};
  const walk = (d: string, rel: string) => {
    const names = readdirSync(d, { withFileTypes: true });
    const dirs = names.filter((n) => n.isDirectory()).map((n) => n.name);
    const files = names.filter((n) => !n.isDirectory()).map((n) => n.name);
    // os.walk order: the directory's subdirectories then its files, then each subdirectory.
    for (const n of [...dirs, ...files]) manifest[`${prefix}${rel}/${n}`] = entry(join(d, n));
    for (const n of dirs) walk(join(d, n), `${rel}/${n}`);
  };
  mkdirSync(join(dir, ".spack"), { recursive: true });
  walk(dir, "");
  manifest[prefix] = entry(dir);
  writeFileSync(file, JSON.stringify(manifest), { mode: 0o644 });
}

/** RFC 4648 base32 with padding (Python's `base64.b32encode`). */
function base32(b: Uint8Array): string {
  const A = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let out = "";
  let bits = 0;
  let value = 0;
  for (const x of b) {
    value = (value << 8) | x;
    bits += 8;
    while (bits >= 5) {
      out += A[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += A[(value << (5 - bits)) & 31];
  while (out.length % 8) out += "=";
  return out;
}

function lexists(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

function statSafe(p: string): number {
  try {
    return statSync(p).mtimeMs;
  } catch {
    return Date.now();
  }
}

/** Deletes staging directories (`<host>-<pid>-*`) left by processes on this host that died. */
function cleanStaging(root: string): void {
  removeDeadOwners(join(root, STAGING), "");
}

// ---------------------------------------------------------------------------------------------

interface Job {
  node: SpecNode;
  prefix: string;
  /**
   * Opens the tarball. Jobs keep this, the relocation list and the external dependencies
   * instead of their entry and spec DAG: a DAG holds the nodes of every dependency, so keeping
   * one per package would grow with the number of packages times their depth.
   */
  open: (o?: { signal?: AbortSignal }) => Promise<ReadableStream<Uint8Array>>;
  /** `specsToRelocate` of the package's DAG: hashes and prefixes from its own DAG's nodes. */
  reloc: { hash: string; prefix: string }[];
  /** The package's direct external dependencies (recorded in the database). */
  externals: SpecNode[];
  source: InstallSource;
  explicit: boolean;
  /** Set once staged. */
  staged?: string;
  elfFiles?: string[];
  execFiles?: string[];
  stagingDir?: string;
}

/** Runs at most `n` of the given tasks at a time. */
function semaphore(n: number): <T>(task: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async <T>(task: () => Promise<T>): Promise<T> => {
    if (active >= n) await new Promise<void>((r) => waiting.push(r)); // handed a slot
    else active++;
    try {
      return await task();
    } finally {
      const next = waiting.shift();
      if (next) next(); // the slot passes on
      else active--;
    }
  };
}

async function pool<T>(items: T[], jobs: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: unknown;
  const worker = async () => {
    while (next < items.length && failed === undefined) {
      const item = items[next++];
      try {
        await fn(item);
      } catch (e) {
        failed ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(jobs, items.length)) }, worker));
  if (failed !== undefined) throw failed;
}

/**
 * Installs the specs matching `queries` (`name`, `name@version`, `/hash`, `name/hash`) and
 * their runtime dependencies (link and run, never build-only) from `mirror` into
 * `opts.root`, relocated there. Specs already in the root's database are skipped.
 */
export async function installSpecs(
  mirror: InstallSource | InstallSource[],
  queries: string[],
  opts: InstallOptions,
): Promise<InstallResult> {
  const sources = Array.isArray(mirror) ? mirror : [mirror];
  const root = resolve(opts.root);
  const projection = opts.projection ?? DEFAULT_PROJECTION;
  const progress = opts.onProgress ?? (() => {});
  const readOpts = { signal: opts.signal, requireSignature: !opts.allowUnsigned };
  if (queries.length === 0) throw new UsageError("Cannot install: no spec given");
  mkdirSync(join(root, DB_DIR), { recursive: true });
  mkdirSync(join(root, STAGING), { recursive: true });
  cleanStaging(root);

  // Resolve the closure: each root's DAG comes with its entry.
  progress({ phase: "resolve" });
  const roots = await findRoots(sources, queries, opts.signal);
  const entries = new Map<string, { entry: Entry; source: InstallSource }>();
  const getEntry = async (hash: string, prefer: InstallSource) => {
    const have = entries.get(hash);
    if (have) return have;
    let lastErr: unknown;
    for (const source of [prefer, ...sources.filter((s) => s !== prefer)]) {
      try {
        const entry = await source.entry(hash, readOpts);
        const r = { entry, source };
        entries.set(hash, r);
        return r;
      } catch (e) {
        lastErr = e;
        if (!(e instanceof NotFoundError)) throw e;
      }
    }
    throw lastErr;
  };
  const jobsByHash = new Map<string, Job>();
  const order: string[] = []; // dependencies first
  // Metadata of the whole closure is fetched in parallel (bounded), each node once.
  const visiting = new Map<string, Promise<void>>();
  // Metadata is small: many reads at once hide the mirror's latency (two requests an entry).
  const limit = semaphore(Math.max(32, 4 * (opts.jobs ?? 4)));
  // Metadata reads and spec parsing leave garbage that Bun collects late: collections are
  // asked for as it grows (the resident set is looked at after each entry).
  const resolvePacer = new MemoryPacer({ headroom: 16 << 20 });
  // One relocation record a hash, shared by the lists of every package that links it.
  const relocOf = new Map<string, { hash: string; prefix: string }>();
  // The job of a fetched entry; returns the dependencies to visit, with their nodes.
  const addJob = (hash: string, node: SpecNode, entry: Entry, source: InstallSource) => {
    const own = entry.spec;
    const ownNode = own.nodes.get(hash) ?? node;
    jobsByHash.set(hash, {
      node: ownNode,
      open: entry.openTarball,
      reloc: specsToRelocate(own, hash).map((n) => {
        let r = relocOf.get(n.hash);
        if (!r) {
          relocOf.set(n.hash, r = { hash: n.hash, prefix: projectPrefix(root, n, projection) });
        }
        return r;
      }),
      externals: ownNode.dependencies.map((d) => own.nodes.get(d.hash)!).filter((dn) =>
        dn?.external
      ),
      prefix: projectPrefix(root, ownNode, projection),
      source,
      explicit: false,
    });
    if (opts.noDeps) return { direct: [], further: [] };
    const direct = ownNode.dependencies.filter((d) => RUNTIME(d.depTypes)).map((d) =>
      [d.hash, own.nodes.get(d.hash)] as const
    );
    // The rest of the runtime closure, known from this DAG: fetched now rather than a level
    // at a time, so a deep DAG costs one round trip per package, not one per level.
    const further: (readonly [string, SpecNode])[] = [];
    const seen = new Set([hash, ...direct.map(([h]) => h)]);
    const queue = direct.map(([, n]) => n);
    while (queue.length) {
      const n = queue.pop();
      for (const d of n?.dependencies ?? []) {
        const dn = own.nodes.get(d.hash);
        if (!RUNTIME(d.depTypes) || seen.has(d.hash) || !dn) continue;
        seen.add(d.hash);
        further.push([d.hash, dn]);
        queue.push(dn);
      }
    }
    return { direct, further };
  };
  // `node` is the package's node in its dependent's DAG (or the root's own). Only the job's
  // light parts outlive the fetch: the entry and its DAG are dropped before the dependencies
  // are visited, so memory does not grow with the number of packages resolved.
  const visit = (
    hash: string,
    node: SpecNode | undefined,
    source: InstallSource,
  ): Promise<void> => {
    let p = visiting.get(hash);
    if (!p) {
      p = (async () => {
        if (!node || node.external) return;
        const { entry } = await limit(() => getEntry(hash, source));
        entries.delete(hash);
        resolvePacer.check();
        // Made in a function of its own: nothing of the entry stays in this frame while the
        // dependencies are visited.
        const { direct, further } = addJob(hash, node, entry, source);
        // Errors surface through the direct dependencies that lead to these.
        for (const [h, n] of further) visit(h, n, source).catch(() => {});
        await Promise.all(direct.map(([h, n]) => visit(h, n, source)));
        order.push(hash); // after its dependencies
      })();
      visiting.set(hash, p);
    }
    return p;
  };
  await Promise.all(roots.map(async (r) => {
    // Bounded as the dependencies' fetches are: hundreds of roots at once would all be held.
    const { entry, source } = await limit(() => getEntry(r.hash, r.source));
    const node = entry.spec.nodes.get(r.hash);
    await visit(r.hash, node, source);
  }));
  for (const r of roots) {
    const job = jobsByHash.get(r.hash);
    if (job) job.explicit = true;
  }
  visiting.clear();

  // Skip what is installed already.
  const db = readDb(root);
  const todo: Job[] = [];
  const result: InstalledSpec[] = [];
  for (const h of order) {
    const job = jobsByHash.get(h)!;
    const rec = db.database.installs[h];
    if (rec?.installed && rec.path && existsSync(rec.path)) {
      progress({ phase: "skip", name: job.node.name, hash: h });
      result.push({ ...specInfo(job), prefix: rec.path, installed: false });
    } else todo.push(job);
  }

  // Stage everything (parallel), then commit (serial, under the lock).
  // Unique per call, also for two installs started by one process in the same millisecond.
  mkdirSync(join(root, STAGING), { recursive: true });
  const runDir = mkdtempSync(join(root, STAGING, `${hostname()}-${process.pid}-`));
  // Tarballs opened ahead of their turn (see below); any never used are cancelled at the end.
  const ahead = new Map<Job, Promise<ReadableStream<Uint8Array>>>();
  try {
    // One pacer for the extractions running at once (their garbage adds up); extraction
    // makes two bytes of garbage per byte of poorly compressible data, so a wider headroom
    // than the default saves collections.
    const pacer = new MemoryPacer({ headroom: 24 << 20 });
    // Tarball requests are sent ahead: when a package starts, the one `window` places after it
    // is opened (its response waits, body unread, for its turn), so a slow link's round trips
    // are spent while earlier packages extract, and small packages are not bound by latency.
    const jobs = opts.jobs ?? 4;
    const window = 4 * jobs;
    const indexOf = new Map(todo.map((j, i) => [j, i]));
    const openAhead = (job: Job | undefined) => {
      if (!job || ahead.has(job)) return;
      const p = job.open({ signal: opts.signal });
      p.catch(() => {}); // reported when the package takes it
      ahead.set(job, p);
    };
    for (const job of todo.slice(0, window)) openAhead(job);
    await pool(todo, jobs, async (job) => {
      openAhead(todo[indexOf.get(job)! + window]);
      progress({ phase: "fetch", name: job.node.name, hash: job.node.hash });
      const stagingDir = join(runDir, job.node.hash);
      mkdirSync(stagingDir);
      job.stagingDir = stagingDir;
      const label = `${job.node.name}-${job.node.version}-${job.node.hash}`;
      const extract = async (speculate: boolean) => {
        const early = ahead.get(job);
        ahead.delete(job);
        const tarball = await (early ?? job.open({ signal: opts.signal }));
        // The tar reader stops at the end-of-archive marker; the rest of the stream is still
        // read so that the digest and size checks at its end run before anything is committed.
        const reader = tarball.pipeThrough(gunzipStream(label)).getReader();
        const body: AsyncIterable<Uint8Array> = {
          [Symbol.asyncIterator]: () => ({
            next: () => reader.read() as Promise<IteratorResult<Uint8Array>>,
            return: () => Promise.resolve({ done: true, value: undefined }),
          }),
        };
        try {
          const r = await extractTarball(body, stagingDir, {
            label,
            signal: opts.signal,
            speculate: speculate ? { hash: job.node.hash, newPrefix: job.prefix } : undefined,
            pacer,
          });
          while (!(await reader.read()).done) { /* drain: verification happens at the end */ }
          return r;
        } catch (e) {
          await reader.cancel(e).catch(() => {});
          throw e;
        }
      };
      let res = await extract(opts.speculate !== false);
      pacer.check(); // the garbage of the stream's end, before relocation adds its own
      const infoPath = join(res.prefixDir, ".spack", "binary_distribution");
      const info = parseBuildinfo(readFileSync(infoPath, "utf8"));
      const specs = job.reloc.map((r) => ({
        hash: r.hash,
        prefix: jobsByHash.get(r.hash)?.prefix ?? r.prefix,
      }));
      const pairs = prefixMap(info, { root, sbangPath: join(root, "bin", "sbang"), specs });
      if (
        res.speculated &&
        !speculationHolds(
          res.speculated,
          info.hashToPrefix.get(job.node.hash),
          pairs,
          info.relocateTextfiles,
        )
      ) {
        // The in-stream guess was wrong for this package: extract it again, plainly.
        rmSync(stagingDir, { recursive: true, force: true });
        mkdirSync(stagingDir);
        res = await extract(false);
      }
      const plan = planRelocation(
        res.prefixDir,
        info,
        pairs,
        res.entries,
        res.speculated?.files,
      );
      if (plan.problems.length) {
        throw relocationError(label, plan, job.prefix, info.hashToPrefix.get(job.node.hash));
      }
      applyRelocation(res.prefixDir, plan);
      pacer.check();
      job.staged = res.prefixDir;
      job.elfFiles = res.elfFiles;
      job.execFiles = res.execFiles;
      if (res.strippedModes.length) {
        progress({
          phase: "warning",
          name: job.node.name,
          hash: job.node.hash,
          message: `setuid/setgid/sticky bits dropped from ${
            res.strippedModes.slice(0, 5).map((p) => `"${p}"`).join(", ")
          }${res.strippedModes.length > 5 ? ` and ${res.strippedModes.length - 5} more` : ""}`,
        });
      }
      progress({ phase: "staged", name: job.node.name, hash: job.node.hash, bytes: res.bytes });
    });

    // Spack's post-install hook, once every package of this run is staged: RPATH entries
    // that do not exist (where the prefixes of this run will be) are dropped.
    const exists = (p: string) => {
      for (const j of todo) {
        if (j.staged && (p === j.prefix || p.startsWith(j.prefix + "/"))) {
          return lexists(j.staged + p.slice(j.prefix.length));
        }
      }
      return lexists(p);
    };
    for (const job of todo) {
      dropMissingRpaths(job.staged!, job.elfFiles ?? [], exists);
      pacer.add(16 << 10); // the hooks' garbage, per package, as the staging's
    }
    // Spack's sbang hook: executables whose shebang line is too long start with sbang.
    const sbangPath = join(root, "bin", "sbang");
    for (const job of todo) {
      for (const rel of job.execFiles ?? []) {
        const path = join(job.staged!, rel);
        // Only the first line matters: read the whole file only when it changes.
        const fd = openSync(path, "r");
        const head = new Uint8Array(4096);
        let n: number;
        try {
          n = readSync(fd, head, 0, head.byteLength, 0);
        } finally {
          closeSync(fd);
        }
        if (n < 2 || head[0] !== 0x23 || head[1] !== 0x21) continue;
        if (!filterShebang(head.subarray(0, n), sbangPath)) continue;
        const data = readFileSync(path);
        const out = filterShebang(
          new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
          sbangPath,
        );
        if (out) writeFileSync(path, out); // same file (inode and mode kept)
      }
    }

    // Spack's manifest hook: a package whose tarball has no .spack/install_manifest.json gets
    // one describing the installed files (keys are the final paths).
    for (const job of todo) {
      writeManifestIfMissing(job.staged!, job.prefix);
      pacer.add(16 << 10);
    }

    await withLock(root, opts.signal, () => {
      installSbang(root);
      const current = readDb(root);
      const now = Date.now() / 1000;
      for (const job of todo) {
        const h = job.node.hash;
        pacer.add(16 << 10);
        const rec = current.database.installs[h];
        if (!existsSync(job.prefix)) {
          mkdirSync(dirname(job.prefix), { recursive: true });
          renameSync(job.staged!, job.prefix);
          result.push({ ...specInfo(job), prefix: job.prefix, installed: true });
          progress({ phase: "installed", name: job.node.name, hash: h });
        } else {
          // Installed meanwhile by another process (or left by a killed one after its rename:
          // a prefix only appears complete, by rename, so it is kept).
          result.push({ ...specInfo(job), prefix: job.prefix, installed: rec === undefined });
        }
        current.database.installs[h] = {
          spec: dbSpec(job.node),
          ref_count: 0,
          path: job.prefix,
          installed: true,
          explicit: job.explicit || rec?.explicit === true,
          installation_time: rec?.installation_time ?? now,
          deprecated_for: null,
        };
        // Externals the spec depends on are recorded as Spack does (path, not installed by us).
        for (const dn of job.externals) {
          if (!current.database.installs[dn.hash]) {
            current.database.installs[dn.hash] = {
              spec: dbSpec(dn),
              ref_count: 0,
              path: dn.external?.path ?? null,
              installed: true,
              explicit: false,
              installation_time: now,
              deprecated_for: null,
            };
          }
        }
      }
      // Roots asked for explicitly are explicit even when they were installed before.
      for (const r of roots) {
        const rec = current.database.installs[r.hash];
        if (rec) rec.explicit = true;
      }
      writeDb(root, current);
    });
  } finally {
    for (const p of ahead.values()) p.then((s) => s.cancel()).catch(() => {});
    rmSync(runDir, { recursive: true, force: true });
  }

  return { root, specs: result };
}

function specInfo(job: Job) {
  return {
    name: job.node.name,
    version: job.node.version,
    hash: job.node.hash,
    explicit: job.explicit,
  };
}

function installSbang(root: string): void {
  const path = join(root, "bin", "sbang");
  if (existsSync(path) && readFileSync(path, "utf8") === SBANG_SCRIPT) return;
  mkdirSync(join(root, "bin"), { recursive: true });
  atomicWrite(path, SBANG_SCRIPT, 0o755);
}
