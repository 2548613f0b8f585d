/**
 * Pushing installed specs to a v3 build cache: from an install tree with a Spack database
 * (`ROOT/.spack-db/index.json`, Spack's or spackle's) or from prefix directories holding
 * `.spack/spec.json`. Dependencies (link, run, test) are pushed before dependents, externals
 * never; each spec is packed to a temporary file (hashed while written) and handed to the
 * V3Writer, several at once.
 *
 * @module
 */
import { scalarText } from "../core/json.ts";
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { InvalidDataError, NotFoundError, UsageError } from "../errors.ts";
import { parseSpecJson } from "../spec/parse.ts";
import type { V3Writer } from "../layout/v3/writer.ts";
import type { Signer } from "../sign/types.ts";
import type { SpecDag, SpecNode } from "../spec/types.ts";
import type { BuildinfoMeta } from "./buildinfo.ts";
import { packToFile } from "./pack.ts";
import { fileStream, workDir } from "./work_dir.ts";
import { runPool } from "../core/pool.ts";
import { specsToRelocate } from "../spec/traverse.ts";
import { namingCompiler } from "../spec/node.ts";
import {
  matchesQuery,
  parseQuery,
  type QueryableRecord,
  type RecordQuery,
} from "../index/query.ts";
import { InstallDatabase, type InstallDbView } from "../index/install_db.ts";
import { fsError } from "../core/fs_errors.ts";

/** One installed spec that can be pushed. */
export interface InstalledPrefix {
  /** The whole DAG as the prefix's `.spack/spec.json` records it. */
  dag: SpecDag;
  /** Hash of the node this prefix holds (the DAG's root). */
  hash: string;
  prefix: string;
  /** The store root the prefix lives under. */
  root: string;
}

/** Where installed specs are looked up. */
export interface InstalledSource {
  /** The installed prefix of `hash`, or undefined when not installed here. */
  find(hash: string): InstalledPrefix | undefined;
  /** Installed specs matching a query (Spack's: `name@1.2:`, `/hash`, `%gcc`, `arch=`...). */
  query(q: string): InstalledPrefix[];
}

/** @deprecated The former name of `InstalledSource` (install's `InstallSource` is a mirror). */
export type InstallSource = InstalledSource;

function readSpecJson(prefix: string): SpecDag {
  const p = join(prefix, ".spack", "spec.json");
  let text: string;
  try {
    text = readFileSync(p, "utf8");
  } catch {
    throw new NotFoundError(`Cannot push "${prefix}": it has no ".spack/spec.json"`);
  }
  try {
    return parseSpecJson(text, `"${p}"`);
  } catch (e) {
    if (e instanceof SyntaxError) {
      throw new InvalidDataError(`Cannot parse "${p}": ${e.message}`, { cause: e });
    }
    throw e;
  }
}

/** A query of installed specs (`index/query.ts`'s language); empty text is refused. */
function installedQuery(q: string): RecordQuery {
  if (!q.trim()) throw new UsageError(`Cannot understand the spec "${q}": it is empty`);
  return parseQuery(q);
}

/** True when the query needs more of a spec than its name, version and hash. */
function needsNode(q: RecordQuery): boolean {
  return q.compiler !== undefined || q.platform !== undefined || q.os !== undefined ||
    q.target !== undefined;
}

/** What the query matcher reads of an installed spec. */
function queryable(p: InstalledPrefix): QueryableRecord {
  const n = p.dag.nodes.get(p.hash)!;
  const c = namingCompiler(n, (h) => p.dag.nodes.get(h));
  return {
    name: n.name,
    version: n.version,
    hash: n.hash,
    arch: n.arch,
    compiler: c && `${c.name}@${c.version}`,
  };
}

/**
 * An install tree with a Spack database at `ROOT/.spack-db/index.json`, from a view of it
 * (`InstallDatabase.snapshot()`, read under Spack's shared lock; without one the file is read
 * unlocked: whole, since writers replace it by rename).
 */
