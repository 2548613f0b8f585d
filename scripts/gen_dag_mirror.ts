/**
 * Writes a synthetic v3 file mirror whose spec blobs hold complete DAGs (as Spack needs to
 * index them): N specs, a tenth of them libraries without dependencies, the rest each linking
 * two of those. Spec manifests and blobs only (no index), for measuring `update-index`.
 *
 *   deno run -A scripts/gen_dag_mirror.ts DIR [N=2000]
 *
 * Hashes are random 32-character base32 strings (not DAG hashes of the content).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { createHash, randomBytes } from "node:crypto";
import { dirname, join } from "node:path";
import process from "node:process";
import { gzipBytes } from "../src/core/gzip.ts";
import {
  manifestOf,
  MEDIA_TYPES,
  serializeManifest,
  V3_LAYOUT_JSON,
  V3_LAYOUT_JSON_TEXT,
  v3BlobPath,
  v3SpecManifestPath,
} from "../src/layout/mod.ts";
import type { Descriptor } from "../src/layout/mod.ts";

const dir = process.argv[2];
const n = Number(process.argv[3] ?? 2000);
if (!dir || !Number.isInteger(n) || n < 10) {
  console.error("usage: gen_dag_mirror.ts DIR [N>=10]");
  process.exit(2);
}
const B32 = "abcdefghijklmnopqrstuvwxyz234567";
const hash32 = () => [...randomBytes(32)].map((b) => B32[b & 31]).join("");
function put(path: string, data: Uint8Array | string): void {
  const p = join(dir, path);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, data);
}
function blob(data: Uint8Array, mediaType: string): Descriptor {
  const checksum = createHash("sha256").update(data).digest("hex");
  put(v3BlobPath(checksum), data);
  return {
    mediaType,
    checksum,
    checksumAlgorithm: "sha256",
    size: data.byteLength,
    compression: "gzip",
  };
}
const arch = { platform: "linux", platform_os: "debian12", target: "x86_64" };
const libs: Record<string, unknown>[] = [];
const nlibs = Math.max(2, Math.floor(n / 10));
for (let i = 0; i < n; i++) {
  const name = `pkg${String(i).padStart(5, "0")}`;
  const version = `${1 + (i % 7)}.${i % 13}.${i % 3}`;
  const deps = i < nlibs ? [] : [libs[i % nlibs], libs[(i * 7 + 3) % nlibs]]
    .filter((d, k, a) => a.indexOf(d) === k);
  const node: Record<string, unknown> = {
    name,
    version,
    arch,
    namespace: "builtin",
    parameters: { build_system: "generic", cflags: [], cppflags: [], cxxflags: [] },
    package_hash: hash32(),
  };
  if (deps.length) {
    node.dependencies = deps.map((d) => ({
      name: d.name,
      hash: d.hash,
      parameters: { deptypes: ["build", "link"], virtuals: [], direct: true },
    }));
  }
  node.annotations = { original_specfile_version: 5 };
  node.hash = hash32();
  if (i < nlibs) libs.push(node);
  const tarball = blob(gzipBytes(`fake tarball of ${name}\n`), MEDIA_TYPES.tarball);
  const spec = blob(
    gzipBytes(JSON.stringify({
      spec: { _meta: { version: 5 }, nodes: [node, ...deps] },
      buildcache_layout_version: 2,
    })),
    MEDIA_TYPES.spec,
  );
  put(
    v3SpecManifestPath(name, version, node.hash as string),
    serializeManifest(manifestOf([tarball, spec])),
  );
}
put(V3_LAYOUT_JSON, V3_LAYOUT_JSON_TEXT);
console.log(`${n} specs in ${dir}`);
