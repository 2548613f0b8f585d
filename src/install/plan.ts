/**
 * The plan of an install run: the roots the queries name, and the metadata of their runtime
 * closure, fetched in parallel (bounded) into one {@link Job} per package, dependencies first.
 *
 * Memory stays bounded by the fetches in flight: a package's entry and spec DAG are dropped as
 * soon as its job is made (the job keeps a few strings, its own node and shared relocation
 * records), so resolving thousands of packages does not hold thousands of DAGs.
 *
 * @module
 */
import { join } from "node:path";
import { NotFoundError, UsageError } from "../errors.ts";
import { flatString, MemoryPacer } from "../core/memory_pacer.ts";
import type { Entry, ReadOptions } from "../layout/types.ts";
import { checkSubstitution } from "../layout/substitution.ts";
import { signatureWarning } from "../layout/_read.ts";
import { specsToRelocate } from "../spec/traverse.ts";
import type { SpecNode } from "../spec/types.ts";
import { buildSpecHash, spliceLookup } from "./splice.ts";
import {
  DbSpecText,
  type InstallSource,
  type Job,
  type OnProgress,
  type RelocSpec,
} from "./types.ts";

/** Spack 1.x's default install tree projection. */
export const DEFAULT_PROJECTION =
  "{architecture.platform}-{architecture.target}/{name}-{version}-{hash}";

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

/** A spec the queries name. */
export interface Root {
  hash: string;
  source: InstallSource;
  /** The queries that named it (each checked against the signed spec). */
  queries: string[];
  /** Set for an external spec asked for by name: registered, not extracted. */
  external?: SpecNode;
}

