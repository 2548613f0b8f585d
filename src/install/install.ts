/**
 * Installing specs from build caches into a Spack install tree.
 *
 * Two phases. Stage: for every spec of the runtime closure that is not installed yet, in
 * parallel (`jobs`), stream fetch -> verify -> gunzip -> untar into a staging directory inside
 * the root -> relocate, holding Spack's prefix lock of each. Commit: only when every spec
 * staged, under Spack's exclusive database lock, rename each staged prefix into place
 * (dependencies first) and record it in the database. A failure in the first phase installs
 * nothing; the final prefixes only ever appear by rename, so a killed process leaves no partial
 * prefix (the next run deletes the stale staging directories).
 *
 * The locks are Spack's own (src/index/install_db.ts), so Spack and spackle can install into
 * one tree at the same time. Nothing is recorded that was not extracted: a prefix that exists
 * but is not in the database is refused (or replaced with `overwrite`).
 *
 * @module
 */
import {
  accessSync,
  closeSync,
  constants as fsConstants,
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
  rmdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, resolve } from "node:path";
import { createHash } from "node:crypto";
import { hostname } from "node:os";
import { pidAlive, removeDeadOwners } from "../core/pid.ts";
import { runPool } from "../core/pool.ts";
import { specsToRelocate } from "../spec/traverse.ts";
import { base32Encode } from "../core/base32.ts";
import { writeFileAtomicSync } from "../core/atomic_file.ts";
import { PyFloat, pyJsonDumps } from "../core/json.ts";
import process from "node:process";
import { NotFoundError, SpackleError, UsageError } from "../errors.ts";
import { gunzipStream } from "../core/gzip.ts";
import { MemoryPacer } from "../core/memory_pacer.ts";
import { INSTALL_DB_DIR, InstallDatabase, type InstallRecord } from "../index/install_db.ts";
import { canExchangePaths, exchangePaths, type HeldLock } from "../core/posix_lock.ts";
import type { Entry, EntryRef, ReadOptions } from "../layout/types.ts";
import { checkSubstitution } from "../layout/substitution.ts";
import { signatureWarning } from "../layout/_read.ts";
import type { SpecDag, SpecNode } from "../spec/types.ts";
import { extractTarball } from "./extract.ts";
import { StreamRelocation } from "./relocate/stream.ts";
import {
  applyRelocation,
  type Buildinfo,
  dropMissingRpaths,
  parseBuildinfo,
  planRelocation,
  prefixMap,
  relocationError,
} from "./relocate.ts";
import { filterShebang, SBANG_SCRIPT } from "./sbang.ts";
import { buildSpecHash, spliceLookup } from "./splice.ts";
import { checkTarget, type TargetCheck } from "./target.ts";

/** Spack 1.x's default install tree projection. */
export const DEFAULT_PROJECTION =
  "{architecture.platform}-{architecture.target}/{name}-{version}-{hash}";

/**
 * What install reads from a mirror: the layout's `Mirror`/`MirrorSet` (from `openMirror`,
 * `openMirrors` in src/layout/open.ts) fit.
 */
export interface InstallSource {
  /** The one entry in the build cache a query names (NotFoundError, UsageError when several). */
  resolve(query: string, opts?: { signal?: AbortSignal }): Promise<EntryRef>;
  /** The entry of a full DAG hash, metadata fetched and checked. */
  entry(hash: string, opts?: ReadOptions): Promise<Entry>;
  /** Entry references matching a query, those not in the cache included (externals). */
  list?(query: string, opts?: { signal?: AbortSignal }): Promise<EntryRef[]>;
  /** The index node of a hash, for specs the index lists but the cache does not hold. */
  indexNode?(hash: string, signal?: AbortSignal): Promise<SpecNode | undefined>;
}