export function dbSource(root: string, view?: InstallDbView): InstalledSource {
  root = resolve(root);
  const db = new InstallDatabase(root);
  view ??= db.peek();
  if (!view.exists) {
    throw new NotFoundError(
      `Cannot read the install database "${db.indexPath}": no such file; ` +
        `is "${root}" the root of a Spack install tree?`,
    );
  }
  const installs = view.data.installs;
  const cache = new Map<string, InstalledPrefix>();
  const load = (hash: string): InstalledPrefix | undefined => {
    const rec = installs[hash];
    if (!rec || rec.installed === false || typeof rec.path !== "string") return undefined;
    let got = cache.get(hash);
    if (!got) {
      const dag = readSpecJson(rec.path);
      got = { dag, hash: dag.root, prefix: rec.path, root };
      cache.set(hash, got);
    }
    return got;
  };
  return {
    find: load,
    query(text) {
      const q = installedQuery(text);
      // Name, version and hash come from the database; the rest from the spec itself.
      const fromDb = { text: q.text, name: q.name, version: q.version, hashPrefix: q.hashPrefix };
      const out: InstalledPrefix[] = [];
      for (const [hash, rec] of Object.entries(installs)) {
        const s = rec.spec as { name?: string; version?: string } | undefined;
        if (!s?.name || rec.installed === false) continue;
        if (matchesQuery({ name: s.name, version: scalarText(s.version), hash }, fromDb)) {
          const got = load(hash);
          if (got && (!needsNode(q) || matchesQuery(queryable(got), q))) out.push(got);
        }
      }
      return out;
    },
  };
}

/** {@link dbSource} of a tree's database read under Spack's shared lock. */
export async function openDbSource(
  root: string,
  opts?: { signal?: AbortSignal; onWait?: (m: string) => void; onWarning?: (m: string) => void },
): Promise<InstallSource> {
  return dbSource(root, await new InstallDatabase(root, opts).snapshot());
}

/**
 * The store root of a prefix: the nearest ancestor (up to four levels) holding a Spack
 * database, else two levels up (Spack 1.x's default projection `{arch}/{name}-{version}-{hash}`).
 */
export function storeRootOf(prefix: string): string {
  let d = dirname(prefix);
  for (let i = 0; i < 4 && d !== dirname(d); i++, d = dirname(d)) {
    if (new InstallDatabase(d).exists()) return d;
  }
  return dirname(dirname(prefix));
}

/**
 * Prefix directories given directly. Dependencies are found in the same store (its root from
 * `storeRootOf`): through its database when present, else as directories named
 * `<name>-<version>-<hash>` two levels below the root.
 */
export function prefixSource(prefixes: string[]): InstallSource & { roots: InstalledPrefix[] } {
  const roots = prefixes.map((p) => {
    const prefix = resolve(p);
    if (!existsSync(prefix) || !statSync(prefix).isDirectory()) {
      throw new NotFoundError(`Cannot push "${p}": no such directory`);
    }
    const dag = readSpecJson(prefix);
    return { dag, hash: dag.root, prefix, root: storeRootOf(prefix) };
  });
  const byHash = new Map(roots.map((r) => [r.hash, r]));
  const dbs = new Map<string, InstallSource | undefined>();
  return {
    roots,
    find(hash) {
      const known = byHash.get(hash);
      if (known) return known;
      for (const r of new Set(roots.map((x) => x.root))) {
        if (!dbs.has(r)) {
          dbs.set(r, new InstallDatabase(r).exists() ? dbSource(r) : undefined);
        }
        const fromDb = dbs.get(r)?.find(hash);
        if (fromDb) return fromDb;
        let dirs: string[] = [];
        try {
          dirs = readdirSync(r);
        } catch { /* unreadable */ }
        for (const d of dirs) {
          let names: string[] = [];
          try {
            names = readdirSync(join(r, d));
          } catch {
            continue;
          }
          const hit = names.find((n) => n.endsWith(`-${hash}`));
          if (hit && existsSync(join(r, d, hit, ".spack", "spec.json"))) {
            const prefix = join(r, d, hit);
            const got = { dag: readSpecJson(prefix), hash, prefix, root: r };
            byHash.set(hash, got);
            return got;
          }
        }
      }
      return undefined;
    },
    query(text) {
      const q = installedQuery(text);
      return roots.filter((r) => matchesQuery(queryable(r), q));
    },
  };
}

