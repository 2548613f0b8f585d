/**
 * One spec manifest read for an index rebuild: the manifest, the sizes of the blobs it names,
 * the spec blob (its checksum verified, signatures not), and of the spec's DAG what the index
 * needs of each node: its edges and its dict written as Python writes it.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { InvalidDataError, NotFoundError } from "../errors.ts";
import { builtinOnFirstUse } from "../core/lazy_require.ts";
import { pyJsonDumps, stringifiesAsPython } from "../core/json.ts";
import { parseSpecDoc } from "../layout/_spec.ts";
import { findRecord, parseManifest } from "../layout/manifest.ts";
import { isSpecMediaType, MEDIA_TYPES } from "../layout/media_types.ts";
import { clearsignedBody, isClearsigned } from "../layout/signed_metadata.ts";
import { parseV3SpecManifestPath, v3BlobPath } from "../layout/v3/paths.ts";

/** `node:zlib`, loaded on first use (evaluating it costs every command's startup). */
const zlib = builtinOnFirstUse<typeof import("node:zlib")>("node:zlib");

/** What a rebuild keeps of one node of a spec's DAG. */
export interface ReadNode {
  hash: string;
  name: string;
  version: string;
  external: boolean;
  /** Dependency hashes in order, and whether each is needed at run time (link or run). */
  deps: string[];
  runtime: boolean[];
  /** Hashes of the dict's `dependencies` entries (what `ref_count` counts). */
  refs: string[];
  /** The dict as a compact `pyJsonDumps` writes it; "" when it was not wanted. */
  text: string;
}

/** One spec manifest read: its root's hash and its DAG's nodes. */
export interface SpecRead {
  root: string;
  nodes: ReadNode[];
  /** Bytes of the spec blob. */
  blobSize: number;
}

/** How a reader gets bytes and blob sizes (a blob's size is undefined when it is missing). */
export interface SpecIo {
  bytes(path: string): Promise<Uint8Array> | Uint8Array;
  blobSize(path: string): Promise<number | undefined> | number | undefined;
}

/** Paths a local reader opens directly: plain relative names, nothing that climbs. */
const PLAIN_PATH = /^[A-Za-z0-9_.+@=%^~\/-]+$/;

/** The reader of a local mirror at the directory `root`. */
export function localSpecIo(root: string, what: string): SpecIo {
  return {
    bytes(path) {
      if (!PLAIN_PATH.test(path) || path.includes("..")) {
        throw new InvalidDataError(`Cannot read "${path}": not a plain path`);
      }
      try {
        const b = readFileSync(join(root, path));
        return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
      } catch (e) {
        if ((e as { code?: string }).code === "ENOENT") {
          throw new NotFoundError(`Cannot read "${path}": not found in ${what}`);
        }
        throw e;
      }
    },
    blobSize(path) {
      const st = statSync(join(root, path), { throwIfNoEntry: false });
      return st?.isFile() ? st.size : undefined;
    },
  };
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

/**
 * Reads the spec manifest at `path` and its spec blob; checks that the other blobs it names
 * exist with their sizes. `want(hash)` says whether a node's dict text is needed (a node
 * already kept from an earlier spec is not written again). Throws on anything wrong (the
 * rebuild skips that manifest, with the message).
 */
export async function readSpecManifest(
  io: SpecIo,
  path: string,
  want: (hash: string) => boolean,
): Promise<SpecRead> {
  let mtext = new TextDecoder().decode(await io.bytes(path));
  if (isClearsigned(mtext)) mtext = clearsignedBody(mtext, `"${path}"`);
  const m = parseManifest(mtext, `"${path}"`);
  const rec = m.data.find((r) => isSpecMediaType(r.mediaType)) ?? findRecord(m, MEDIA_TYPES.spec);
  if (!rec) throw new InvalidDataError("no spec record");
  for (const r of m.data) {
    if (r === rec) continue;
    const p = v3BlobPath(r.checksum, r.checksumAlgorithm);
    const size = await io.blobSize(p);
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
  const bytes = await io.bytes(blob);
  const sum = createHash(rec.checksumAlgorithm).update(bytes).digest("hex");
  if (sum !== rec.checksum) {
    throw new InvalidDataError(`spec blob "${blob}" has checksum ${sum}, not ${rec.checksum}`);
  }
  const text = new TextDecoder().decode(
    bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSmall(bytes) : bytes,
  );
  // The layout's reader (no schema validation): spec/parse.ts's zod-validated parser
  // triples the time of a 2,000-spec rebuild.
  const dag = parseSpecDoc(JSON.parse(text), `spec blob "${blob}"`);
  const hash = parseV3SpecManifestPath(path)?.hash;
  if (hash && dag.root !== hash) {
    throw new InvalidDataError(`spec blob "${blob}" is of ${dag.root}, not ${hash}`);
  }
  // Dicts of plain text are written by JSON.stringify, a fraction of pyJsonDumps's cost.
  const plain = stringifiesAsPython(text);
  const nodes: ReadNode[] = [];
  for (const n of dag.nodes.values()) {
    const raw = n.raw.dependencies;
    nodes.push({
      hash: n.hash,
      name: n.name,
      version: n.version,
      external: !!n.external,
      deps: n.dependencies.map((d) => d.hash),
      runtime: n.dependencies.map((d) => d.depTypes.some((t) => t === "link" || t === "run")),
      refs: Array.isArray(raw)
        ? raw.flatMap((d: { hash?: unknown } | null) => typeof d?.hash === "string" ? [d.hash] : [])
        : [],
      text: !want(n.hash) ? "" : plain ? JSON.stringify(n.raw) : pyJsonDumps(n.raw),
    });
  }
  return { root: dag.root, nodes, blobSize: bytes.length };
}