/** Progress events. */
export interface InstallProgress {
  phase: "resolve" | "skip" | "fetch" | "staged" | "installed" | "external" | "warning" | "wait";
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
   * Relocate plain-text files while extracting, settled against the buildinfo afterwards
   * (default true; a file relocated on a wrong guess is put back from its staged copy).
   */
  speculate?: boolean;
  /** Install only the named specs, not their dependencies (default false). */
  noDeps?: boolean;
  /**
   * DAG hashes marked explicit (default: every spec the queries name); an environment's
   * roots are, its other specs are not.
   */
  explicit?: Set<string>;
  /**
   * Replace prefixes that exist but are not in the database, and reinstall the requested
   * specs when installed already (default false: such a prefix is refused).
   */
  overwrite?: boolean;
  /** Seconds to wait for Spack's database and prefix locks (default 60; 0: forever). */
  lockTimeout?: number;
  /**
   * Target checks (default `warn`): a spec for another platform or architecture family is
   * refused and missing CPU features are a warning; `host` makes missing features an error;
   * `none` checks nothing.
   */
  checkTarget?: TargetCheck;
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
  /** True for an external spec (registered in the database, nothing extracted). */
  external?: boolean;
}

/** What {@link installSpecs} did. */
export interface InstallResult {
  root: string;
  specs: InstalledSpec[];
}

const DB_DIR = INSTALL_DB_DIR;
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

interface Root {
  hash: string;
  source: InstallSource;
  /** The queries that named it (each checked against the signed spec). */
  queries: string[];
  /** Set for an external spec asked for by name: registered, not extracted. */
  external?: SpecNode;
}

async function findRoots(
  sources: InstallSource[],
  queries: string[],
  signal?: AbortSignal,
): Promise<Root[]> {
  const out: Root[] = [];
  for (const q of queries) {
    let found: Root | undefined;
    let missing: unknown;
    for (const source of sources) {
      try {
        const ref = await source.resolve(q, { signal });
        found = { hash: ref.hash, source, queries: [q] };
        break;
      } catch (e) {
        if (!(e instanceof NotFoundError)) throw e;
        missing ??= e;
      }
    }
    // Not in any cache: an external the index lists is registered, as Spack does.
    for (const source of found ? [] : sources) {
      if (!source.list || !source.indexNode) continue;
      const hashes = [...new Set((await source.list(q, { signal })).map((r) => r.hash))];
      const externals: SpecNode[] = [];
      for (const h of hashes) {
        const n = await source.indexNode(h, signal);
        if (n?.external) externals.push(n);
      }
      if (externals.length === 1) {
        found = { hash: externals[0].hash, source, queries: [q], external: externals[0] };
        break;
      }
    }
    if (!found) throw missing ?? new NotFoundError(`Cannot find "${q}" in the mirror`);
    const same = out.find((o) => o.hash === found!.hash);
    if (same) same.queries.push(q);
    else out.push(found);
  }
  return out;
}

function atomicWrite(path: string, data: string | Uint8Array, mode = 0o644): void {
  writeFileAtomicSync(path, data, { mode, mkdir: false });
}

/** The spec node dict as Spack stores it in the DB (its own raw dict, dependencies included). */
function dbSpec(node: SpecNode): Record<string, unknown> {
  return node.raw;
}

/** The database record of an external spec (its path, not installed by spackle). */
function externalRecord(node: SpecNode, now: number, explicit: boolean): InstallRecord {
  return {
    spec: dbSpec(node),
    ref_count: 0,
    path: node.external?.path ?? null,
    installed: true,
    explicit,
    installation_time: now,
    deprecated_for: null,
  };
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
      e.hash = base32Encode(sha1, true).toUpperCase(); // Python's base64.b32encode
      e.time = new PyFloat(st.mtimeMs / 1000); // a float, as os.stat gives it
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
  writeFileSync(file, pyJsonDumps(manifest), { mode: 0o644 }); // Spack's sjson.dump
}

/** Spack's `write_spec` of a spliced spec into `.spack/spec.json` (its install manifest goes). */
function writeSplicedSpec(dir: string, dag: SpecDag): void {
  const spec = (dag.raw as { spec?: unknown }).spec;
  writeFileSync(join(dir, ".spack", "spec.json"), pyJsonDumps({ spec }), { mode: 0o644 });
  rmSync(join(dir, ".spack", "install_manifest.json"), { force: true });
}