/** The store root with Spack's path padding removed (where `bin/sbang` lives). */
export function unpaddedRoot(root: string): string {
  const i = root.indexOf("/__spack_path_placeholder__");
  return i < 0 ? root : root.slice(0, i);
}

/** The buildinfo facts of an installed prefix. */
export function buildinfoMeta(item: InstalledPrefix, src: InstallSource): {
  meta: BuildinfoMeta;
  missing: string[];
} {
  const hashToPrefix: Record<string, string> = {};
  const missing: string[] = [];
  for (const n of specsToRelocate(item.dag, item.hash)) {
    const p = n.hash === item.hash ? item.prefix : src.find(n.hash)?.prefix;
    if (p) hashToPrefix[n.hash] = p;
    else missing.push(`${n.name}@${n.version}/${n.hash}`);
  }
  const rel = item.prefix.startsWith(item.root + "/")
    ? item.prefix.slice(item.root.length + 1)
    : basename(item.prefix);
  return {
    meta: {
      sbangInstallPath: `${unpaddedRoot(item.root)}/bin/sbang`,
      buildpath: item.root,
      spackprefix: item.root,
      relativePrefix: rel,
      hashToPrefix,
    },
    missing,
  };
}

/** Options of `pushSpecs`. */
export interface PushOptions {
  /** Push the requested specs, their dependencies, or both (default both). */
  only?: "package" | "dependencies" | "both";
  force?: boolean;
  /** Specs packed and uploaded at once (default 2). */
  jobs?: number;
  signer?: Signer;
  signal?: AbortSignal;
  /** Called as each spec finishes. */
  onProgress?: (r: PushedSpec) => void;
}

/** The outcome for one spec. */
export interface PushedSpec {
  name: string;
  version: string;
  hash: string;
  prefix: string;
  status: "pushed" | "skipped" | "failed";
  manifestPath?: string;
  tarballSize?: number;
  error?: string;
  /** Relocatable prefixes of dependencies that are not installed here (left out). */
  warnings?: string[];
}

/**
 * The specs to push for the requested ones, dependencies before dependents. As Spack 1.2's
 * `buildcache push`, dependencies include build dependencies unless `buildDeps` is false
 * (`--without-build-dependencies`: link, run and test dependencies only).
 */
export function specsToPush(
  requested: InstalledPrefix[],
  src: InstallSource,
  only: "package" | "dependencies" | "both" = "both",
  opts: { buildDeps?: boolean } = {},
): { items: InstalledPrefix[]; missing: string[] } {
  const follow = opts.buildDeps === false
    ? (types: string[]) => types.some((t) => t !== "build")
    : () => true;
  const order: SpecNode[] = [];
  const seen = new Set<string>();
  const dagOf = new Map<string, SpecDag>();
  // breadth-first over all requested roots together, as Spack's traverse_nodes
  const queue: { dag: SpecDag; hash: string; isRoot: boolean }[] = requested.map((r) => ({
    dag: r.dag,
    hash: r.hash,
    isRoot: true,
  }));
  for (const r of requested) seen.add(r.hash);
  while (queue.length) {
    const { dag, hash, isRoot } = queue.shift()!;
    const n = dag.nodes.get(hash);
    if (!n) continue;
    if ((isRoot && only !== "dependencies") || (!isRoot && only !== "package")) {
      if (!n.external) {
        order.push(n);
        dagOf.set(n.hash, dag);
      }
    }
    if (only === "package") continue;
    for (const d of n.dependencies) {
      if (seen.has(d.hash) || !follow(d.depTypes)) continue;
      seen.add(d.hash);
      queue.push({ dag, hash: d.hash, isRoot: false });
    }
  }
  order.reverse();
  const items: InstalledPrefix[] = [];
  const missing: string[] = [];
  const byHash = new Map(requested.map((r) => [r.hash, r]));
  for (const n of order) {
    const got = byHash.get(n.hash) ?? src.find(n.hash);
    if (got) items.push(got);
    else missing.push(`${n.name}@${n.version}/${n.hash}`);
  }
  return { items, missing };
}

