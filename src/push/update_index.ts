/**
 * Rebuilding a v3 mirror's index from its spec manifests (FORMAT.md 3.13): list
 * `v3/manifests/spec/`, read the manifests and their spec blobs in parallel (checksums
 * verified, signatures not), and write a Spack database (version 8) as the index blob and
 * manifest. Every node of every spec is a record, dependencies before dependents; the specs
 * that have a manifest are `in_buildcache: true`.
 *
 * @module
 */
import { InvalidDataError } from "../errors.ts";
import { runPool } from "../core/pool.ts";
import { fsError } from "../core/fs_errors.ts";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { localDir, type ReadStore } from "../storage/store.ts";
import { MEDIA_TYPES } from "../layout/media_types.ts";
import { V3_SPEC_DIR, V3_SPEC_MANIFEST_SUFFIX } from "../layout/v3/paths.ts";
import type { V3Writer } from "../layout/v3/writer.ts";
import { buildcacheRecords, buildIndexJson, putBuildcacheIndex } from "../index/writer.ts";
import { MemoryPacer } from "../core/memory_pacer.ts";
import type { Descriptor } from "../layout/types.ts";
import type { SpecDag } from "../spec/types.ts";
import { HashedSink, TextSpool } from "./spool.ts";
import { fileStream, workDir } from "./work_dir.ts";
import {
  localSpecIo,
  type ReadNode,
  readSpecManifest,
  type SpecIo,
  type SpecRead,
} from "./spec_read.ts";

/**
 * The index blob text for `specs`: Spack's `BuildCacheDatabase` JSON (records with `spec`,
 * `ref_count`, `in_buildcache`), compact, ASCII-escaped (`buildIndexJson` of the index area).
 */
export function buildIndexText(specs: SpecDag[]): string {
  return buildIndexJson(buildcacheRecords(specs), { kind: "buildcache" });
}

/** What an index rebuild read and wrote. */
export interface UpdateIndexResult {
  specs: number;
  /** Manifests that could not be read (skipped, as Spack does), with the reason. */
  skipped: { path: string; reason: string }[];
  index: Descriptor;
  /** Fingerprints in the key index, when it was written too. */
  keys?: string[];
}

/** The bytes at `path` of a mirror that is not local. */
async function readBytes(
  store: ReadStore,
  path: string,
  signal?: AbortSignal,
): Promise<Uint8Array> {
  return new Uint8Array(await new Response(await store.read(path, { signal })).arrayBuffer());
}

