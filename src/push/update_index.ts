/**
 * Rebuilding a v3 mirror's index from its spec manifests (FORMAT.md 3.13): list
 * `v3/manifests/spec/`, read the manifests and their spec blobs in parallel (checksums
 * verified, signatures not), and write a Spack database (version 8) as the index blob and
 * manifest. Every node of every spec is a record, dependencies before dependents; the specs
 * that have a manifest are `in_buildcache: true`.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { InvalidDataError, NotFoundError } from "../errors.ts";
import { builtinOnFirstUse } from "../core/lazy_require.ts";
import { runPool } from "../core/pool.ts";
import { parseSpecDoc } from "../layout/_spec.ts";
import { findRecord, parseManifest } from "../layout/manifest.ts";
import { clearsignedBody, isClearsigned } from "../layout/signed_metadata.ts";
import { readFileSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { ReadStore } from "../storage/store.ts";
import { isSpecMediaType, MEDIA_TYPES } from "../layout/media_types.ts";
import {
  parseV3SpecManifestPath,
  V3_SPEC_DIR,
  V3_SPEC_MANIFEST_SUFFIX,
  v3BlobPath,
} from "../layout/v3/paths.ts";
import type { V3Writer } from "../layout/v3/writer.ts";
import {
  buildcacheIndexBytes,
  buildcacheRecords,
  buildIndexJson,
  type WrittenBuildcacheRecord,
} from "../index/writer.ts";
import { pyJsonDumps } from "../core/json.ts";
import { MemoryPacer } from "../core/memory_pacer.ts";
import type { Descriptor } from "../layout/types.ts";
import type { SpecDag, SpecNode } from "../spec/types.ts";

/** `node:zlib`, loaded on first use (evaluating it costs every command's startup). */
const zlib = builtinOnFirstUse<typeof import("node:zlib")>("node:zlib");

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

/**
 * The bytes at `path`: read directly for a local (file:) mirror, where a stream per small
 * object costs more than the read; through the store otherwise.
 */
async function readBytes(
  store: ReadStore,
  path: string,
  signal?: AbortSignal,
): Promise<Uint8Array> {
  if (
    store.url.protocol === "file:" && /^[A-Za-z0-9_.+@=%^~\/-]+$/.test(path) && !path.includes("..")
  ) {
    try {
      signal?.throwIfAborted();
      const b = readFileSync(store.localPath?.(path) ?? fileURLToPath(new URL(path, store.url)));
      return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    } catch (e) {
      if ((e as { code?: string }).code === "ENOENT") {
        throw new NotFoundError(`Cannot read "${path}": not found in ${store.url.href}`);
      }
      throw e;
    }
  }
  return new Uint8Array(await new Response(await store.read(path, { signal })).arrayBuffer());
}

/**
 * A small gzip file's bytes: Bun's one-call gunzip where it runs (node:zlib makes a stream
 * object per call, the larger part of the cost for a spec blob), else node:zlib's.
 */
function gunzipSmall(bytes: Uint8Array): Uint8Array {
  const bun = (globalThis as { Bun?: { gunzipSync?: (b: Uint8Array) => Uint8Array } }).Bun;
  if (bun?.gunzipSync && bytes.length >= 18) {
    try {
      const out = bun.gunzipSync(bytes);
      // Bun's stops after the first member: the output is whole when its size is the one
      // the last member's trailer gives (a blob of several members goes to node:zlib).
      const n = bytes.length;
      const isize = (bytes[n - 4] | bytes[n - 3] << 8 | bytes[n - 2] << 16 | bytes[n - 1] << 24) >>>
        0;
      if (isize === out.length % 2 ** 32) return out;
    } catch {
      // node:zlib's error below names what is wrong.
    }
  }
  return zlib().gunzipSync(bytes);
}

