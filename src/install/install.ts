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
 * The run's stages: plan (plan.ts: the roots, the metadata of their closure), checks (what is
 * installed already, prefixes in the way, targets), schedule and stage (here: tarballs fetched
 * ahead of their turn, extracted and relocated `jobs` at a time), commit (commit.ts: Spack's
 * post-install hooks, renames, the database), report (the result).
 *
 * The locks are Spack's own (src/index/install_db.ts), so Spack and spackle can install into
 * one tree at the same time. Nothing is recorded that was not extracted: a prefix that exists
 * but is not in the database is refused (or replaced with `overwrite`).
 *
 * @module
 */
import {
  accessSync,
  constants as fsConstants,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, resolve } from "node:path";
import { hostname } from "node:os";
import process from "node:process";
import { runPool } from "../core/pool.ts";
import { pyJsonDumps } from "../core/json.ts";
import { NotFoundError, SpackleError, UsageError } from "../errors.ts";
import { gunzipReader, gunzipStream } from "../core/gzip.ts";
import { flatString, MemoryPacer } from "../core/memory_pacer.ts";
import { INSTALL_DB_DIR, InstallDatabase } from "../index/install_db.ts";
import { canExchangePaths, type HeldLock } from "../core/posix_lock.ts";
import type { SpecNode } from "../spec/types.ts";
import { extractTarball } from "./extract.ts";
import { StreamRelocation } from "./relocate/stream.ts";
import {
  applyRelocation,
  type Buildinfo,
  parseBuildinfo,
  planRelocation,
  prefixMap,
  relocationError,
} from "./relocate.ts";
import { checkTarget, type TargetCheck } from "./target.ts";
import {
  DEFAULT_PROJECTION,
  entryGetter,
  fetchClosure,
  findRoots,
  type GetEntry,
  projectPrefix,
  type Root,
} from "./plan.ts";
import {
  cleanStaging,
  commitJobs,
  finishStaged,
  isInstalled,
  lexists,
  recoverKilledCommits,
  rmdirQuiet,
  specInfo,
  STAGING,
  unrecordedError,
} from "./commit.ts";
import type {
  InstalledSpec,
  InstallOptions,
  InstallResult,
  InstallSource,
  Job,
  OnProgress,
} from "./types.ts";

export { DEFAULT_PROJECTION, projectPrefix };
export type {
  InstalledSpec,
  InstallOptions,
  InstallProgress,
  InstallResult,
  InstallSource,
} from "./types.ts";

const DB_DIR = INSTALL_DB_DIR;

/** Spack's `write_spec` of a spliced spec into `.spack/spec.json` (its install manifest goes). */
function writeSplicedSpec(dir: string, spec: unknown): void {
  writeFileSync(join(dir, ".spack", "spec.json"), pyJsonDumps({ spec }), { mode: 0o644 });
  rmSync(join(dir, ".spack", "install_manifest.json"), { force: true });
}

/**
 * Metadata reads at once from local mirrors: enough to keep a file system busy; a peak of
 * about 10 MB less than the 64 a remote mirror gets, with a thousand Spack-built packages.
 */
const LOCAL_READS = 16;

/**
 * True for a mirror read from the local file system: a reader of a `file:` store, or a set
 * of mirrors (`MirrorSet`) that are all such.
 */
