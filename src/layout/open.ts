/**
 * A mirror as one object: layout detection, the reader of each layout present (v3 preferred),
 * queries, spec resolution, entries, runtime closures and published keys. `openMirrors`
 * searches several mirrors in order.
 *
 * @module
 */
import { NotFoundError, UsageError } from "../errors.ts";
import type { Verifier } from "../sign/types.ts";
import type { SpecNode } from "../spec/types.ts";
import { openStore, type OpenStoreOptions } from "../storage/open.ts";
import type { ReadStore } from "../storage/store.ts";
import { detectLayout, type LayoutInfo } from "./detect.ts";
import { matchesAnyQuery, parseSpecQuery, type SpecQuery } from "../index/query.ts";
import { archString, namingCompiler } from "../spec/node.ts";
import type { CacheReader, Entry, EntryRef, ReadOptions } from "./types.ts";
import { V2Reader } from "./v2/reader.ts";
import { V3Reader } from "./v3/reader.ts";
import { isRegistryStore } from "../storage/registry/store.ts";
import { OciReader } from "./oci/reader.ts";

/** Options of `openMirror`. */
export interface OpenMirrorOptions {
  /** Verifies signed metadata (signatures are required by default when reading entries). */
  verifier?: Verifier;
  /** Read only this layout (default: detect; v3 when both are present). */
  layout?: 2 | 3;
  /** Read this v3 index view instead of the main index. */
  view?: string;
  /** Options for opening a URL. */
  store?: OpenStoreOptions;
  /** A display name (a configured mirror name). */
  name?: string;
  signal?: AbortSignal;
  /** Told when an index cannot be used and the manifests are listed instead. */
  onWarning?: (message: string) => void;
}

/** Dependency types that make up the runtime closure. */
export const RUNTIME_DEP_TYPES = ["link", "run"] as const;

/** What `list`, `resolve`, `entry`, `closure` and `keys` need: one mirror or several. */
export interface MirrorLike {
  /** Every entry reference matching `query` (all when omitted), first mirror first. */
  list(
    query?: string | string[] | SpecQuery[],
    opts?: { signal?: AbortSignal },
  ): Promise<EntryRef[]>;
  /**
   * The one entry `query` names among entries in the build cache: NotFoundError when none,
   * UsageError listing the candidates when several.
   */
  resolve(query: string, opts?: { signal?: AbortSignal }): Promise<EntryRef>;
  /** The entry of a full DAG hash, metadata fetched and checked. */
  entry(hash: string, opts?: ReadOptions): Promise<Entry>;
  /**
   * `hash` and every node reachable through link and run dependencies, dependencies before
   * dependents (the root last). Nodes not in any build cache (externals) are included with
   * `inBuildcache: false`.
   */
  closure(hash: string, opts?: ReadOptions): Promise<EntryRef[]>;
  /** Public keys the mirror(s) publish (never trusted by themselves). */
  keys(
    opts?: { signal?: AbortSignal },
  ): Promise<{ fingerprint: string; armored: string; mirror: string }[]>;
  /** Notes from detection and reading (both layouts present, no index, legacy entries). */
  notes(): string[];
  /** The reference of a full hash (index first, then listings), or undefined when absent. */
  ref(hash: string, opts?: { signal?: AbortSignal }): Promise<EntryRef | undefined>;
}

/** One opened mirror. */
export interface Mirror extends MirrorLike {
  /** The mirror URL (ends in "/"). */
  readonly url: string;
  /** The configured name, when opened by name. */
  readonly name?: string;
  readonly store: ReadStore;
  readonly layout: LayoutInfo;
  /** Readers of the layouts present, preferred first. */
  readonly readers: CacheReader[];
}

function toSpecs(query?: string | string[] | SpecQuery[]): SpecQuery[] {
  if (query === undefined) return [];
  if (Array.isArray(query) && query.length && typeof query[0] === "object") {
    return query as SpecQuery[];
  }
  return parseSpecQuery(query as string | string[]);
}

function describe(r: EntryRef): string {
  return `${r.name}@${r.version}/${r.hash.slice(0, 7)}${r.arch ? ` arch=${r.arch}` : ""}${
    r.mirror ? ` (${r.mirror})` : ""
  }`;
}