/** The specs the queries name, in the first source that has each (externals from the index). */
export async function findRoots(
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

/** Runs at most `n` of the given tasks at a time. */
export function semaphore(n: number): <T>(task: () => Promise<T>) => Promise<T> {
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

/** Reads an entry from `prefer`, else from the other sources; signature warnings reported. */
export type GetEntry = (hash: string, prefer: InstallSource) => Promise<Entry>;

/** The {@link GetEntry} of a run. */
export function entryGetter(
  sources: InstallSource[],
  readOpts: ReadOptions,
  progress: OnProgress,
): GetEntry {
  return async (hash, prefer) => {
    let lastErr: unknown;
    for (const source of [prefer, ...sources.filter((s) => s !== prefer)]) {
      try {
        const entry = await source.entry(hash, readOpts);
        const warning = signatureWarning(entry);
        if (warning) {
          progress({ phase: "warning", name: entry.ref.name, hash, message: warning });
        }
        return entry;
      } catch (e) {
        lastErr = e;
        if (!(e instanceof NotFoundError)) throw e;
      }
    }
    throw lastErr;
  };
}

/** What {@link fetchClosure} needs. */
export interface ClosureOptions {
  root: string;
  projection: string;
  jobs: number;
  noDeps?: boolean;
  /** The DAG hashes marked explicit (default: every root). */
  explicit?: Set<string>;
  /**
   * Metadata reads at once (default: 64, or 8 a job past 8 jobs): many hide a remote
   * mirror's latency; a local mirror needs few, and fewer spec files (each carries its whole
   * DAG) are then parsed at the same time.
   */
  reads?: number;
  /** Told of each job as it takes its place in the order (after its dependencies). */
  onOrdered?: (job: Job) => void;
}

/**
 * Fetches the metadata of the roots and of their runtime closure (link and run dependencies)
 * and makes a job of each spec that is not external: the jobs by hash and their order,
 * dependencies first. Each root's signed spec is checked against the queries that named it.
 */
export async function fetchClosure(
  roots: Root[],
  getEntry: GetEntry,
  o: ClosureOptions,
): Promise<{ jobs: Map<string, Job>; order: string[] }> {
  const jobs = new Map<string, Job>();
  const order: string[] = []; // dependencies first
  const visiting = new Map<string, Promise<void>>();
  // Metadata is small: many reads at once hide the mirror's latency (two requests an entry).
  const limit = semaphore(o.reads ?? Math.max(64, 8 * o.jobs));
  // Metadata reads and spec parsing leave garbage that is collected late: collections are
  // asked for as it grows (the resident set is looked at after each entry). The resident set
  // at the end of the plan is the floor of the whole run (what the runtime takes for the
  // plan's garbage is kept, not returned), so the headroom is narrow (2,000 packages: about
  // 13 MB less at the run's peak than with 8 MiB, for a few dozen more collections).
  const pacer = new MemoryPacer({ headroom: 2 << 20 });
  // One relocation record a hash, shared by the lists of every package that links it.
  const relocOf = new Map<string, RelocSpec>();
  const prefixOf = (n: SpecNode) => flatString(projectPrefix(o.root, n, o.projection));
  const shared: Shared = { relocOf, prefixOf, archOf: archInterner() };
  // The queries that named each root: checked against its signed spec when it is fetched.
  const rootQueries = new Map(roots.filter((r) => !r.external).map((r) => [r.hash, r.queries]));
  // `node` is the package's node in its dependent's DAG (unset for a root, whose own DAG has
  // it); each package is fetched once, also when it is a root and a dependency of another.
  const visit = (hash: string, node: SpecNode | undefined, source: InstallSource) => {
    let p = visiting.get(hash);
    if (!p) {
      p = (async () => {
        const queries = rootQueries.get(hash);
        if (!queries && (!node || node.external)) return;
        const e = await limit(() => getEntry(hash, source));
        // The index chose the entry; its signed spec must be what was asked for.
        for (const q of queries ?? []) checkSubstitution(q, e);
        pacer.check();
        // Made in a function of its own: nothing of the entry stays in this frame while the
        // dependencies are visited.
        const { direct, further } = addJob(jobs, hash, node, e, source, shared, o);
        // The rest of the runtime closure, known from this DAG, is fetched now rather than a
        // level at a time; its errors surface through the direct dependencies leading there.
        for (const [h, n] of further) visit(h, n, source).catch(() => {});
        await Promise.all(direct.map(([h, n]) => visit(h, n, source)));
        order.push(hash); // after its dependencies
        o.onOrdered?.(jobs.get(hash)!);
      })();
      visiting.set(hash, p);
    }
    return p;
  };
  // Root fetches are bounded as the dependencies' are: hundreds of roots at once would all be
  // held.
  await Promise.all(
    roots.filter((r) => !r.external).map((r) => visit(r.hash, undefined, r.source)),
  );
  for (const r of roots) {
    const job = jobs.get(r.hash);
    if (job && (o.explicit?.has(r.hash) ?? true)) job.explicit = true;
  }
  return { jobs, order };
}

type Deps = (readonly [string, SpecNode | undefined])[];

/** What the jobs of a plan share. */
interface Shared {
  /** One relocation record a hash, shared by the lists of every package that links it. */
  relocOf: Map<string, RelocSpec>;
  prefixOf: (n: SpecNode) => string;
  archOf: (n: SpecNode) => Pick<SpecNode, "arch" | "raw">;
}

const NO_DEPENDENCIES: SpecNode["dependencies"] = Object.freeze([]) as never;
const NO_EXTERNALS: SpecNode[] = Object.freeze([]) as never;

/**
 * A job node's architecture (parsed, and its dict: what the target checks read), one object
 * for all the packages with the same (a run holds a node for each package until the commit,
 * and a target's dict can list dozens of features).
 */
function archInterner(): (n: SpecNode) => Pick<SpecNode, "arch" | "raw"> {
  const seen = new Map<string, Pick<SpecNode, "arch" | "raw">>();
  return (n) => {
    const key = JSON.stringify([n.arch, n.raw.arch]);
    let a = seen.get(key);
    if (!a) seen.set(key, a = { arch: n.arch, raw: { arch: n.raw.arch } });
    return a;
  };
}

/** Makes the job of a fetched entry; returns the dependencies to visit, with their nodes. */
function addJob(
  jobs: Map<string, Job>,
  hash: string,
  node: SpecNode | undefined,
  entry: Entry,
  source: InstallSource,
  shared: Shared,
  o: ClosureOptions,
): { direct: Deps; further: Deps } {
  const { relocOf, prefixOf, archOf } = shared;
  const own = entry.spec;
  const ownNode = own.nodes.get(hash) ?? node!;
  const toRelocate = specsToRelocate(own, hash);
  const buildHash = buildSpecHash(ownNode);
  const externals = ownNode.dependencies.map((d) => own.nodes.get(d.hash)!).filter((dn) =>
    dn?.external
  );
  // A hash has one prefix (its dict decides it): one string for the job and the records.
  const prefix = relocOf.get(hash)?.prefix ?? prefixOf(ownNode);
  jobs.set(hash, {
    // The node without its dict's tree of objects (thousands of packages are held until the
    // commit): its text is what the database needs. Its architecture is shared with the
    // packages that have the same.
    node: { ...ownNode, dependencies: NO_DEPENDENCIES, ...archOf(ownNode) },
    record: new DbSpecText(ownNode.raw),
    prefix,
    source,
    explicit: false,
    tarball: {
      open: entry.openTarball,
      checksum: entry.tarball.checksum,
      size: entry.tarball.size,
      path: flatString(entry.tarballPath),
      mirror: entry.ref.mirror,
    },
    reloc: toRelocate.map((n) => {
      let r = relocOf.get(n.hash);
      if (!r) {
        relocOf.set(n.hash, r = { hash: n.hash, prefix: n.hash === hash ? prefix : prefixOf(n) });
      }
      return r;
    }),
    // A spliced spec keeps what its install needs from the DAG (spliced specs are rare).
    splice: buildHash
      ? {
        buildHash,
        lookup: spliceLookup(own, hash, buildHash, toRelocate),
        spec: (own.raw as { spec?: unknown }).spec,
      }
      : undefined,
    externals: externals.length ? externals : NO_EXTERNALS,
  });
  if (o.noDeps) return { direct: [], further: [] };
  const direct = ownNode.dependencies.filter((d) => RUNTIME(d.depTypes)).map((d) =>
    [d.hash, own.nodes.get(d.hash)] as const
  );
  const further: [string, SpecNode][] = [];
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
}
