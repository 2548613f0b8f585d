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
import { gunzipSync } from "node:zlib";
import { InvalidDataError, NotFoundError } from "../errors.ts";
import { parseSpecDoc } from "../layout/_spec.ts";
import { findRecord, parseManifest } from "../layout/manifest.ts";
import { clearsignedBody, isClearsigned } from "../layout/clearsign.ts";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import type { ReadStore } from "../storage/store.ts";
import { isSpecMediaType } from "../layout/media_types.ts";
import { parseV3SpecManifestPath, V3_SPEC_DIR, v3BlobPath } from "../layout/v3/paths.ts";
import type { V3Writer } from "../layout/v3/writer.ts";
import { buildcacheRecords, buildIndexJson } from "../index/writer.ts";
import { MemoryPacer } from "../core/memory.ts";
import type { Descriptor } from "../layout/types.ts";
import type { SpecDag } from "../spec/types.ts";

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
      const b = await readFile(fileURLToPath(new URL(path, store.url)), { signal });
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
    if (p.endsWith(".spec.manifest.json")) paths.push(p);
  }
  paths.sort();
  if (paths.length === 0) {
    throw new NotFoundError(
      `Cannot generate an index for "${store.url.href}": it has no spec manifests`,
    );
  }
  const specs: (SpecDag | undefined)[] = new Array(paths.length);
  const skipped: { path: string; reason: string }[] = [];
  let next = 0;
  // Each spec leaves its reads and parse as garbage, which Bun collects late: collections are
  // asked for as the resident set grows.
  const pacer = new MemoryPacer();
  const worker = async () => {
    while (next < paths.length) {
      const i = next++;
      const path = paths[i];
      try {
        let mtext = new TextDecoder().decode(await readBytes(store, path, opts.signal));
        if (isClearsigned(mtext)) mtext = clearsignedBody(mtext, `"${path}"`);
        const m = parseManifest(mtext, `"${path}"`);
        const rec = m.data.find((r) => isSpecMediaType(r.mediaType)) ??
          findRecord(m, "application/vnd.spack.spec.v5+json");
        if (!rec) throw new InvalidDataError("no spec record");
        const blob = v3BlobPath(rec.checksum, rec.checksumAlgorithm);
        const bytes = await readBytes(store, blob, opts.signal);
        const sum = createHash(rec.checksumAlgorithm).update(bytes).digest("hex");
        if (sum !== rec.checksum) {
          throw new InvalidDataError(
            `spec blob "${blob}" has checksum ${sum}, not ${rec.checksum}`,
          );
        }
        const text = new TextDecoder().decode(
          bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes) : bytes,
        );
        // The layout's reader (no schema validation): spec/parse.ts's zod-validated parser
        // triples the time of a 2,000-spec rebuild.
        const dag = parseSpecDoc(JSON.parse(text), `spec blob "${blob}"`);
        const want = parseV3SpecManifestPath(path)?.hash;
        if (want && dag.root !== want) {
          throw new InvalidDataError(`spec blob "${blob}" is of ${dag.root}, not ${want}`);
        }
        specs[i] = dag;
        pacer.add(16 * bytes.length); // what a spec leaves is many times its blob
      } catch (e) {
        if (opts.signal?.aborted) throw e;
        skipped.push({ path, reason: (e as Error).message });
      }
    }
  };
  const jobs = Math.max(1, Math.min(opts.jobs ?? 32, paths.length));
  await Promise.all(Array.from({ length: jobs }, worker));
  const good = specs.filter((s): s is SpecDag => !!s);
  const index = await writer.writeIndex(buildIndexText(good), { signal: opts.signal });
  const res: UpdateIndexResult = { specs: good.length, skipped, index };
  if (opts.keys) res.keys = await writer.writeKeyIndex(opts.signal);
  return res;
}