/** Picks the single buildcache entry among matches, or explains why not. */
export function pickOne(query: string, refs: EntryRef[]): EntryRef {
  const inCache = refs.filter((r) => r.inBuildcache);
  const seen = new Set<string>();
  const unique = inCache.filter((r) => !seen.has(r.hash) && seen.add(r.hash));
  if (unique.length === 1) return unique[0];
  if (unique.length === 0) {
    if (refs.length) {
      throw new NotFoundError(
        `Cannot find "${query}" in the build cache: the index lists only ${
          refs.map(describe).join(", ")
        }, which is not in the cache (external or build-only)`,
      );
    }
    throw new NotFoundError(`Cannot find a spec matching "${query}"`);
  }
  const shown = unique.slice(0, 20).map((r) => "  " + describe(r)).join("\n");
  const more = unique.length > 20 ? `\n  ... and ${unique.length - 20} more` : "";
  throw new UsageError(
    `"${query}" matches ${unique.length} specs; name one with name@version or /hash:\n${shown}${more}`,
  );
}

/** Every entry a reader lists, as one array (no step per entry where the reader has one). */
async function allRefs(r: CacheReader, signal?: AbortSignal): Promise<readonly EntryRef[]> {
  if (r.refs) return r.refs({ signal });
  const out: EntryRef[] = [];
  for await (const ref of r.list({ signal })) out.push(ref);
  return out;
}

class OpenedMirror implements Mirror {
  #notes: string[];
  constructor(
    readonly url: string,
    readonly store: ReadStore,
    readonly layout: LayoutInfo,
    readonly readers: CacheReader[],
    readonly name?: string,
  ) {
    this.#notes = [...layout.notes];
  }

