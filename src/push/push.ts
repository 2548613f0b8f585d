/**
 * Pushing installed specs to a v3 build cache: from an install tree with a Spack database
 * (`ROOT/.spack-db/index.json`, Spack's or spackle's) or from prefix directories holding
 * `.spack/spec.json`. Dependencies (link, run, test) are pushed before dependents, externals
 * never; each spec is packed to a temporary file (hashed while written) and handed to the
 * V3Writer, several at once.
 *
 * @module
 */
import {
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
} from "node:fs";
import { fileURLToPath } from "node:url";
import { randomBytes } from "node:crypto";
import { v3BlobPath } from "../layout/v3/paths.ts";
import { createReadStream } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { Readable } from "node:stream";
import { InvalidDataError, NotFoundError, UsageError } from "../errors.ts";
import { parseSpecJson } from "../spec/parse.ts";
import type { V3Writer } from "../layout/v3/writer.ts";
import type { Descriptor } from "../layout/types.ts";
import type { Signer } from "../sign/types.ts";
import type { SpecDag, SpecNode } from "../spec/types.ts";
import type { BuildinfoMeta } from "./buildinfo.ts";
import { packToFile } from "./pack.ts";
import { ownerTag, removeDeadOwners } from "../core/pid.ts";
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
export interface InstallSource {
  /** The installed prefix of `hash`, or undefined when not installed here. */
  find(hash: string): InstalledPrefix | undefined;
  /** Installed specs matching a query (`name`, `name@version`, `/hash`, `name/hash`). */
  query(q: string): InstalledPrefix[];
}

const DB_DIR = ".spack-db";

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

function matches(node: { name: string; version: string; hash: string }, q: string): boolean {
  const m = /^([^@/\s]*)(?:@([^/\s]+))?(?:\s*\/([a-z2-7]+))?$/.exec(q.trim());
  if (!m) {
    throw new UsageError(`Cannot understand the spec "${q}" (use NAME, NAME@VERSION or /HASH)`);
  }
  const [, name, version, hash] = m;
  if (!name && !hash) throw new UsageError(`Cannot understand the spec "${q}"`);
  return (!name || node.name === name) && (!version || node.version === version) &&
    (!hash || node.hash.startsWith(hash));
}

/** An install tree with a Spack database at `ROOT/.spack-db/index.json`. */
export function dbSource(root: string): InstallSource {
  root = resolve(root);
  const p = join(root, DB_DIR, "index.json");
  let db: { database?: { installs?: Record<string, Record<string, unknown>> } };
  try {
    db = JSON.parse(readFileSync(p, "utf8"));
  } catch (e) {
    throw new NotFoundError(`Cannot read the install database "${p}": ${(e as Error).message}`);
  }
  const installs = db.database?.installs;
  if (!installs || typeof installs !== "object") {
    throw new InvalidDataError(`Cannot read "${p}": it has no "database.installs"`);
  }
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
    query(q) {
      const out: InstalledPrefix[] = [];
      for (const [hash, rec] of Object.entries(installs)) {
        const s = rec.spec as { name?: string; version?: string } | undefined;
        if (!s?.name || rec.installed === false) continue;
        if (matches({ name: s.name, version: String(s.version ?? ""), hash }, q)) {
          const got = load(hash);
          if (got) out.push(got);
        }
      }
      return out;
    },
  };
}

/**
 * The store root of a prefix: the nearest ancestor (up to four levels) holding a Spack
 * database, else two levels up (Spack 1.x's default projection `{arch}/{name}-{version}-{hash}`).
 */
export function storeRootOf(prefix: string): string {
  let d = dirname(prefix);
  for (let i = 0; i < 4 && d !== dirname(d); i++, d = dirname(d)) {
    if (existsSync(join(d, DB_DIR, "index.json"))) return d;
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
          dbs.set(r, existsSync(join(r, DB_DIR, "index.json")) ? dbSource(r) : undefined);
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
    query(q) {
      return roots.filter((r) => matches(r.dag.nodes.get(r.hash)!, q));
    },
  };
}

/** Nodes reachable from `root` over the given dependency types, breadth-first, root first. */
function traverse(dag: SpecDag, root: string, types: string[], includeRoot: boolean): SpecNode[] {
  const seen = new Set<string>([root]);
  const out: SpecNode[] = [];
  const queue = [root];
  while (queue.length) {
    const h = queue.shift()!;
    const n = dag.nodes.get(h);
    if (!n) continue;
    if (h !== root || includeRoot) out.push(n);
    for (const d of n.dependencies) {
      if (!seen.has(d.hash) && d.depTypes.some((t) => types.includes(t))) {
        seen.add(d.hash);
        queue.push(d.hash);
      }
    }
  }
  return out;
}

