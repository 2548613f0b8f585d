/**
 * What the synthetic-mirror and synthetic-tree generators share: random Spack-style hashes,
 * the "libraries and programs" DAG of spec nodes, and writing blobs of a v3 file mirror.
 *
 * @module
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { createHash, randomBytes } from "node:crypto";
import { dirname, join } from "node:path";
import { type Descriptor, v3BlobPath } from "../src/layout/mod.ts";

const B32 = "abcdefghijklmnopqrstuvwxyz234567";

/** A random 32-character base32 string, the shape of a Spack DAG hash (not a real one). */
export function hash32(): string {
  return [...randomBytes(32)].map((b) => B32[b & 31]).join("");
}

/**
 * The first fields of a format-5 spec node (linux-debian12-x86_64, a random package hash):
 * dependencies, annotations and the hash follow.
 */
export function nodeStart(name: string, version: string) {
  return {
    name,
    version,
    arch: { platform: "linux", platform_os: "debian12", target: "x86_64" },
    namespace: "builtin",
    parameters: { build_system: "generic", cflags: [], cppflags: [], cxxflags: [] },
    package_hash: hash32(),
  };
}

/** One node of a spec (format 5) as the generators write it, with the nodes it links. */
export interface SyntheticSpec {
  node: Record<string, unknown> & { name: string; version: string; hash: string };
  /** The nodes of its dependencies (empty for a library). */
  deps: Record<string, unknown>[];
}

/**
 * N format-5 spec nodes (random hashes): a tenth of them (at least two) libraries without
 * dependencies, the rest each linking two of those. `nlibs` is the number of libraries; they
 * come first.
 */
export function libraryDag(n: number): { specs: SyntheticSpec[]; nlibs: number } {
  const specs: SyntheticSpec[] = [];
  const nlibs = Math.max(2, Math.floor(n / 10));
  for (let i = 0; i < n; i++) {
    const name = `pkg${String(i).padStart(5, "0")}`;
    const version = `${1 + (i % 7)}.${i % 13}.${i % 3}`;
    const deps = i < nlibs ? [] : [specs[i % nlibs].node, specs[(i * 7 + 3) % nlibs].node]
      .filter((d, k, a) => a.indexOf(d) === k);
    const node: Record<string, unknown> = nodeStart(name, version);
    if (deps.length) {
      node.dependencies = deps.map((d) => ({
        name: d.name,
        hash: d.hash,
        parameters: { deptypes: ["build", "link"], virtuals: [], direct: true },
      }));
    }
    node.annotations = { original_specfile_version: 5 };
    node.hash = hash32();
    specs.push({ node: node as SyntheticSpec["node"], deps });
  }
  return { specs, nlibs };
}

/** Writes `data` at `path` below `dir`, making the directories. */
export function putFile(dir: string, path: string, data: Uint8Array | string): void {
  const p = join(dir, path);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, data);
}

/**
 * The descriptor of a blob (sha256), written to its v3 path below `dir` unless `write` is
 * false.
 */
export function putBlob(
  dir: string,
  data: Uint8Array,
  mediaType: string,
  compression: "gzip" | "none",
  write = true,
): Descriptor {
  const checksum = createHash("sha256").update(data).digest("hex");
  if (write) putFile(dir, v3BlobPath(checksum), data);
  return { mediaType, checksum, checksumAlgorithm: "sha256", size: data.byteLength, compression };
}