  notes(): string[] {
    const out = [...this.#notes];
    for (const r of this.readers) for (const n of r.notes ?? []) if (!out.includes(n)) out.push(n);
    return out;
  }

  async list(
    query?: string | string[] | SpecQuery[],
    opts?: { signal?: AbortSignal },
  ): Promise<EntryRef[]> {
    const specs = toSpecs(query);
    const out: EntryRef[] = [];
    const mirror = this.name ?? this.url;
    for (const r of await this.#candidates(specs, opts?.signal)) {
      if (matchesAnyQuery(r, specs)) out.push({ ...r, mirror });
    }
    return out;
  }

  #byName?: Map<string, { at: number; ref: EntryRef }[]>;
  #lookups = 0;

  /**
   * The listed references that can match `specs`, in listing order: when every query names a
   * package, only that package's references (from a table made once, so an install resolving
   * hundreds of names does not walk the whole index for each), else the whole listing.
   */
  async #candidates(
    specs: SpecQuery[],
    signal?: AbortSignal,
  ): Promise<Iterable<EntryRef>> {
    // The table pays from the second lookup on (an install resolving many names); one
    // lookup (`show`, `resolve`) walks the listing once.
    if (!specs.length || specs.some((q) => q.name === undefined) || !this.#lookups++) {
      return allRefs(this.readers[0], signal);
    }
    if (!this.#byName) {
      const table = new Map<string, { at: number; ref: EntryRef }[]>();
      let at = 0;
      for (const ref of await allRefs(this.readers[0], signal)) {
        const rows = table.get(ref.name);
        if (rows) rows.push({ at: at++, ref });
        else table.set(ref.name, [{ at: at++, ref }]);
      }
      this.#byName = table;
    }
    const names = new Set(specs.map((q) => q.name!));
    const rows = [...names].flatMap((n) => this.#byName!.get(n) ?? []);
    if (names.size > 1) rows.sort((a, b) => a.at - b.at);
    return rows.map((r) => r.ref);
  }

  async resolve(query: string, opts?: { signal?: AbortSignal }): Promise<EntryRef> {
    return pickOne(query, await this.list(query, opts));
  }

  async entry(hash: string, opts?: ReadOptions): Promise<Entry> {
    let first: unknown;
    for (const reader of this.readers) {
      try {
        const e = await reader.entry(hash, opts);
        e.ref = { ...e.ref, mirror: this.name ?? this.url };
        return e;
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err;
        first ??= err;
      }
    }
    throw first;
  }

  /** The index node of a hash in any layout present (preferred layout first). */
  async indexNode(hash: string, signal?: AbortSignal): Promise<SpecNode | undefined> {
    for (const r of this.readers) {
      const n = await r.node?.(hash, { signal });
      if (n) return n;
    }
    return undefined;
  }

  #byHash?: Map<string, EntryRef>;
  #named = new Map<string, EntryRef>();

  /** The reference of a full hash in any layout present (preferred layout wins). */
  async refByHash(hash: string, signal?: AbortSignal): Promise<EntryRef | undefined> {
    if (!this.#byHash) {
      const map = new Map<string, EntryRef>();
      for (const r of this.readers) {
        for (const ref of await allRefs(r, signal)) {
          if (!map.has(ref.hash)) map.set(ref.hash, ref);
        }
      }
      this.#byHash = map;
    }
    // Copies with the mirror's name are made only for the hashes asked for.
    const known = this.#byHash.get(hash);
    if (known) {
      let named = this.#named.get(hash);
      if (!named) this.#named.set(hash, named = { ...known, mirror: this.name ?? this.url });
      return named;
    }
    for (const r of this.readers) {
      try {
        const ref = await r.ref?.(hash, { signal });
        if (ref) return { ...ref, mirror: this.name ?? this.url };
      } catch (e) {
        if (!(e instanceof NotFoundError)) throw e;
      }
    }
    return undefined;
  }

  ref(hash: string, opts?: { signal?: AbortSignal }): Promise<EntryRef | undefined> {
    return this.refByHash(hash, opts?.signal);
  }

  closure(hash: string, opts?: ReadOptions): Promise<EntryRef[]> {
    return closureOver([this], hash, opts);
  }

  async keys(
    opts?: { signal?: AbortSignal },
  ): Promise<{ fingerprint: string; armored: string; mirror: string }[]> {
    const out: { fingerprint: string; armored: string; mirror: string }[] = [];
    for (const r of this.readers) {
      for (const k of await r.keys(opts)) {
        if (!out.some((o) => o.fingerprint === k.fingerprint)) {
          out.push({ ...k, mirror: this.name ?? this.url });
        }
      }
    }
    return out;
  }
}

/**
 * The runtime closure of `hash` resolved across `mirrors` in order: from index nodes where
 * the indexes have them, else from the DAG in the root's own spec file.
 */
async function closureOver(
  mirrors: OpenedMirror[],
  hash: string,
  opts: ReadOptions = {},
): Promise<EntryRef[]> {
  const lookupIndex = async (h: string) => {
    for (const m of mirrors) {
      const n = await m.indexNode(h, opts.signal);
      if (n) return n;
    }
    return undefined;
  };
  let fromSpec: Map<string, SpecNode> | undefined;
  const lookup = async (h: string): Promise<SpecNode | undefined> => {
    const n = await lookupIndex(h);
    if (n || fromSpec) return n ?? fromSpec?.get(h);
    for (const m of mirrors) {
      try {
        fromSpec = (await m.entry(hash, opts)).spec.nodes;
        break;
      } catch (e) {
        if (!(e instanceof NotFoundError)) throw e;
      }
    }
    return fromSpec?.get(h);
  };
  const order: SpecNode[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = async (h: string, path: string[]): Promise<void> => {
    if (state.get(h) === "done") return;
    if (state.get(h) === "visiting") {
      throw new NotFoundError(
        `Cannot order the dependencies of "${hash}": cycle ${path.join(" -> ")}`,
      );
    }
    const node = await lookup(h);
    if (!node) {
      throw new NotFoundError(
        `Cannot find spec "${h}"${
          path.length > 1 ? ` (a dependency of ${path.at(-2)})` : ""
        } in any mirror`,
      );
    }
    state.set(h, "visiting");
    for (const d of node.dependencies) {
      if (d.depTypes.some((t) => t === "link" || t === "run")) {
        await visit(d.hash, [...path, d.hash]);
      }
    }
    state.set(h, "done");
    order.push(node);
  };
  await visit(hash, [hash]);
  const byHash = new Map(order.map((n) => [n.hash, n]));
  const all = (h: string) => byHash.get(h) ?? fromSpec?.get(h);
  const out: EntryRef[] = [];
  for (const node of order) {
    let ref: EntryRef | undefined;
    for (const m of mirrors) {
      const r = await m.refByHash(node.hash, opts.signal);
      if (r && (r.inBuildcache || !ref)) ref = r;
      if (ref?.inBuildcache) break;
    }
    if (!ref) {
      const c = namingCompiler(node, all);
      ref = {
        name: node.name,
        version: node.version,
        hash: node.hash,
        arch: archString(node.arch),
        compiler: c ? `${c.name}@${c.version}` : undefined,
        inBuildcache: false,
        layout: mirrors[0].layout.primary,
      };
    }
    out.push(ref);
  }
  return out;
}

/**
 * Opens a mirror from a store, a URL or a local path, detecting its layouts.
 *
 * @example List a build cache and read one entry
 * ```ts
 * import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * import {
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
 * const mirror = await openMirror(join(dir, "mirror")); // a path, a URL, or a Store
 * const [ref] = await mirror.list("hello@1:"); // Spack's query syntax
 * const entry = await mirror.entry(ref.hash, { requireSignature: false });
 * if (entry.spec.root !== hash) throw new Error("not the entry pushed");
 * console.log(`${ref.name}@${ref.version}: ${entry.tarball.size} bytes`);
 * rmSync(dir, { recursive: true, force: true });
 * ```
 */
export async function openMirror(
  storeOrUrl: ReadStore | string | URL,
  opts: OpenMirrorOptions = {},
): Promise<Mirror> {
  const store = typeof storeOrUrl === "string" || storeOrUrl instanceof URL
    ? await openStore(storeOrUrl, opts.store)
    : storeOrUrl;
  if (isRegistryStore(store)) {
    // A registry holds Spack's OCI images: one reader, its index read now so that an
    // unreachable or refusing registry fails here (as detection does for URL mirrors).
    if (opts.layout === 2) {
      throw new NotFoundError(
        `Cannot read layout v2 of "${store.url.href}": it is an OCI registry`,
      );
    }
    const reader = new OciReader(store);
    await reader.index(opts.signal);
    const info: LayoutInfo = { versions: [3], primary: 3, notes: [] };
    return new OpenedMirror(store.url.href, store, info, [reader], opts.name);
  }
  let layout = await detectLayout(store, { signal: opts.signal });
  if (opts.layout) {
    if (!layout.versions.includes(opts.layout)) {
      throw new NotFoundError(
        `Cannot read layout v${opts.layout} of "${store.url.href}": it holds only v${
          layout.versions.join(" and v")
        }`,
      );
    }
    layout = { versions: [opts.layout], primary: opts.layout, notes: layout.notes };
  }
  const readers = layout.versions.map((v): CacheReader =>
    v === 3
      ? new V3Reader(store, { verifier: opts.verifier, view: opts.view, onWarning: opts.onWarning })
      : new V2Reader(store, { verifier: opts.verifier })
  );
  return new OpenedMirror(store.url.href, store, layout, readers, opts.name);
}

/** Several mirrors searched in order (the first that has an entry provides it). */
export interface MirrorSet extends MirrorLike {
  readonly mirrors: Mirror[];
  /** Mirrors left out because they could not be opened (`skipUnavailable` of openMirrors). */
  readonly skipped: { source: string; error: unknown }[];
}

class Mirrors implements MirrorSet {
  constructor(
    readonly mirrors: OpenedMirror[],
    readonly skipped: { source: string; error: unknown }[] = [],
  ) {}

  notes(): string[] {
    return this.mirrors.flatMap((m) => m.notes().map((n) => `${m.name ?? m.url}: ${n}`));
  }

  async list(
    query?: string | string[] | SpecQuery[],
    opts?: { signal?: AbortSignal },
  ): Promise<EntryRef[]> {
    const specs = toSpecs(query);
    const seen = new Set<string>();
    const out: EntryRef[] = [];
    for (const m of this.mirrors) {
      for (const r of await m.list(specs, opts)) {
        if (seen.has(r.hash)) continue;
        seen.add(r.hash);
        out.push(r);
      }
    }
    return out;
  }

  async resolve(query: string, opts?: { signal?: AbortSignal }): Promise<EntryRef> {
    const specs = parseSpecQuery(query);
    const refs: EntryRef[] = [];
    for (const m of this.mirrors) refs.push(...await m.list(specs, opts));
    return pickOne(query, refs);
  }

  async entry(hash: string, opts?: ReadOptions): Promise<Entry> {
    let first: unknown;
    for (const m of this.mirrors) {
      try {
        return await m.entry(hash, opts);
      } catch (e) {
        if (!(e instanceof NotFoundError)) throw e;
        first ??= e;
      }
    }
    throw first ?? new NotFoundError(`Cannot find spec "${hash}": no mirror was given`);
  }

  /** The index node of a hash in the first mirror that has one (externals included). */
  async indexNode(hash: string, signal?: AbortSignal): Promise<SpecNode | undefined> {
    for (const m of this.mirrors) {
      const n = await m.indexNode(hash, signal);
      if (n) return n;
    }
    return undefined;
  }

  async ref(hash: string, opts?: { signal?: AbortSignal }): Promise<EntryRef | undefined> {
    let found: EntryRef | undefined;
    for (const m of this.mirrors) {
      const r = await m.refByHash(hash, opts?.signal);
      if (r?.inBuildcache) return r;
      found ??= r;
    }
    return found;
  }

  closure(hash: string, opts?: ReadOptions): Promise<EntryRef[]> {
    return closureOver(this.mirrors, hash, opts);
  }

  async keys(
    opts?: { signal?: AbortSignal },
  ): Promise<{ fingerprint: string; armored: string; mirror: string }[]> {
    const out: { fingerprint: string; armored: string; mirror: string }[] = [];
    for (const m of this.mirrors) {
      for (const k of await m.keys(opts)) {
        if (!out.some((o) => o.fingerprint === k.fingerprint)) out.push(k);
      }
    }
    return out;
  }
}

/** Opens several mirrors (in parallel) searched in the order given. */
export async function openMirrors(
  sources: (
    | ReadStore
    | string
    | URL
    | {
      source: ReadStore | string | URL;
      name?: string;
      view?: string;
      /** Options for opening this source (instead of `opts.store`). */
      store?: OpenStoreOptions;
    }
  )[],
  opts: OpenMirrorOptions & {
    /**
     * Leave out mirrors that cannot be opened (unreachable, no build cache there), as Spack
     * goes on with the next mirror; they are listed in `skipped`. When none can be
     * opened, the first one's error is thrown. Usage errors (a bad URL) are always thrown.
     */
    skipUnavailable?: boolean;
  } = {},
): Promise<MirrorSet> {
  if (sources.length === 0) throw new UsageError("No mirror was given (use -m/--mirror URL)");
  const opening = sources.map((s) => {
    const src = typeof s === "object" && "source" in s
      ? s
      : { source: s, name: undefined, view: undefined, store: undefined };
    return openMirror(src.source, {
      ...opts,
      store: src.store ?? opts.store,
      name: src.name ?? opts.name,
      view: src.view ?? opts.view,
    });
  });
  if (!opts.skipUnavailable || sources.length === 1) {
    return new Mirrors(await Promise.all(opening) as OpenedMirror[]);
  }
  const settled = await Promise.allSettled(opening);
  const opened: OpenedMirror[] = [];
  const skipped: { source: string; error: unknown }[] = [];
  settled.forEach((r, i) => {
    if (r.status === "fulfilled") opened.push(r.value as OpenedMirror);
    else {
      if (r.reason instanceof UsageError || opts.signal?.aborted) throw r.reason;
      const s = sources[i];
      const src = typeof s === "object" && "source" in s ? s.source : s;
      const label = typeof src === "string" ? src : src instanceof URL ? src.href : src.url.href;
      const name = typeof s === "object" && "source" in s ? s.name : undefined;
      skipped.push({ source: name ?? label, error: r.reason });
    }
  });
  if (opened.length === 0) throw skipped[0].error;
  return new Mirrors(opened, skipped);
}