function isLocal(s: InstallSource): boolean {
  const m = s as { store?: { url?: URL }; mirrors?: InstallSource[] };
  if (Array.isArray(m.mirrors)) return m.mirrors.length > 0 && m.mirrors.every(isLocal);
  return m.store?.url?.protocol === "file:";
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
  if (opts.aheadBytes !== undefined && !(opts.aheadBytes >= 0)) {
    throw new UsageError(
      `Cannot install: aheadBytes must be a number of bytes, 0 or more (got ${opts.aheadBytes})`,
    );
  }
  checkRoot(root);
  // The tarballs of the first packages to stage are requested while the plan is made.
  const prefetch = new TarballPrefetch(
    16 * (opts.jobs ?? 4),
    opts.aheadBytes ?? AHEAD_BYTES,
    opts.signal,
  );
  const db = new InstallDatabase(root, {
    lockTimeout: opts.lockTimeout,
    signal: opts.signal,
    onWait: (message) => {
      // Waiting for another process: the responses requested ahead would time out unread.
      prefetch.cancel();
      progress({ phase: "wait", message });
    },
    onWarning: (message) => progress({ phase: "warning", message }),
  });
  // Nothing is written into the root before the first package is staged.
  try {
    // Plan: the roots, and the metadata of their runtime closure.
    progress({ phase: "resolve" });
    const roots = await findRoots(sources, queries, opts.signal);
    prefetch.skip(installedHashes(db));
    const getEntry = entryGetter(sources, readOpts, progress);
    const { jobs, order } = await fetchClosure(roots, getEntry, {
      root,
      projection,
      jobs: opts.jobs ?? 4,
      reads: sources.every(isLocal) ? LOCAL_READS : undefined,
      noDeps: opts.noDeps,
      explicit: opts.explicit,
      onOrdered: (job) => prefetch.offer(job),
    });

    // Checks: skip what is installed already; refuse prefixes that exist but are not recorded.
    const { todo, result, needsWrite } = await checkPlan(db, jobs, order, roots, opts, progress);
    if (!needsWrite) return { root, specs: result };
    return await stageAndCommit(
      db,
      { root, projection, opts, progress, jobs, getEntry, prefetch },
      todo,
      roots,
      result,
    );
  } finally {
    prefetch.cancel(); // those not taken
  }
}

/** The hashes the tree's database lists as installed (none when it has no database). */
function installedHashes(db: InstallDatabase): Set<string> {
  if (!db.exists()) return new Set();
  try {
    const { installs } = db.peek().data;
    return new Set(Object.keys(installs).filter((h) => installs[h]?.installed === true));
  } catch {
    return new Set(); // the checks report a damaged database
  }
}

/**
 * The most (compressed) bytes of tarballs requested ahead of their turn and not yet taken. A
 * response waiting for its turn is not read, but a runtime may take its body in all the same
 * (Bun's fetch does, with no limit): 64 tarballs of 2 MB opened ahead over https took 130 MB
 * more than 8 MiB of them. Small packages, where round trips matter, fit by the hundred; a
 * tarball bigger than this is requested at its turn.
 */
const AHEAD_BYTES = 8 << 20;

/**
 * Tarball requests sent while the plan is made: the first `window` packages of the staging
 * order (dependencies first) that are not installed already are opened as soon as their
 * place in the order is known (while their tarballs fit in `aheadBytes`), so that their
 * round trips overlap the plan's metadata reads rather than follow them. Their responses wait
 * unread for their turn; those not taken are cancelled.
 */
class TarballPrefetch {
  readonly opened = new Map<Job, Promise<ReadableStream<Uint8Array>>>();
  #left: number;
  #bytes: number; // left
  #skip = new Set<string>();
  readonly #signal?: AbortSignal;

  constructor(window: number, bytes: number, signal?: AbortSignal) {
    this.#left = window;
    this.#bytes = bytes;
    this.#signal = signal;
  }

  /** Hashes not to request (installed already). */
  skip(hashes: Set<string>): void {
    this.#skip = hashes;
  }