/**
 * The specs whose prefixes a spec's files may mention (Spack's `specs_to_relocate`): the root,
 * its transitive link dependencies (breadth-first) and its direct run dependencies, externals
 * excluded.
 */
export function specsToRelocate(dag: SpecDag, root: string): SpecNode[] {
  const link = traverse(dag, root, ["link"], true);
  const run = (dag.nodes.get(root)?.dependencies ?? []).filter((d) => d.depTypes.includes("run"))
    .map((d) => dag.nodes.get(d.hash)).filter((n): n is SpecNode => !!n);
  const seen = new Set<string>();
  return [...link, ...run].filter((n) => !n.external && !seen.has(n.hash) && seen.add(n.hash));
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

/** The specs to push for the requested ones, dependencies before dependents. */
export function specsToPush(
  requested: InstalledPrefix[],
  src: InstallSource,
  only: "package" | "dependencies" | "both" = "both",
): { items: InstalledPrefix[]; missing: string[] } {
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
      if (seen.has(d.hash) || !d.depTypes.some((t) => t !== "build")) continue;
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
 * Renames a packed tarball into the blob path of a local mirror, unless the blob is there with
 * its content (a corrupt one of the same size is replaced).
 */
async function placeBlob(
  writer: V3Writer,
  local: string,
  file: string,
  d: Descriptor,
  signal?: AbortSignal,
): Promise<void> {
  if (await writer.hasBlob(d, signal)) return;
  const path = v3BlobPath(d.checksum);
  const dest = join(local, path);
  mkdirSync(dirname(dest), { recursive: true });
  // A link (the packed file stays readable, should the blob have to be written again after
  // a concurrent prune) under a temporary name, renamed over whatever is there.
  const tmp = join(dirname(dest), `.spackle-tmp-${ownerTag()}${randomBytes(6).toString("hex")}`);
  linkSync(file, tmp);
  try {
    renameSync(tmp, dest);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  writer.markGood(path);
}

/** Pushes installed specs through `writer`. Results in push order. */
export async function pushSpecs(
  items: InstalledPrefix[],
  src: InstallSource,
  writer: V3Writer,
  opts: PushOptions = {},
): Promise<PushedSpec[]> {
  const results: PushedSpec[] = new Array(items.length);
  // A local mirror gets the tarball packed beside it and renamed into place (no copy).
  const local = writer.store.url.protocol === "file:" ? fileURLToPath(writer.store.url) : undefined;
  // Working directories of pushes killed on this host are removed first.
  const parent = local ?? tmpdir();
  const prefix = local ? ".spackle-push-" : "spackle-push-";
  let tmp: string;
  try {
    if (local) mkdirSync(local, { recursive: true });
    removeDeadOwners(parent, prefix);
    tmp = mkdtempSync(join(parent, prefix + ownerTag()));
  } catch (e) {
    throw fsError(e, parent, local ? "write to the mirror" : "make a working directory in");
  }
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      const item = items[i];
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
        if (
          !opts.force && await writer.complete(node.name, node.version, item.hash, opts.signal)
        ) {
          r.status = "skipped";
        } else {
          const { meta, missing } = buildinfoMeta(item, src);
          if (missing.length) r.warnings = missing.map((m) => `dependency ${m} is not installed`);
          const file = join(tmp, `${item.hash}.tar.gz`);
          try {
            const packed = await packToFile({ prefix: item.prefix, meta }, file);
            if (local) await placeBlob(writer, local, file, packed.descriptor, opts.signal);
            const res = await writer.push(item.dag, {
              descriptor: packed.descriptor,
              open: () =>
                Promise.resolve(
                  Readable.toWeb(
                    createReadStream(file, { highWaterMark: 1 << 20 }),
                  ) as ReadableStream<
                    Uint8Array
                  >,
                ),
            }, { force: true, signer: opts.signer, signal: opts.signal });
            r.status = "pushed";
            r.manifestPath = res.manifestPath;
            r.tarballSize = packed.descriptor.size;
          } finally {
            rmSync(file, { force: true });
          }
        }
      } catch (e) {
        r.error = (fsError(e, local ?? tmp, "push to") as Error).message;
        if (opts.signal?.aborted) throw e;
      }
      results[i] = r;
      opts.onProgress?.(r);
    }
  };
  try {
    const jobs = Math.max(1, Math.min(opts.jobs ?? 2, items.length || 1));
    await Promise.all(Array.from({ length: jobs }, worker));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return results;
}
