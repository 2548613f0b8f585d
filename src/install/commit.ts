/**
 * The end of an install run: Spack's post-install hooks on the staged prefixes (missing RPATHs
 * dropped, long shebangs through sbang, install manifests), then the commit under Spack's
 * exclusive database lock (prefixes renamed into place and recorded), with a journal so that
 * the next run completes a commit that was killed half-way.
 *
 * @module
 */
import {
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  readSync,
  renameSync,
  rmdirSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { hostname } from "node:os";
import { pidAlive, removeDeadOwners } from "../core/pid.ts";
import { base32Encode } from "../core/base32.ts";
import { writeFileAtomicSync } from "../core/atomic_file.ts";
import { PyFloat, pyJsonDumps } from "../core/json.ts";
import { SpackleError } from "../errors.ts";
import type { MemoryPacer } from "../core/memory_pacer.ts";
import type { InstallDatabase, InstallRecord } from "../index/install_db.ts";
import { exchangePaths } from "../core/posix_lock.ts";
import type { SpecNode } from "../spec/types.ts";
import { dropMissingRpaths } from "./relocate.ts";
import { filterShebang, SBANG_SCRIPT } from "./sbang.ts";
import type { InstalledSpec, Job, OnProgress } from "./types.ts";
import type { Root } from "./plan.ts";

/** The directory of the runs' staging directories, in the root. */
export const STAGING = ".spackle-staging";

/** The journal of a commit in progress, in the run's staging directory. */
const COMMIT_JOURNAL = "commit.json";

export function lexists(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

export function rmdirQuiet(p: string): void {
  try {
    rmdirSync(p);
  } catch { /* not empty, or gone */ }
}

/** Deletes staging directories (`<host>-<pid>-*`) left by processes on this host that died. */
export function cleanStaging(root: string): void {
  removeDeadOwners(join(root, STAGING), "");
}

/** What the result says of a job's spec. */
export function specInfo(job: Job) {
  return {
    name: job.node.name,
    version: job.node.version,
    hash: job.node.hash,
    explicit: job.explicit,
  };
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

function newRecord(job: Job, now: number): InstallRecord {
  return {
    // Written into the database as it is; the journal's JSON.stringify writes the dict.
    spec: job.record as unknown as Record<string, unknown>,
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
export async function recoverKilledCommits(
  root: string,
  db: InstallDatabase,
  progress: OnProgress,
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

/** The buffer files are hashed through (the hooks run one package at a time). */
let hashBuf: Buffer | undefined;

/** The sha1 of a file, read through one reused buffer (no garbage per file but the digest). */
function sha1File(path: string): Buffer {
  const buf = hashBuf ??= Buffer.allocUnsafe(256 << 10);
  const h = createHash("sha1");
  const fd = openSync(path, "r");
  try {
    for (let n; (n = readSync(fd, buf, 0, buf.byteLength, null)) > 0;) h.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return h.digest();
}

/**
 * Spack's `verify.write_manifest` for a prefix staged at `dir` that will live at `prefix`.
 * Returns the bytes of the manifest written (0 when the tarball had one).
 */
function writeManifestIfMissing(dir: string, prefix: string): number {
  const file = join(dir, ".spack", "install_manifest.json");
  if (existsSync(file)) return 0;
  const entry = (path: string): Record<string, unknown> => {
    const st = lstatSync(path);
    const e: Record<string, unknown> = { mode: st.mode, owner: st.uid, group: st.gid };
    if (st.isSymbolicLink()) e.dest = readlinkSync(path);
    else if (st.isFile()) {
      e.hash = base32Encode(sha1File(path), true).toUpperCase(); // Python's base64.b32encode
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
  const text = pyJsonDumps(manifest);
  writeFileSync(file, text, { mode: 0o644 }); // Spack's sjson.dump
  return text.length;
}

/** Spack's sbang hook on one staged executable: a too long shebang line starts with sbang. */
function sbangFile(path: string, sbangPath: string): void {
  // Only the first line matters: read the whole file only when it changes.
  const fd = openSync(path, "r");
  const head = new Uint8Array(4096);
  let n: number;
  try {
    n = readSync(fd, head, 0, head.byteLength, 0);
  } finally {
    closeSync(fd);
  }
  if (n < 2 || head[0] !== 0x23 || head[1] !== 0x21) return;
  if (!filterShebang(head.subarray(0, n), sbangPath)) return;
  const data = readFileSync(path);
  const out = filterShebang(
    new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    sbangPath,
  );
  if (out) writeFileSync(path, out); // same file (inode and mode kept)
}

/**
 * Spack's post-install hooks, once every package of the run is staged: RPATH entries that do
 * not exist (where the prefixes of this run will be) are dropped; executables whose shebang
 * line is too long start with sbang; a package whose tarball has no
 * `.spack/install_manifest.json` gets one describing the installed files (final paths).
 */
export function finishStaged(todo: Job[], root: string, pacer: MemoryPacer): void {
  // A path in a prefix of this run is looked for where that prefix is staged (the deepest
  // prefix holding it): one lookup per directory of the path that is no longer than the
  // longest prefix, not one per package of the run (and a hostile RPATH entry of any length
  // costs one pass over its start).
  const stagedAt = new Map(todo.filter((j) => j.staged).map((j) => [j.prefix, j.staged!]));
  let longest = 0;
  for (const prefix of stagedAt.keys()) longest = Math.max(longest, prefix.length);
  const exists = (p: string) => {
    let end = p.length <= longest ? p.length : p.lastIndexOf("/", longest);
    for (; end > 0; end = p.lastIndexOf("/", end - 1)) {
      const staged = stagedAt.get(p.slice(0, end));
      if (staged !== undefined) return lexists(staged + p.slice(end));
    }
    return lexists(p);
  };
  const sbangPath = join(root, "bin", "sbang");
  for (const job of todo) {
    dropMissingRpaths(job.staged!, paths(job.elfFiles), exists);
    for (const rel of paths(job.execFiles)) sbangFile(join(job.staged!, rel), sbangPath);
    // The manifest's objects and text are most of the hooks' garbage (several times its size).
    const manifest = job.spliced ? 0 : writeManifestIfMissing(job.staged!, job.prefix);
    // Only the commit needs the package now.
    job.elfFiles = job.execFiles = undefined;
    pacer.add((16 << 10) + 4 * manifest);
  }
}

/** The paths of a NUL-joined list (`Job.elfFiles`). */
const paths = (list?: string): string[] => list ? list.split("\0") : [];

function installSbang(root: string): void {
  const path = join(root, "bin", "sbang");
  if (existsSync(path) && readFileSync(path, "utf8") === SBANG_SCRIPT) return;
  mkdirSync(join(root, "bin"), { recursive: true });
  writeFileAtomicSync(path, SBANG_SCRIPT, { mode: 0o755, mkdir: false });
}

/** The error for prefixes that exist on disk but are not in the database. */
export function unrecordedError(prefixes: string[], dbPath: string): SpackleError {
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

/** Whether a database record is of a spec installed and still there. */
export function isInstalled(rec: InstallRecord | undefined): boolean {
  return rec?.installed === true && !!rec.path && existsSync(rec.path);
}

/** What {@link commitJobs} needs. */
export interface CommitContext {
  root: string;
  runDir: string;
  roots: Root[];
  overwrite: boolean;
  isExplicit: (hash: string) => boolean;
  progress: OnProgress;
  /** The run's result, added to. */
  result: InstalledSpec[];
}

/**
 * The commit, under Spack's exclusive database lock; once begun it is not interrupted (renames
 * and one database write). What was moved into place is recorded even when a later package
 * fails (the failure is thrown after the database is written).
 */
export async function commitJobs(db: InstallDatabase, todo: Job[], c: CommitContext) {
  const { overwrite, progress, result } = c;
  let commitError: unknown;
  await db.update((view) => {
    const installs = view.data.installs;
    const now = Date.now() / 1000;
    try {
      // What this commit moves into place, so that a run killed between the renames and
      // the database write is completed by the next run (recoverKilledCommits).
      writeFileSync(
        join(c.runDir, COMMIT_JOURNAL),
        // Compact JSON; each spec goes in as its text (not parsed again to be written).
        pyJsonDumps(todo.map((job) => ({
          hash: job.node.hash,
          record: { ...newRecord(job, now), explicit: job.explicit },
        }))),
      );
      if (todo.length) installSbang(c.root);
      for (const job of todo) {
        const h = job.node.hash;
        const rec = installs[h];
        if (isInstalled(rec) && !(overwrite && job.explicit)) {
          // Installed meanwhile by another process (Spack or spackle): theirs is kept.
          progress({ phase: "skip", name: job.node.name, hash: h });
          result.push({ ...specInfo(job), prefix: rec.path!, installed: false });
          continue;
        }
        if (lexists(job.prefix)) {
          if (!overwrite) throw unrecordedError([job.prefix], db.indexPath);
          // Replaced in one step where the system can (renameat2 RENAME_EXCHANGE: the old
          // prefix takes the staged one's place in this run's directory and goes with it),
          // else in two renames.
          if (!exchangePaths(job.staged!, job.prefix)) {
            renameSync(job.prefix, join(c.runDir, `replaced-${h}`));
            renameSync(job.staged!, job.prefix);
          }
        } else {
          mkdirSync(dirname(job.prefix), { recursive: true });
          renameSync(job.staged!, job.prefix);
        }
        installs[h] = { ...newRecord(job, now), explicit: job.explicit || rec?.explicit === true };
        result.push({ ...specInfo(job), prefix: job.prefix, installed: true });
        progress({ phase: "installed", name: job.node.name, hash: h });
        // Externals the spec depends on are recorded as Spack does (path, not installed by us).
        for (const dn of job.externals) {
          if (!installs[dn.hash]) installs[dn.hash] = externalRecord(dn, now, false);
        }
      }
    } catch (e) {
      commitError = e;
    }
    // Roots asked for explicitly are explicit even when they were installed before; an
    // external asked for is registered.
    for (const r of c.roots) {
      if (r.external && !installs[r.hash]) {
        installs[r.hash] = externalRecord(r.external, now, true);
        progress({ phase: "external", name: r.external.name, hash: r.hash });
      }
      const rec = installs[r.hash];
      if (rec && c.isExplicit(r.hash)) rec.explicit = true;
    }
  });
  if (commitError) throw commitError;
}