  offer(job: Job): void {
    // A spliced spec's tarball is its build spec's, read when its turn comes.
    if (this.#left <= 0 || !job.tarball || job.splice || this.#skip.has(job.node.hash)) return;
    if (job.tarball.size > this.#bytes) return void (this.#left = 0); // in order
    this.#left--;
    this.#bytes -= job.tarball.size;
    const p = job.tarball.open({ signal: this.#signal });
    p.catch(() => {}); // reported when the package takes it
    this.opened.set(job, p);
  }

  /** Takes the request opened for `job`, if any. */
  take(job: Job): Promise<ReadableStream<Uint8Array>> | undefined {
    const p = this.opened.get(job);
    this.opened.delete(job);
    return p;
  }

  /** Cancels every request not taken, and sends no more. */
  cancel(): void {
    this.#left = 0;
    for (const p of this.opened.values()) p.then((s) => s.cancel()).catch(() => {});
    this.opened.clear();
  }
}

/** What {@link stageAndCommit} needs of the run. */
type RunContext = Omit<StageContext, "runDir" | "pacer">;

/** Stages the jobs and commits them (what the run writes into the root). */
async function stageAndCommit(
  db: InstallDatabase,
  run: RunContext,
  todo: Job[],
  roots: Root[],
  result: InstalledSpec[],
): Promise<InstallResult> {
  const { root, opts, progress } = run;
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
      if (isInstalled(rec) && !(opts.overwrite && job.explicit)) {
        todo.splice(i, 1);
        progress({ phase: "skip", name: job.node.name, hash: job.node.hash });
        result.push({ ...specInfo(job), prefix: rec.path!, installed: false });
      }
    }
    if (!opts.overwrite) refuseUnrecorded(todo, db.indexPath);
    progress({ phase: "planned", count: todo.length });
    // One pacer for the extractions running at once (their garbage adds up) and the hooks
    // after them. Extraction makes two bytes of garbage per byte of poorly compressible data:
    // 12 MiB of headroom keeps collections few for big packages; a run of many small ones
    // (whose plan already holds a high floor) gets 4 MiB: they make little garbage each, and
    // the peak stays low (2,000 packages: about 5 MB less than with 8 MiB on average, and no
    // outliers 10 MB above, for about 7% more CPU).
    const pacer = new MemoryPacer({ headroom: (todo.length > 64 ? 4 : 12) << 20 });
    const ctx = { ...run, runDir, pacer };
    await stageJobs(todo, ctx);
    finishStaged(todo, root, pacer);
    if (opts.overwrite) await canExchangePaths();
    pacer.collect(); // the commit writes the journal and the database in one go
    await commitJobs(db, todo, {
      root,
      runDir,
      roots,
      overwrite: opts.overwrite === true,
      isExplicit: (h) => opts.explicit?.has(h) ?? true,
      progress,
      result,
    });
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
 * The checks before anything is written: killed commits completed, the database's version,
 * what is installed already (skipped, in the result), prefixes in the way, targets. Returns
 * the jobs to install (dependencies first) and whether the database needs writing at all.
 */
async function checkPlan(
  db: InstallDatabase,
  jobs: Map<string, Job>,
  order: string[],
  roots: Root[],
  opts: InstallOptions,
  progress: OnProgress,
): Promise<{ todo: Job[]; result: InstalledSpec[]; needsWrite: boolean }> {
  await recoverKilledCommits(db.root, db, progress);
  const snapshot = await db.snapshot();
  if (snapshot.exists && Number(snapshot.data.version) < 8) {
    // Rewriting it as version 8 would lock out the Spack that wrote it (0.2x writes 7).
    throw new SpackleError(
      "unsupported",
      `Cannot install into "${db.root}": its install database "${db.indexPath}" is version ` +
        `${snapshot.data.version} (Spack 0.2x), and spackle writes version 8, which that Spack ` +
        `cannot read; use a new --root, or upgrade the tree with Spack 1.x ("spack reindex")`,
    );
  }
  const todo: Job[] = [];
  const result: InstalledSpec[] = [];
  for (const h of order) {
    const job = jobs.get(h)!;
    const rec = snapshot.data.installs[h];
    if (isInstalled(rec) && !(opts.overwrite && job.explicit)) {
      progress({ phase: "skip", name: job.node.name, hash: h });
      result.push({ ...specInfo(job), prefix: rec.path!, installed: false });
      job.tarball = job.reloc = job.splice = undefined; // not staged
    } else todo.push(job);
  }
  if (!opts.overwrite) refuseUnrecorded(todo, db.indexPath);
  checkTargets(todo, opts.checkTarget ?? "warn", progress);
  for (const r of roots) {
    const n = r.external;
    if (!n) continue;
    result.push({
      name: n.name,
      version: n.version,
      hash: n.hash,
      prefix: n.external?.path ?? "",
      installed: !isInstalled(snapshot.data.installs[n.hash]),
      explicit: true,
      external: true,
    });
  }
  const needsWrite = todo.length > 0 || roots.some((r) => {
    const rec = snapshot.data.installs[r.hash];
    return !rec || !rec.explicit;
  });
  return { todo, result, needsWrite };
}

/** A tarball this big (compressed) or bigger takes the thread-pool paths of extraction. */
const BIG_TARBALL = 4 << 20;

/** What staging needs of the run. */
interface StageContext {
  root: string;
  projection: string;
  runDir: string;
  opts: InstallOptions;
  progress: OnProgress;
  /** Every job of the run, by hash (the prefixes of this run's packages). */
  jobs: Map<string, Job>;
  getEntry: GetEntry;
  pacer: MemoryPacer;
  /** The tarball requests sent during the plan. */
  prefetch: TarballPrefetch;
}

/**
 * Stages the jobs, `opts.jobs` at a time, in order. Tarball requests are sent ahead: when a
 * package starts, those up to `16 x jobs` places after it are opened, in order, while the
 * tarballs opened and not yet taken fit in `aheadBytes` (their responses wait, bodies
 * unread, for their turn), so a slow link's round trips are spent while earlier packages
 * extract, and small packages are not bound by latency. Any opened and not used is cancelled.
 */
async function stageJobs(todo: Job[], ctx: StageContext): Promise<void> {
  const { opts } = ctx;
  const jobs = opts.jobs ?? 4;
  const window = 16 * jobs;
  const budget = opts.aheadBytes ?? AHEAD_BYTES;
  const ahead = new Map<Job, Promise<ReadableStream<Uint8Array>>>();
  let aheadBytes = 0;
  let next = 0; // the first package not yet looked at for opening ahead
  const openAhead = (current: number) => {
    for (next = Math.max(next, current + 1); next < todo.length && next <= current + window;) {
      const job = todo[next];
      // A spliced spec's tarball is its build spec's, read when its turn comes.
      const size = job.splice ? 0 : job.tarball?.size ?? 0;
      if (size > budget) {
        next++; // too big to wait (never opened during the plan either): requested at its turn
        continue;
      }
      if (aheadBytes + size > budget) return; // in order, once some are taken
      next++;
      if (!job.tarball || job.splice) continue;
      const early = ctx.prefetch.take(job);
      const p = early ?? job.tarball.open({ signal: opts.signal });
      if (!early) p.catch(() => {}); // reported when the package takes it
      ahead.set(job, p);
      aheadBytes += size;
    }
  };
  try {
    openAhead(-1);
    await runPool(todo, jobs, (job, at) => {
      // The package's own request leaves the budget before the next ones are opened.
      const own = ahead.get(job) ?? ctx.prefetch.take(job);
      if (ahead.delete(job)) aheadBytes -= job.tarball!.size;
      openAhead(at);
      let taken = false;
      const open = () => {
        taken = true;
        return own ?? job.tarball!.open({ signal: opts.signal });
      };
      const tarball = job.tarball!;
      return stageJob(job, open, ctx).catch((e) => {
        if (!taken) own?.then((s) => s.cancel()).catch(() => {});
        throw opts.signal?.aborted ? e : tarballError(e, job.node, tarball);
      });
    });
  } finally {
    for (const p of ahead.values()) p.then((s) => s.cancel()).catch(() => {});
  }
}

/**
 * Stages one package: its tarball streamed into the run's staging directory once (relocating
 * plain-text files on the way when `speculate`, settled against the buildinfo), then relocated. Its staging state (tarball,
 * relocation list, splice) is released after.
 */
async function stageJob(
  job: Job,
  openOwn: (job: Job) => Promise<ReadableStream<Uint8Array>>,
  ctx: StageContext,
): Promise<void> {
  const { root, runDir, opts, progress, pacer } = ctx;
  // A spliced spec is installed from its build spec's tarball (splice.ts).
  const buildHash = job.splice?.buildHash;
  const openTarball = buildHash
    ? (await ctx.getEntry(buildHash, job.source).catch((e) => {
      throw e instanceof NotFoundError
        ? new NotFoundError(
          `Cannot install ${job.node.name}/${job.node.hash}: it is spliced, and its build ` +
            `spec /${buildHash}, whose tarball it is installed from, is in no mirror`,
          { cause: e },
        )
        : e;
    })).openTarball
    : () => openOwn(job);
  progress({ phase: "fetch", name: job.node.name, hash: job.node.hash });
  const stagingDir = join(runDir, job.node.hash);
  mkdirSync(stagingDir);
  job.stagingDir = stagingDir;
  const label = `${job.node.name}-${job.node.version}-${job.node.hash}`;
  // The specs whose prefixes relocation maps: the hash the buildinfo knows each by (a spliced
  // spec's analogs) and its prefix here.
  const specs = job.reloc!.map((r) => ({
    hash: job.splice?.lookup.get(r.hash) ?? r.hash,
    prefix: ctx.jobs.get(r.hash)?.prefix ?? r.prefix,
  }));
  const pairsFor = (info: Buildinfo) =>
    prefixMap(info, { root, sbangPath: join(root, "bin", "sbang"), specs });
  // Text files are relocated as they stream, then settled against the buildinfo: one pass.
  const inStream = opts.speculate !== false && !buildHash
    ? new StreamRelocation({ hash: job.node.hash, newPrefix: job.prefix, pairsFor })
    : undefined;
  const extract = async () => {
    const tarball = await openTarball({ signal: opts.signal });
    // The tar reader stops at the end-of-archive marker; the rest of the stream is still
    // read so that the digest and size checks at its end run before anything is committed.
    // A big tarball is decompressed into reused buffers on the thread pool and its small files
    // written there; for a small one the setup of either costs more than it saves (a run of
    // thousands of small packages was a third slower with them).
    const big = (job.tarball?.size ?? 0) >= (opts.threadPoolFrom ?? BIG_TARBALL);
    const reader = big
      ? gunzipReader(tarball, label, { releaseInput: true })
      : tarball.pipeThrough(gunzipStream(label)).getReader();
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
        pooledWrites: big,
      });
      while (!(await reader.read()).done) { /* drain: verification happens at the end */ }
      return r;
    } catch (e) {
      await reader.cancel(e).catch(() => {});
      throw e;
    }
  };
  const res = await extract();
  pacer.afterJob(res.bytes); // the stream's garbage, before relocation adds its own
  const infoPath = join(res.prefixDir, ".spack", "binary_distribution");
  const info = parseBuildinfo(readFileSync(infoPath, "utf8"));
  const pairs = pairsFor(info);
  const done = inStream?.settle(res.tree, res.memberPrefix, info, pairs);
  const plan = planRelocation(res.prefixDir, info, pairs, res.entries, done);
  if (plan.problems.length) {
    throw relocationError(label, plan, job.prefix, info.hashToPrefix.get(job.node.hash));
  }
  applyRelocation(res.prefixDir, plan);
  if (job.splice) {
    // As Spack: the spliced spec replaces the build spec's metadata; no stale manifest.
    writeSplicedSpec(res.prefixDir, job.splice.spec);
    job.spliced = true;
  }
  pacer.check();
  job.staged = res.prefixDir;
  job.elfFiles = flatString(res.elfFiles.join("\0"));
  job.execFiles = flatString(res.execFiles.join("\0"));
  job.tarball = job.reloc = job.splice = undefined; // only staging needed them
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
}

/**
 * A failure reading a spec's tarball, with what the user needs to act: the spec, the blob's
 * digest and path, the mirror, and what to do. The error keeps its class.
 */
function tarballError(
  e: unknown,
  node: SpecNode,
  tarball: { checksum: string; path: string; mirror?: string },
): unknown {
  if (!(e instanceof SpackleError)) return e;
  if (!["integrity", "invalid_data", "transport"].includes(e.code)) return e;
  if (e.message.includes(tarball.checksum)) return e; // already names the blob
  const Cls = e.constructor as new (m: string, o?: { cause?: unknown }) => SpackleError;
  const mirror = tarball.mirror ? ` of the mirror "${tarball.mirror}"` : "";
  const hint = e.code === "transport"
    ? "try again, or use another mirror"
    : 'the mirror\'s copy is damaged: run "spackle verify" on it and push the spec again, ' +
      "or install from another mirror";
  return new Cls(
    `Cannot install ${node.name}@${node.version}/${node.hash}: its tarball (blob ` +
      `sha256:${tarball.checksum}, "${tarball.path}"${mirror}) cannot be read: ` +
      `${e.message}; ${hint}`,
    { cause: e },
  );
}

/** Refuses specs that cannot run on this machine; warns about missing CPU features. */
function checkTargets(
  todo: Job[],
  mode: TargetCheck,
  progress: OnProgress,
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
