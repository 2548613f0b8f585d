/**
 * Writes a synthetic v3 file mirror whose spec blobs hold complete DAGs (as Spack needs to
 * index them): N specs, a tenth of them libraries without dependencies, the rest each linking
 * two of those. Spec manifests and blobs only (no index), for measuring `update-index`.
 *
 *   deno run -A scripts/gen_dag_mirror.ts DIR [N=2000]
 *
 * Hashes are random 32-character base32 strings (not DAG hashes of the content).
 */
import process from "node:process";
import { gzipBytes } from "../src/core/gzip.ts";
import {
  manifestOf,
  MEDIA_TYPES,
  serializeManifest,
  V3_LAYOUT_JSON,
  V3_LAYOUT_JSON_TEXT,
  v3SpecManifestPath,
} from "../src/layout/mod.ts";
import { libraryDag, putBlob, putFile } from "./_synthetic.ts";

const dir = process.argv[2];
const n = Number(process.argv[3] ?? 2000);
if (!dir || !Number.isInteger(n) || n < 10) {
  console.error("usage: gen_dag_mirror.ts DIR [N>=10]");
  process.exit(2);
}
const put = (path: string, data: Uint8Array | string) => putFile(dir, path, data);
for (const { node, deps } of libraryDag(n).specs) {
  const { name, version } = node;
  const tarball = putBlob(dir, gzipBytes(`fake tarball of ${name}\n`), MEDIA_TYPES.tarball, "gzip");
  const spec = putBlob(
    dir,
    gzipBytes(JSON.stringify({
      spec: { _meta: { version: 5 }, nodes: [node, ...deps] },
      buildcache_layout_version: 2,
    })),
    MEDIA_TYPES.spec,
    "gzip",
  );
  put(v3SpecManifestPath(name, version, node.hash), serializeManifest(manifestOf([tarball, spec])));
}
put(V3_LAYOUT_JSON, V3_LAYOUT_JSON_TEXT);
console.log(`${n} specs in ${dir}`);
