/**
 * Writes a synthetic v3 file mirror for measurements: N specs in a chain of link
 * dependencies, each with a small gzip tarball, a gzip spec blob (spec format 5), an
 * unsigned manifest, plus the index (database version 8) and `layout.json`. With
 * `--index-only` only the index is written (for `list` on very large indexes).
 *
 *   deno run -A scripts/gen_mirror.ts DIR [N=2000] [--index-only] [--tarball-bytes=B] [--hostile]
 *
 * `--tarball-bytes=B` adds B random bytes to each tarball (default none: tarballs of a few
 * dozen bytes).
 * `--hostile` gives every other spec a name and version carrying HTML and script (for testing
 * that viewers escape what a mirror says).
 * Hashes are random 32-character base32 strings (not DAG hashes of the content).
 */
import { randomBytes } from "node:crypto";
import process from "node:process";
import { gzipBytes } from "../src/core/gzip.ts";
import {
  manifestOf,
  MEDIA_TYPES,
  serializeManifest,
  V3_LAYOUT_JSON,
  V3_LAYOUT_JSON_TEXT,
  v3IndexManifestPath,
  v3SpecManifestPath,
} from "../src/layout/mod.ts";
import type { Descriptor } from "../src/layout/mod.ts";
import { hash32, nodeStart, putBlob, putFile } from "./_synthetic.ts";

const args = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const indexOnly = process.argv.includes("--index-only");
const hostile = process.argv.includes("--hostile");
const HOSTILE = [
  `<script>alert("name")<script>`, // no "/": names that are no path component are refused
  `"><img src=x onerror=alert(1)>`,
  `x' onmouseover='alert(2)`,
  `<svg onload=alert(3)>`,
];
const padArg = process.argv.find((a) => a.startsWith("--tarball-bytes="));
const pad = padArg === undefined ? 0 : Number(padArg.slice("--tarball-bytes=".length));
if (!Number.isInteger(pad) || pad < 0) {
  console.error(`gen_mirror.ts: --tarball-bytes wants a whole number of bytes, not "${padArg}"`);
  process.exit(2);
}
const dir = args[0];
const n = Number(args[1] ?? 2000);
if (!dir || !Number.isInteger(n) || n < 1) {
  console.error("usage: gen_mirror.ts DIR [N] [--index-only] [--tarball-bytes=B] [--hostile]");
  process.exit(2);
}

const put = (path: string, data: Uint8Array | string) => putFile(dir, path, data);
const blob = (data: Uint8Array, mediaType: string, compression: "gzip" | "none"): Descriptor =>
  putBlob(dir, data, mediaType, compression, !indexOnly || mediaType === MEDIA_TYPES.index);

const nodes: Record<string, unknown>[] = [];
const installs: Record<string, unknown> = {};
for (let i = 0; i < n; i++) {
  const evil = hostile && i % 2 === 1 ? HOSTILE[((i - 1) / 2) % HOSTILE.length] : "";
  const name = `pkg${String(i).padStart(5, "0")}${evil}`;
  const version = `${1 + (i % 7)}.${i % 13}.${i % 3}${evil ? "<b>v</b>" : ""}`;
  const hash = hash32();
  const deps = nodes.slice(-2).map((d) => ({
    name: d.name,
    hash: d.hash,
    parameters: { deptypes: ["build", "link"], virtuals: [] },
  }));
  const node = {
    ...nodeStart(name, version),
    dependencies: deps.length ? deps : undefined,
    annotations: { original_specfile_version: 5 },
    hash,
  };
  nodes.push(node);
  installs[hash] = { spec: node, ref_count: 0, in_buildcache: true };
  if (indexOnly) continue;
  const text = new TextEncoder().encode(`fake tarball of ${name} ${hash}\n`);
  const body = pad ? new Uint8Array([...text, ...randomBytes(pad)]) : text;
  const tarball = blob(gzipBytes(body), MEDIA_TYPES.tarball, "gzip");
  const specNodes = [node, ...nodes.slice(-3, -1).reverse()];
  const spec = blob(
    gzipBytes(
      JSON.stringify({
        spec: { _meta: { version: 5 }, nodes: specNodes },
        buildcache_layout_version: 2,
      }),
    ),
    MEDIA_TYPES.spec,
    "gzip",
  );
  put(v3SpecManifestPath(name, version, hash), serializeManifest(manifestOf([tarball, spec])));
}
const index = blob(
  new TextEncoder().encode(JSON.stringify({ database: { version: "8", installs } })),
  MEDIA_TYPES.index,
  "none",
);
put(v3IndexManifestPath(), serializeManifest(manifestOf([index])));
put(V3_LAYOUT_JSON, V3_LAYOUT_JSON_TEXT);
console.log(`${n} specs${indexOnly ? " (index only)" : ""}, index ${index.size} bytes, in ${dir}`);