/** Rebuilds the index of the mirror `writer` writes to (and the key index with `keys`). */
export async function updateIndex(
  writer: V3Writer,
  opts: {
    jobs?: number;
    keys?: boolean;
    signal?: AbortSignal;
    /**
     * Bytes of node texts, and of the index being written, held in memory before they go to a
     * file of a working directory (default 16 MiB): on the mirror's file system for a local
     * mirror, else under the system's temporary directory. Removed at the end.
     */
    spoolLimit?: number;
  } = {},
): Promise<UpdateIndexResult> {
  const store = writer.store;
  if (!store.list) {
    throw new InvalidDataError(`Cannot list "${store.url.href}": the store cannot be listed`);
  }
  const paths: string[] = [];
  for await (const p of store.list(V3_SPEC_DIR, { signal: opts.signal })) {
    if (p.endsWith(V3_SPEC_MANIFEST_SUFFIX)) paths.push(p);
  }
  paths.sort();
  // Blob sizes from one listing where it carries them (S3); else each blob is asked for.
  let listed: Map<string, number> | undefined;
  if (store.listStat && paths.length) {
    listed = new Map();
    for await (const o of store.listStat("blobs/", { signal: opts.signal })) {
      listed.set(o.path, o.size);
    }
  }
  // A local mirror's small files are read directly (a stream per small object costs more
  // than the read).
  const localRoot = localDir(store);
  const io: SpecIo = localRoot !== undefined ? localSpecIo(localRoot, store.url.href) : {
    bytes: (path) => readBytes(store, path, opts.signal),
    blobSize: async (path) =>
      listed ? listed.get(path) : (await store.stat(path, { signal: opts.signal }))?.size,
  };
  // What is kept of each spec read: its root, and each node once, its dict's text in a spool
  // (a file past SPOOL_LIMIT) and its edges in flat arrays: memory does not grow with the
  // number of specs as it would with their texts and objects.
  const roots = new Int32Array(paths.length).fill(-1);
  const skipped: { path: string; reason: string }[] = [];
  let dir: string | undefined;
  const file = (name: string) => () => join(dir!, name);
  const limit = opts.spoolLimit ?? SPOOL_LIMIT;
  const spool = new TextSpool({ limit, file: file("nodes") });
  const nodes = new NodeTable(spool);
  // Each spec leaves its reads and parse as garbage, which Bun collects late: collections are
  // asked for as the resident set grows.
  const pacer = new MemoryPacer();
  const read = async (i: number) => {
    let r: SpecRead;
    try {
      opts.signal?.throwIfAborted();
      r = await readSpecManifest(io, paths[i], (h) => nodes.wants(h, i));
    } catch (e) {
      if (opts.signal?.aborted) throw e;
      skipped.push({ path: paths[i], reason: (e as Error).message });
      return;
    }
    roots[i] = nodes.id(r.root);
    for (const n of r.nodes) nodes.keep(n, i);
    pacer.add(16 * r.blobSize); // what a spec leaves is many times its blob
  };
  const jobs = Math.max(1, Math.min(opts.jobs ?? 32, paths.length));
  try {
    dir = await workDir(writer.store, "index");
    await runPool(paths.map((_, i) => i), jobs, read);
    spool.finish();
    // An entry whose runtime (link or run) dependencies are not all in the mirror cannot be
    // installed from it: left out, as are, in turn, the entries that need it.
    const present = new Map<number, number>();
    roots.forEach((r, i) => r >= 0 && present.set(r, i));
    for (let changed = true; changed;) {
      changed = false;
      for (const [id, i] of present) {
        const missing = nodes.missingRuntimeDep(id, present);
        if (missing < 0) continue;
        present.delete(id);
        roots[i] = -1;
        skipped.push({
          path: paths[i],
          reason: `its runtime dependency ${nodes.labels[missing]}/${nodes.hashes[missing]} ` +
            "is not in the mirror",
        });
        changed = true;
      }
    }
    skipped.sort((a, b) => a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
    const good = roots.filter((r) => r >= 0);
    // The reads' garbage is let go before the index is written.
    pacer.check();
    const sink = new HashedSink({ limit, file: file("index.json") });
    let out;
    try {
      nodes.writeIndex(good, (piece) => sink.put(piece));
      out = sink.end();
    } finally {
      sink.close();
    }
    const index = await writer.writeIndex(
      out.bytes ?? {
        file: out.file!,
        open: () => Promise.resolve(fileStream(out.file!)),
        descriptor: {
          mediaType: MEDIA_TYPES.index,
          compression: "none",
          checksumAlgorithm: "sha256",
          checksum: out.sha256,
          size: out.size,
        },
      },
      { signal: opts.signal },
    );
    const res: UpdateIndexResult = { specs: good.length, skipped, index };
    if (opts.keys) res.keys = await writer.writeKeyIndex(opts.signal);
    return res;
  } catch (e) {
    // The working files' own failures (a full or read-only disk) named, with what to do.
    throw fsError(e, dir ?? store.url.href, "write the working files of the index in");
  } finally {
    spool.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

/** Past this many bytes, node texts and the index being written go to files. */
const SPOOL_LIMIT = 16 << 20;

/** A growable typed array's room for index `n`. */
function room<T extends Int32Array | Uint8Array>(a: T, n: number, fill = 0): T {
  if (n < a.length) return a;
  const b = new (a.constructor as new (n: number) => T)(Math.max(2 * a.length, n + 1));
  b.set(a);
  if (fill) b.fill(fill as never, a.length);
  return b;
}

/**
 * What a rebuild keeps of the nodes it read, by a number given to each hash: the spec that gave
 * the node, its dict's text (in the spool), its dependencies (and which are needed at run time)
 * and the hashes its dict's `dependencies` name (what `ref_count` counts).
 */
class NodeTable {
  readonly ids = new Map<string, number>();
  readonly hashes: string[] = [];
  /** "name@version" of each node kept (for messages). */
  readonly labels: string[] = [];
  #from = new Int32Array(1024).fill(-1);
  #external = new Uint8Array(1024);
  #chunk = new Int32Array(1024);
  #offset = new Int32Array(1024);
  #length = new Int32Array(1024);
  #depStart = new Int32Array(1024);
  #depCount = new Int32Array(1024);
  #refStart = new Int32Array(1024);
  #refCount = new Int32Array(1024);
  /** Dependencies of every node (ranges), whether each is needed at run time; refs likewise. */
  #deps = new Int32Array(4096);
  #runtime = new Uint8Array(4096);
  #depsUsed = 0;
  #refs = new Int32Array(4096);
  #refsUsed = 0;
  readonly #spool: TextSpool;

  constructor(spool: TextSpool) {
    this.#spool = spool;
  }

  /** The number of `hash` (given on first sight). */
  id(hash: string): number {
    let id = this.ids.get(hash);
    if (id === undefined) {
      id = this.hashes.length;
      this.ids.set(hash, id);
      this.hashes.push(hash);
      const n = id;
      this.#from = room(this.#from, n, -1);
      this.#external = room(this.#external, n);
      this.#chunk = room(this.#chunk, n);
      this.#offset = room(this.#offset, n);
      this.#length = room(this.#length, n);
      this.#depStart = room(this.#depStart, n);
      this.#depCount = room(this.#depCount, n);
      this.#refStart = room(this.#refStart, n);
      this.#refCount = room(this.#refCount, n);
    }
    return id;
  }

  /** True when the node of `id` was read. */
  has(id: number): boolean {
    return this.#from[id] >= 0;
  }

  /** False when the node `hash` was kept from spec `from` or one before it (in manifest order). */
  wants(hash: string, from: number): boolean {
    const id = this.ids.get(hash);
    return id === undefined || this.#from[id] < 0 || this.#from[id] > from;
  }

  /** Keeps node `n` of spec `from`, unless a spec before it (in manifest order) gave it. */
  keep(n: ReadNode, from: number): void {
    const id = this.id(n.hash);
    const have = this.#from[id];
    // No text: a spec before this one gave the node (so `have` is below `from`).
    if ((have >= 0 && have <= from) || !n.text) return;
    const before = this.#spool.size;
    const [chunk, offset] = this.#spool.append(n.text);
    this.#from[id] = from;
    this.#external[id] = n.external ? 1 : 0;
    this.#chunk[id] = chunk;
    this.#offset[id] = offset;
    this.#length[id] = this.#spool.size - before;
    this.labels[id] = `${n.name}@${n.version}`;
    this.#depStart[id] = this.#depsUsed;
    this.#depCount[id] = n.deps.length;
    for (let k = 0; k < n.deps.length; k++) {
      const at = this.#depsUsed++;
      this.#deps = room(this.#deps, at);
      this.#runtime = room(this.#runtime, at);
      this.#deps[at] = this.id(n.deps[k]);
      this.#runtime[at] = n.runtime[k] ? 1 : 0;
    }
    this.#refStart[id] = this.#refsUsed;
    this.#refCount[id] = n.refs.length;
    for (const h of n.refs) {
      const at = this.#refsUsed++;
      this.#refs = room(this.#refs, at);
      this.#refs[at] = this.id(h);
    }
  }

  /** The first node `root` needs at run time (not external) that `present` lacks, or -1. */
  missingRuntimeDep(root: number, present: Map<number, number>): number {
    const seen = new Set([root]);
    const queue = [root];
    for (let q = 0; q < queue.length; q++) {
      const n = queue[q];
      if (!this.has(n)) continue;
      for (let k = this.#depStart[n], end = k + this.#depCount[n]; k < end; k++) {
        const h = this.#deps[k];
        if (seen.has(h) || !this.#runtime[k]) continue;
        seen.add(h);
        if (!this.has(h) || this.#external[h]) continue;
        if (!present.has(h)) return h;
        queue.push(h);
      }
    }
    return -1;
  }

  /**
   * Writes the index of the specs rooted at `roots` (in order) through `put`: every node once,
   * dependencies before dependents (depth first, in dependency order), as `buildcacheRecords`
   * orders them.
   */
  writeIndex(roots: Int32Array, put: (piece: string | Uint8Array) => void): void {
    const inCache = new Uint8Array(this.hashes.length);
    for (const r of roots) inCache[r] = 1;
    // 0: not reached, 1: on the path, 2: in `order`.
    const state = new Uint8Array(this.hashes.length);
    const order: number[] = [];
    const path: number[] = [];
    const next: number[] = [];
    for (const r of roots) {
      if (state[r] || !this.has(r)) continue;
      state[r] = 1;
      path.push(r);
      next.push(0);
      while (path.length) {
        const top = path.length - 1;
        const n = path[top];
        const k = next[top]++;
        if (k < this.#depCount[n]) {
          const d = this.#deps[this.#depStart[n] + k];
          if (state[d] || !this.has(d)) continue;
          state[d] = 1;
          path.push(d);
          next.push(0);
        } else {
          path.pop();
          next.pop();
          state[n] = 2;
          order.push(n);
        }
      }
    }
    // ref_count: how many records name the node in their dict's dependencies.
    const counts = new Int32Array(this.hashes.length);
    for (const n of order) {
      for (let k = this.#refStart[n], end = k + this.#refCount[n]; k < end; k++) {
        if (state[this.#refs[k]] === 2) counts[this.#refs[k]]++;
      }
    }
    const scratch = new Uint8Array(64 << 10);
    putBuildcacheIndex(order.length, (k) => {
      const n = order[k];
      return {
        hash: this.hashes[n],
        spec: this.#spool.read(this.#chunk[n], this.#offset[n], this.#length[n], scratch),
        refCount: counts[n],
        inBuildcache: inCache[n] === 1,
      };
    }, put);
  }
}