function lexists(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

/** The journal of a commit in progress, in the run's staging directory. */
const COMMIT_JOURNAL = "commit.json";

function newRecord(job: Job, now: number): InstallRecord {
  return {
    spec: dbSpec(job.node),
    ref_count: 0,
    path: job.prefix,
    installed: true,
    explicit: job.explicit,
    installation_time: now,
    deprecated_for: null,
  };
}

/**
 * Completes the commits of runs on this host that were killed after moving prefixes into place
 * and before recording them: each prefix of the dead run's journal that is there (complete:
 * prefixes only appear by rename) and not in the database is recorded. Reads only, unless
 * there is something to record.
 */
async function recoverKilledCommits(
  root: string,
  db: InstallDatabase,
  progress: (p: InstallProgress) => void,
): Promise<void> {
  const dir = join(root, STAGING);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  const found: { hash: string; record: InstallRecord }[] = [];
  for (const name of names) {
    const m = /^(.+)-(\d+)-[A-Za-z0-9]+$/.exec(name);
    if (!m || m[1] !== hostname() || pidAlive(Number(m[2]))) continue;
    try {
      found.push(...JSON.parse(readFileSync(join(dir, name, COMMIT_JOURNAL), "utf8")));
    } catch { /* killed before its commit: nothing to record */ }
  }
  const there = found.filter(({ hash, record }) =>
    typeof record?.path === "string" && lexists(join(record.path, ".spack", "spec.json")) &&
    readFileSync(join(record.path, ".spack", "spec.json"), "utf8").includes(hash)
  );
  if (!there.length) return;
  await db.update((view) => {
    const done: string[] = [];
    for (const { hash, record } of there) {
      if (view.data.installs[hash]?.installed) continue;
      view.data.installs[hash] = record;
      done.push(`${record.spec.name}/${hash.slice(0, 7)}`);
    }
    if (done.length) {
      progress({
        phase: "warning",
        message: `recorded ${done.join(", ")} in the install database: an install that was ` +
          `killed had moved ${done.length > 1 ? "them" : "it"} into place`,
      });
    }
  });
  // The dead runs' directories are done with.
  cleanStaging(root);
  rmdirQuiet(dir);
}

/** Deletes staging directories (`<host>-<pid>-*`) left by processes on this host that died. */
function cleanStaging(root: string): void {
  removeDeadOwners(join(root, STAGING), "");
}

// ---------------------------------------------------------------------------------------------

interface Job {
  node: SpecNode;
  dag: SpecDag;
  prefix: string;
  source: InstallSource;
  explicit: boolean;
  /** Set once staged. */
  staged?: string;
  elfFiles?: string[];
  execFiles?: string[];
  stagingDir?: string;
  /** Installed from its build spec's tarball. */
  spliced?: boolean;
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

/**
 * Installs the specs matching `queries` (`name`, `name@version`, `/hash`, `name/hash`) and
 * their runtime dependencies (link and run, never build-only) from `mirror` into
 * `opts.root`, relocated there. Specs already in the root's database are skipped.
 *
 * @example Install a package and its runtime dependencies
 * ```ts
 * import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * import {
 *   installSpecs,
 *   openMirror,
 *   openStore,
 *   prefixSource,
 *   pushSpecs,
 *   specsToPush,
 *   type Store,
 *   updateIndex,
 *   V3Writer,
 * } from "@spackle/spackle";
 *
 * // A build cache with one package, pushed from an installed prefix (files + .spack/spec.json).
 * const dir = mkdtempSync(join(tmpdir(), "spackle-example-"));
 * const hash = "a".repeat(32);
 * const prefix = join(dir, "tree", "linux-x86_64", `hello-1.0-${hash}`);
 * mkdirSync(join(prefix, ".spack"), { recursive: true });
 * writeFileSync(join(prefix, "hello.txt"), `hello from ${prefix}\n`);
 * const arch = { platform: "linux", platform_os: "debian12", target: "x86_64" };
 * const node = { name: "hello", version: "1.0", arch, hash };
 * const spec = { spec: { _meta: { version: 5 }, nodes: [node] } };
 * writeFileSync(join(prefix, ".spack", "spec.json"), JSON.stringify(spec));
 * const installed = prefixSource([prefix]);
 * const writer = new V3Writer(await openStore(join(dir, "mirror"), { writable: true }) as Store);
 * await pushSpecs(specsToPush(installed.roots, installed).items, installed, writer);
 * await updateIndex(writer);
 *
 * const mirror = await openMirror(join(dir, "mirror"));
 * const result = await installSpecs(mirror, ["hello"], {
 *   root: join(dir, "installed"), // the install tree (its database is .spack-db/index.json)
 *   allowUnsigned: true, // this mirror is not signed
 * });
 * const [hello] = result.specs;
 * if (!hello.installed) throw new Error("not installed");
 * console.log(`installed ${hello.name} into ${hello.prefix}`);
 * rmSync(dir, { recursive: true, force: true });
 * ```
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
  checkRoot(root);
  const db = new InstallDatabase(root, {
    lockTimeout: opts.lockTimeout,
    signal: opts.signal,
    onWait: (message) => progress({ phase: "wait", message }),
    onWarning: (message) => progress({ phase: "warning", message }),
  });
  // Nothing is written into the root before the first package is staged.

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
        const warning = signatureWarning(entry);
        if (warning) {
          progress({ phase: "warning", name: entry.ref.name, hash, message: warning });
        }
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
  const limit = semaphore(Math.max(8, 2 * (opts.jobs ?? 4)));
  const visit = (hash: string, dag: SpecDag, source: InstallSource): Promise<void> => {
    let p = visiting.get(hash);
    if (!p) {
      p = (async () => {
        const node = dag.nodes.get(hash);
        if (!node || node.external) return;
        const { entry } = await limit(() => getEntry(hash, source));
        const own = entry.spec;
        const ownNode = own.nodes.get(hash) ?? node;
        jobsByHash.set(hash, {
          node: ownNode,
          dag: own,
          prefix: projectPrefix(root, ownNode, projection),
          source,
          explicit: false,
        });
        if (!opts.noDeps) {
          await Promise.all(
            ownNode.dependencies.filter((d) => RUNTIME(d.depTypes)).map((d) =>
              visit(d.hash, own, source)
            ),
          );
        }
        order.push(hash); // after its dependencies
      })();
      visiting.set(hash, p);
    }
    return p;
  };
  await Promise.all(
    roots.filter((r) => !r.external).map(async (r) => {
      const { entry, source } = await getEntry(r.hash, r.source);
      // The index chose the entry; its signed spec must be what was asked for.
      for (const q of r.queries) checkSubstitution(q, entry);
      await visit(r.hash, entry.spec, source);
    }),
  );
  const isExplicit = (h: string) => opts.explicit?.has(h) ?? true;
  for (const r of roots) {
    const job = jobsByHash.get(r.hash);
    if (job && isExplicit(r.hash)) job.explicit = true;
  }

  // Skip what is installed already; refuse prefixes that exist but are not recorded.
  await recoverKilledCommits(root, db, progress);
  const snapshot = await db.snapshot();
  if (snapshot.exists && Number(snapshot.data.version) < 8) {
    // Rewriting it as version 8 would lock out the Spack that wrote it (0.2x writes 7).
    throw new SpackleError(
      "unsupported",
      `Cannot install into "${root}": its install database "${db.indexPath}" is version ` +
        `${snapshot.data.version} (Spack 0.2x), and spackle writes version 8, which that Spack ` +
        `cannot read; use a new --root, or upgrade the tree with Spack 1.x ("spack reindex")`,
    );
  }
  const todo: Job[] = [];
  const result: InstalledSpec[] = [];
  const installed = (rec: InstallRecord | undefined) =>
    rec?.installed === true && !!rec.path && existsSync(rec.path);
  for (const h of order) {
    const job = jobsByHash.get(h)!;
    const rec = snapshot.data.installs[h];
    if (installed(rec) && !(opts.overwrite && job.explicit)) {
      progress({ phase: "skip", name: job.node.name, hash: h });
      result.push({ ...specInfo(job), prefix: rec.path!, installed: false });
    } else todo.push(job);
  }
  if (!opts.overwrite) refuseUnrecorded(todo, db.indexPath);
  checkTargets(todo, opts.checkTarget ?? "warn", progress);
  const externalRoots = roots.filter((r) => r.external);
  for (const r of externalRoots) {
    const n = r.external!;
    result.push({
      name: n.name,
      version: n.version,
      hash: n.hash,
      prefix: n.external?.path ?? "",
      installed: !installed(snapshot.data.installs[n.hash]),
      explicit: true,
      external: true,
    });
  }
  const needsWrite = todo.length > 0 || roots.some((r) => {
    const rec = snapshot.data.installs[r.hash];
    return !rec || !rec.explicit;
  });
  if (!needsWrite) return { root, specs: result };

  // From here on the root is written to: what this run creates is removed if it fails.
  const created = createdPaths(root);
  const locks: HeldLock[] = [];
  let runDir = "";
  let ok = false;
  try {
    runDir = makeRunDir(root);
    // Spack's prefix locks, held while the prefixes are staged and moved into place (in hash
    // order, so that two spackle processes never wait for each other in a circle).
    for (const job of [...todo].sort((a, b) => a.node.hash < b.node.hash ? -1 : 1)) {
      locks.push(await db.lockPrefix(job.node.hash, job.node.name));
    }
    // What another process (Spack, another spackle) installed while this one waited for the
    // locks is not staged again; a prefix that appeared meanwhile unrecorded is refused.
    const locked = await db.snapshot();
    for (let i = todo.length - 1; i >= 0; i--) {
      const job = todo[i];
      const rec = locked.data.installs[job.node.hash];
      if (installed(rec) && !(opts.overwrite && job.explicit)) {
        todo.splice(i, 1);
        progress({ phase: "skip", name: job.node.name, hash: job.node.hash });
        result.push({ ...specInfo(job), prefix: rec.path!, installed: false });
      }
    }
    if (!opts.overwrite) refuseUnrecorded(todo, db.indexPath);
    // One pacer for the extractions running at once (their garbage adds up); extraction
    // makes two bytes of garbage per byte of poorly compressible data, so a wider headroom
    // than the default saves collections.
    const pacer = new MemoryPacer({ headroom: 24 << 20 });
    const stage = async (job: Job): Promise<void> => {
      const { entry: own } = entries.get(job.node.hash)!;
      // A spliced spec is installed from its build spec's tarball (splice.ts).
      const buildHash = buildSpecHash(job.node);
      const entry = buildHash
        ? (await getEntry(buildHash, job.source).catch((e) => {
          throw e instanceof NotFoundError
            ? new NotFoundError(
              `Cannot install ${job.node.name}/${job.node.hash}: it is spliced, and its build ` +
                `spec /${buildHash}, whose tarball it is installed from, is in no mirror`,
              { cause: e },
            )
            : e;
        })).entry
        : own;
      progress({ phase: "fetch", name: job.node.name, hash: job.node.hash });
      const stagingDir = join(runDir, job.node.hash);
      mkdirSync(stagingDir);
      job.stagingDir = stagingDir;
      const label = `${job.node.name}-${job.node.version}-${job.node.hash}`;
      const specs = specsToRelocate(job.dag, job.node.hash);
      const lookup = buildHash ? spliceLookup(job.dag, job.node.hash, buildHash, specs) : undefined;
      const pairsFor = (info: Buildinfo) =>
        prefixMap(info, {
          root,
          sbangPath: join(root, "bin", "sbang"),
          specs: specs.map((n) => ({
            hash: lookup?.get(n.hash) ?? n.hash,
            prefix: jobsByHash.get(n.hash)?.prefix ?? projectPrefix(root, n, projection),
          })),
        });
      // Text files are relocated as they stream, then settled against the buildinfo: one pass.
      const inStream = opts.speculate !== false && !buildHash
        ? new StreamRelocation({ hash: job.node.hash, newPrefix: job.prefix, pairsFor })
        : undefined;
      const extract = async () => {
        const tarball = await entry.openTarball({ signal: opts.signal });
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
            rewriter: inStream,
            // Spack installs a spliced spec without its post-install permission hook.
            dirMode: buildHash ? 0o755 : undefined,
            pacer,
          });
          while (!(await reader.read()).done) { /* drain: verification happens at the end */ }
          return r;
        } catch (e) {
          await reader.cancel(e).catch(() => {});
          throw e;
        }
      };
      const res = await extract();
      pacer.check(); // the garbage of the stream's end, before relocation adds its own
      const infoPath = join(res.prefixDir, ".spack", "binary_distribution");
      const info = parseBuildinfo(readFileSync(infoPath, "utf8"));
      const pairs = pairsFor(info);
      const done = inStream?.settle(res.tree, res.memberPrefix, info, pairs);
      const plan = planRelocation(res.prefixDir, info, pairs, res.entries, done);
      if (plan.problems.length) {
        throw relocationError(label, plan, job.prefix, info.hashToPrefix.get(job.node.hash));
      }
      applyRelocation(res.prefixDir, plan);
      if (buildHash) {
        // As Spack: the spliced spec replaces the build spec's metadata; no stale manifest.
        writeSplicedSpec(res.prefixDir, job.dag);
        job.spliced = true;
      }
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
    };
    await runPool(todo, opts.jobs ?? 4, (job) =>
      stage(job).catch((e) => {
        throw opts.signal?.aborted
          ? e
          : tarballError(e, job.node, entries.get(job.node.hash)!.entry);
      }));

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
    for (const job of todo) dropMissingRpaths(job.staged!, job.elfFiles ?? [], exists);
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
    for (const job of todo) if (!job.spliced) writeManifestIfMissing(job.staged!, job.prefix);

    if (opts.overwrite) await canExchangePaths();
    // Commit, under Spack's exclusive database lock; once begun it is not interrupted (renames
    // and one database write). What was moved into place is recorded even when a later
    // package fails.
    let commitError: unknown;
    await db.update((view) => {
      const installs = view.data.installs;
      const now = Date.now() / 1000;
      try {
        // What this commit moves into place, so that a run killed between the renames and
        // the database write is completed by the next run (recoverKilledCommits).
        writeFileSync(
          join(runDir, COMMIT_JOURNAL),
          JSON.stringify(todo.map((job) => ({
            hash: job.node.hash,
            record: { ...newRecord(job, now), explicit: job.explicit },
          }))),
        );
        if (todo.length) installSbang(root);
        for (const job of todo) {
          const h = job.node.hash;
          const rec = installs[h];
          if (installed(rec) && !(opts.overwrite && job.explicit)) {
            // Installed meanwhile by another process (Spack or spackle): theirs is kept.
            progress({ phase: "skip", name: job.node.name, hash: h });
            result.push({ ...specInfo(job), prefix: rec.path!, installed: false });
            continue;
          }
          if (lexists(job.prefix)) {
            if (!opts.overwrite) throw unrecordedError([job.prefix], db.indexPath);
            // Replaced in one step where the system can (renameat2 RENAME_EXCHANGE: the old
            // prefix takes the staged one's place in this run's directory and goes with it),
            // else in two renames.
            if (!exchangePaths(job.staged!, job.prefix)) {
              renameSync(job.prefix, join(runDir, `replaced-${h}`));
              renameSync(job.staged!, job.prefix);
            }
          } else {
            mkdirSync(dirname(job.prefix), { recursive: true });
            renameSync(job.staged!, job.prefix);
          }
          installs[h] = {
            ...newRecord(job, now),
            explicit: job.explicit || rec?.explicit === true,
          };
          result.push({ ...specInfo(job), prefix: job.prefix, installed: true });
          progress({ phase: "installed", name: job.node.name, hash: h });
          // Externals the spec depends on are recorded as Spack does (path, not installed by us).
          for (const d of job.node.dependencies) {
            const dn = job.dag.nodes.get(d.hash);
            if (dn?.external && !installs[d.hash]) {
              installs[d.hash] = externalRecord(dn, now, false);
            }
          }
        }
      } catch (e) {
        commitError = e;
      }
      // Roots asked for explicitly are explicit even when they were installed before; an
      // external asked for is registered.
      for (const r of roots) {
        if (r.external && !installs[r.hash]) {
          installs[r.hash] = externalRecord(r.external, now, true);
          progress({ phase: "external", name: r.external.name, hash: r.hash });
        }
        const rec = installs[r.hash];
        if (rec && isExplicit(r.hash)) rec.explicit = true;
      }
    });
    if (commitError) throw commitError;
    ok = true;
  } catch (e) {
    throw fsProblem(e, `install into "${root}"`);
  } finally {
    for (const l of locks) l.release();
    if (runDir) rmSync(runDir, { recursive: true, force: true });
    rmdirQuiet(join(root, STAGING));
    if (!ok) undoCreated(created);
  }
  return { root, specs: result };
}