/**
 * Pushes installed specs through `writer`. Results in push order.
 *
 * @example Push an installed prefix (with its dependencies) to a mirror
 * ```ts
 * import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * import {
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
 * // (above) prefixSource reads prefixes; dbSource(root) reads an install tree's database.
 * const again = await pushSpecs(specsToPush(installed.roots, installed).items, installed, writer);
 * if (again[0].status !== "skipped") throw new Error("a second push should skip the entry");
 * console.log(again.map((p) => `${p.name}: ${p.status}`));
 * rmSync(dir, { recursive: true, force: true });
 * ```
 */
export async function pushSpecs(
  items: InstalledPrefix[],
  src: InstallSource,
  writer: PushWriter,
  opts: PushOptions = {},
): Promise<PushedSpec[]> {
  const results: PushedSpec[] = new Array(items.length);
  const tmp = await workDir(writer.store, "push");
  writer.plan?.(items.map((i) => i.hash));
  const worker = async (item: InstalledPrefix, i: number) => {
    const r = await pushOne(item, src, writer, tmp, opts);
    results[i] = r;
    writer.done?.(item.hash);
    opts.onProgress?.(r);
  };
  try {
    const jobs = Math.max(1, Math.min(opts.jobs ?? 2, items.length || 1));
    await runPool(items, jobs, worker);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return results;
}

/** What `pushSpecs` needs of a writer (the V3Writer, or the OCI one). */
export type PushWriter = Pick<V3Writer, "store" | "complete" | "push"> & {
  /** Told the whole batch first, and each spec when it is handled (OCI manifests wait). */
  plan?(hashes: string[]): void;
  done?(hash: string): void;
};

/** Pushes one spec (packed into `tmp`); failures other than an abort are reported, not thrown. */
async function pushOne(
  item: InstalledPrefix,
  src: InstallSource,
  writer: PushWriter,
  tmp: string,
  opts: PushOptions,
): Promise<PushedSpec> {
  const node = item.dag.nodes.get(item.hash)!;
  const r: PushedSpec = {
    name: node.name,
    version: node.version,
    hash: item.hash,
    prefix: item.prefix,
    status: "failed",
  };
  try {
    opts.signal?.throwIfAborted();
    if (!opts.force && await writer.complete(node.name, node.version, item.hash, opts.signal)) {
      r.status = "skipped";
      return r;
    }
    const { meta, missing } = buildinfoMeta(item, src);
    if (missing.length) r.warnings = missing.map((m) => `dependency ${m} is not installed`);
    const file = join(tmp, `${item.hash}.tar.gz`);
    try {
      const packed = await packToFile({ prefix: item.prefix, meta }, file);
      const res = await writer.push(item.dag, {
        descriptor: packed.descriptor,
        file,
        open: () => Promise.resolve(fileStream(file)),
      }, { force: true, signer: opts.signer, signal: opts.signal });
      r.status = "pushed";
      r.manifestPath = res.manifestPath;
      r.tarballSize = packed.descriptor.size;
    } finally {
      rmSync(file, { force: true });
    }
  } catch (e) {
    r.error = (fsError(e, tmp, "push to") as Error).message;
    if (opts.signal?.aborted) throw e;
  }
  return r;
}