/** Rebuilds the index of the mirror `writer` writes to (and the key index with `keys`). */
export async function updateIndex(
  writer: V3Writer,
  opts: { jobs?: number; keys?: boolean; signal?: AbortSignal } = {},
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
  const local = store.url.protocol === "file:" ? store.localPath?.bind(store) : undefined;
  const blobSize = async (path: string) => {
    if (listed) return listed.get(path);
    if (local) {
      const st = statSync(local(path), { throwIfNoEntry: false });
      return st?.isFile() ? st.size : undefined;
    }
    return (await store.stat(path, { signal: opts.signal }))?.size;
  };
  // What is kept of each spec read: its root, and each node once (its dict already written
  // as text: a fraction of the parsed dict's memory).
  const roots: (string | undefined)[] = new Array(paths.length);
  const kept = new Map<string, KeptNode>();
  const skipped: { path: string; reason: string }[] = [];
  // Each spec leaves its reads and parse as garbage, which Bun collects late: collections are
  // asked for as the resident set grows.
  const pacer = new MemoryPacer();
  const worker = async (_: unknown, i: number) => {
    const path = paths[i];
    try {
      let mtext = new TextDecoder().decode(await readBytes(store, path, opts.signal));
      if (isClearsigned(mtext)) mtext = clearsignedBody(mtext, `"${path}"`);
      const m = parseManifest(mtext, `"${path}"`);
      const rec = m.data.find((r) => isSpecMediaType(r.mediaType)) ??
        findRecord(m, MEDIA_TYPES.spec);
      if (!rec) throw new InvalidDataError("no spec record");
      for (const r of m.data) {
        if (r === rec) continue;
        const p = v3BlobPath(r.checksum, r.checksumAlgorithm);
        const size = await blobSize(p);
        if (size !== r.contentLength) {
          const what = /\.tar\b|tar\+/.test(r.mediaType) ? "tarball" : `"${r.mediaType}"`;
          throw new NotFoundError(
            size === undefined
              ? `its ${what} blob "${p}" is missing`
              : `its ${what} blob "${p}" has ${size} bytes, not ${r.contentLength}`,
          );
        }
      }
      const blob = v3BlobPath(rec.checksum, rec.checksumAlgorithm);
      const bytes = await readBytes(store, blob, opts.signal);
      const sum = createHash(rec.checksumAlgorithm).update(bytes).digest("hex");
      if (sum !== rec.checksum) {
        throw new InvalidDataError(
          `spec blob "${blob}" has checksum ${sum}, not ${rec.checksum}`,
        );
      }
      const text = new TextDecoder().decode(
        bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSmall(bytes) : bytes,
      );
      // The layout's reader (no schema validation): spec/parse.ts's zod-validated parser
      // triples the time of a 2,000-spec rebuild.
      const dag = parseSpecDoc(JSON.parse(text), `spec blob "${blob}"`);
      const want = parseV3SpecManifestPath(path)?.hash;
      if (want && dag.root !== want) {
        throw new InvalidDataError(`spec blob "${blob}" is of ${dag.root}, not ${want}`);
      }
      roots[i] = dag.root;
      for (const n of dag.nodes.values()) {
        const have = kept.get(n.hash);
        // The node as the first spec (in manifest order) that has it gives it.
        if (!have || have.from > i) kept.set(n.hash, keepNode(n, i));
      }
      pacer.add(16 * bytes.length); // what a spec leaves is many times its blob
    } catch (e) {
      if (opts.signal?.aborted) throw e;
      skipped.push({ path, reason: (e as Error).message });
    }
  };
  const jobs = Math.max(1, Math.min(opts.jobs ?? 32, paths.length));
  await runPool(paths, jobs, worker);
  // An entry whose runtime (link or run) dependencies are not all in the mirror cannot be
  // installed from it: left out, as are, in turn, the entries that need it.
  const present = new Map<string, number>();
  roots.forEach((r, i) => r && present.set(r, i));
  for (let changed = true; changed;) {
    changed = false;
    for (const [hash, i] of present) {
      const missing = missingRuntimeDep(hash, kept, present);
      if (!missing) continue;
      present.delete(hash);
      roots[i] = undefined;
      skipped.push({
        path: paths[i],
        reason: `its runtime dependency ${missing.name}@${missing.version}/${missing.hash} ` +
          "is not in the mirror",
      });
      changed = true;
    }
  }
  skipped.sort((a, b) => a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
  const good = roots.filter((r): r is string => !!r);
  const records = keptRecords(good, kept);
  // The reads' garbage is let go before the index's bytes are made.
  pacer.check();
  const bytes = buildcacheIndexBytes(records);
  kept.clear();
  const index = await writer.writeIndex(bytes, { signal: opts.signal });
  const res: UpdateIndexResult = { specs: good.length, skipped, index };
  if (opts.keys) res.keys = await writer.writeKeyIndex(opts.signal);
  return res;
}

/** What a rebuild keeps of one node: its dict's text and its edges. */
interface KeptNode {
  name: string;
  version: string;
  hash: string;
  external: boolean;
  /** Dependency hashes in order, and whether each is needed at run time (link or run). */
  deps: string[];
  runtime: boolean[];
  /** Hashes of the dict's `dependencies` entries (what `ref_count` counts). */
  refs: string[];
  /** `pyJsonDumps` of the node dict. */
  text: string;
  /** The spec (by manifest order) it was taken from. */
  from: number;
}

function keepNode(n: SpecNode, from: number): KeptNode {
  const raw = n.raw.dependencies;
  const text = pyJsonDumps(n.raw);
  return {
    name: n.name,
    version: n.version,
    hash: n.hash,
    external: !!n.external,
    deps: n.dependencies.map((d) => d.hash),
    runtime: n.dependencies.map((d) => d.depTypes.some((t) => t === "link" || t === "run")),
    refs: Array.isArray(raw)
      ? raw.flatMap((d: { hash?: unknown } | null) => typeof d?.hash === "string" ? [d.hash] : [])
      : [],
    text,
    from,
  };
}

/**
 * The index records for the specs rooted at `roots` (in order): every node once, dependencies
 * before dependents (depth first, in dependency order), as `buildcacheRecords` orders them.
 */
function keptRecords(roots: string[], kept: Map<string, KeptNode>): WrittenBuildcacheRecord[] {
  const inCache = new Set(roots);
  const out: WrittenBuildcacheRecord[] = [];
  const done = new Set<string>();
  const stack = new Set<string>();
  const add = (hash: string) => {
    if (done.has(hash) || stack.has(hash)) return;
    const n = kept.get(hash);
    if (!n) return;
    stack.add(hash);
    for (const d of n.deps) add(d);
    stack.delete(hash);
    done.add(hash);
    out.push({ hash, specText: n.text, deps: n.refs, inBuildcache: inCache.has(hash) });
  };
  for (const r of roots) add(r);
  return out;
}

/** The first node `root` needs at run time (not external) that `present` lacks. */
function missingRuntimeDep(
  root: string,
  kept: Map<string, KeptNode>,
  present: Map<string, number>,
): KeptNode | undefined {
  const seen = new Set([root]);
  const queue = [root];
  while (queue.length) {
    const n = kept.get(queue.shift()!);
    if (!n) continue;
    for (let k = 0; k < n.deps.length; k++) {
      const h = n.deps[k];
      if (seen.has(h) || !n.runtime[k]) continue;
      seen.add(h);
      const dep = kept.get(h);
      if (!dep || dep.external) continue;
      if (!present.has(h)) return dep;
      queue.push(h);
    }
  }
  return undefined;
}