/**
 * A failure reading a spec's tarball, with what the user needs to act: the spec, the blob's
 * digest and path, the mirror, and what to do. The error keeps its class.
 */
function tarballError(e: unknown, node: SpecNode, entry: Entry): unknown {
  if (!(e instanceof SpackleError)) return e;
  if (!["integrity", "invalid_data", "transport"].includes(e.code)) return e;
  if (e.message.includes(entry.tarball.checksum)) return e; // already names the blob
  const Cls = e.constructor as new (m: string, o?: { cause?: unknown }) => SpackleError;
  const mirror = entry.ref.mirror ? ` of the mirror "${entry.ref.mirror}"` : "";
  const hint = e.code === "transport"
    ? "try again, or use another mirror"
    : 'the mirror\'s copy is damaged: run "spackle verify" on it and push the spec again, ' +
      "or install from another mirror";
  return new Cls(
    `Cannot install ${node.name}@${node.version}/${node.hash}: its tarball (blob ` +
      `sha256:${entry.tarball.checksum}, "${entry.tarballPath}"${mirror}) cannot be read: ` +
      `${e.message}; ${hint}`,
    { cause: e },
  );
}

/** Refuses specs that cannot run on this machine; warns about missing CPU features. */
function checkTargets(
  todo: Job[],
  mode: TargetCheck,
  progress: (p: InstallProgress) => void,
): void {
  if (mode === "none") return;
  const refused: string[] = [];
  for (const job of todo) {
    const p = checkTarget(job.node);
    if (!p) continue;
    if (p.kind === "refuse" || mode === "host") {
      refused.push(
        p.kind === "features"
          ? p.message.replace(/ \(fine when .*\)$/, "") +
            "; pass --check-target warn to install anyway"
          : p.message,
      );
    } else {progress({
        phase: "warning",
        name: job.node.name,
        hash: job.node.hash,
        message: p.message,
      });}
  }
  if (refused.length) {
    throw new SpackleError("unsupported", `Cannot install: ${refused.join("; ")}`);
  }
}

/** The error for prefixes that exist on disk but are not in the database. */
function unrecordedError(prefixes: string[], dbPath: string): SpackleError {
  const many = prefixes.length > 1;
  return new SpackleError(
    "conflict",
    `Cannot install into ${prefixes.map((p) => `"${p}"`).join(", ")}: ${
      many ? "they exist" : "it exists"
    } but the install database "${dbPath}" does not list ${
      many ? "them" : "it"
    } (left by an interrupted install, or made by hand); remove ${
      many ? "them" : "it"
    }, or pass --overwrite to replace ${many ? "them" : "it"}`,
  );
}

function refuseUnrecorded(todo: Job[], dbPath: string): void {
  const taken = todo.filter((j) => lexists(j.prefix)).map((j) => j.prefix);
  if (taken.length) throw unrecordedError(taken, dbPath);
}

/** Refuses a root that is not a directory or cannot be written, before anything is done. */
function checkRoot(root: string): void {
  let d = root;
  while (!lexists(d) && dirname(d) !== d) d = dirname(d);
  let st;
  try {
    st = statSync(d);
  } catch (e) {
    throw fsProblem(e, `install into "${root}"`);
  }
  if (!st.isDirectory()) {
    throw new UsageError(
      `Cannot install into "${root}": ${
        d === root ? "it" : `"${d}"`
      } is a file, not a directory; choose another --root`,
    );
  }
  try {
    accessSync(d, fsConstants.W_OK);
  } catch (e) {
    const ro = (e as { code?: string }).code === "EROFS";
    throw new SpackleError(
      "unsupported",
      `Cannot install into "${root}": "${d}" is ${
        ro ? "on a read-only file system" : "not writable (permission denied)"
      }; choose a --root you can write to${ro ? "" : ", or fix its owner or mode"}`,
    );
  }
}

const FS_HINTS: Record<string, string> = {
  ENOSPC: "no space left on the device; free some space or choose another --root",
  EDQUOT: "the disk quota is exceeded; free some space or choose another --root",
  EROFS: "the file system is read-only; choose a --root on a writable file system",
  EACCES: "permission denied; choose a --root you can write to, or fix its owner or mode",
  EPERM: "operation not permitted; choose a --root you can write to, or fix its owner or mode",
  ENOTDIR: "a part of the path is a file, not a directory; choose another --root",
  EMFILE: "too many open files; raise the limit (ulimit -n) or lower --jobs",
};

/** A system error turned into one that names what was done, the path, and what to do. */
function fsProblem(e: unknown, what: string): unknown {
  const err = e as { code?: string; path?: string; syscall?: string };
  if (e instanceof SpackleError || !err || typeof err.code !== "string") return e;
  const hint = FS_HINTS[err.code];
  if (!hint) return e;
  const at = err.path ? ` (${err.syscall ?? "writing"} "${err.path}")` : "";
  return new SpackleError("unsupported", `Cannot ${what}: ${hint}${at}`, { cause: e });
}

/** The directories this run may create that do not exist yet (undone if it fails). */
function createdPaths(root: string): string[] {
  const out: string[] = [];
  let d = root;
  while (!lexists(d) && dirname(d) !== d) {
    out.push(d);
    d = dirname(d);
  }
  for (const p of [join(root, DB_DIR), join(root, STAGING)]) if (!lexists(p)) out.push(p);
  return out;
}

/** Removes what {@link createdPaths} listed, deepest first, when nothing else was put there. */
function undoCreated(paths: string[]): void {
  for (const p of [...paths].sort((a, b) => b.length - a.length)) {
    if (p.endsWith(`/${DB_DIR}`) && !lexists(join(p, "index.json"))) {
      // Only the lock files this run made: no database was written.
      for (const f of ["lock", "prefix_lock"]) rmSync(join(p, f), { force: true });
    }
    rmdirQuiet(p);
  }
}

function rmdirQuiet(p: string): void {
  try {
    rmdirSync(p);
  } catch { /* not empty, or gone */ }
}

/** This run's staging directory, unique also for two installs of one process. */
function makeRunDir(root: string): string {
  for (let i = 0;; i++) {
    mkdirSync(join(root, STAGING), { recursive: true });
    cleanStaging(root);
    try {
      return mkdtempSync(join(root, STAGING, `${hostname()}-${process.pid}-`));
    } catch (e) {
      // Another run removed the (empty) staging directory in between.
      if ((e as { code?: string }).code !== "ENOENT" || i > 5) throw e;
    }
  }
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
