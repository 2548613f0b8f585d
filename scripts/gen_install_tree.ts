/**
 * Writes a synthetic Spack install tree of N small packages for measurements: a DAG with
 * shared dependencies (packages come in stacks of 100; each links up to three earlier ones of
 * its stack), format-5 nodes with real DAG hashes, every prefix with `.spack/spec.json`, a
 * text file naming its own and its dependencies' prefixes (relocated on install) and a small
 * script, and the install database `.spack-db/index.json`. `spackle push --root TREE` then
 * makes an installable build cache of it. Deterministic for a given N.
 *
 *   deno run -A scripts/gen_install_tree.ts TREE [N=300] [BLOB_KIB=0]
 *
 * BLOB_KIB > 0 adds `share/blob.bin` to every package: that many KiB of incompressible
 * (deterministic) bytes, for packages of a real size rather than a few kilobytes.
 *
 * Prints the names of the packages nothing depends on (the roots), one a line.
 *
 * @module
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import process from "node:process";
import { base32Encode } from "../src/core/base32.ts";
import { buildIndexJson, type IndexWriteRecord } from "../src/index/mod.ts";
import { dagHash } from "../src/spec/mod.ts";

const [tree, count, blobKib] = process.argv.slice(2);
const n = Number(count ?? 300);
const blob = Number(blobKib ?? 0) * 1024;
if (!tree || !Number.isInteger(n) || n < 1 || !Number.isInteger(blob) || blob < 0) {
  console.error("usage: gen_install_tree.ts TREE [N>=1] [BLOB_KIB>=0]");
  process.exit(2);
}
const top = resolve(tree);

let seed = 7;
const rand = () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const FLAGS = { cflags: [], cppflags: [], cxxflags: [], fflags: [], ldflags: [], ldlibs: [] };
const arch = { platform: "linux", platform_os: "debian12", target: "x86_64" };

type Node = Record<string, unknown> & {
  name: string;
  version: string;
  hash: string;
  dependencies?: { name: string; hash: string }[];
};
const nodes: Node[] = [];
const byHash = new Map<string, Node>();
const usedBy = new Set<string>();
for (let i = 0; i < n; i++) {
  const stack = i - (i % 100);
  const deps: { name: string; hash: string; parameters: Record<string, unknown> }[] = [];
  const want = i > stack ? 1 + Math.floor(rand() * 3) : 0;
  for (let k = 0; k < want; k++) {
    const d = nodes[stack + Math.floor(rand() * (i - stack))];
    if (deps.some((x) => x.hash === d.hash)) continue;
    deps.push({
      name: d.name,
      hash: d.hash,
      parameters: { deptypes: ["build", "link"], virtuals: [] },
    });
    usedBy.add(d.hash);
  }
  deps.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  const pkgHash = new Uint8Array(20);
  for (let k = 0; k < pkgHash.length; k++) pkgHash[k] = Math.floor(rand() * 256);
  const node: Record<string, unknown> = {
    name: `pkg-${String(i).padStart(5, "0")}`,
    version: "1.0",
    arch,
    namespace: "builtin",
    parameters: { build_system: "generic", ...FLAGS },
    package_hash: base32Encode(pkgHash, true),
    ...(deps.length ? { dependencies: deps } : {}),
    annotations: { original_specfile_version: 5 },
  };
  const full = { ...node, hash: dagHash(node, "compact")! } as Node;
  nodes.push(full);
  byHash.set(full.hash, full);
}

const prefixOf = (x: Node) => `${top}/linux-x86_64/${x.name}-${x.version}-${x.hash}`;
const closure = (x: Node): Node[] => {
  const out: Node[] = [];
  const seen = new Set<string>();
  const walk = (y: Node) => {
    if (seen.has(y.hash)) return;
    seen.add(y.hash);
    out.push(y);
    for (const d of y.dependencies ?? []) walk(byHash.get(d.hash)!);
  };
  walk(x);
  return out;
};

const records: IndexWriteRecord[] = [];
for (const x of nodes) {
  const prefix = prefixOf(x);
  mkdirSync(join(prefix, ".spack"), { recursive: true });
  mkdirSync(join(prefix, "lib"), { recursive: true });
  mkdirSync(join(prefix, "bin"), { recursive: true });
  const dag = closure(x);
  writeFileSync(
    join(prefix, ".spack", "spec.json"),
    JSON.stringify({ spec: { _meta: { version: 5 }, nodes: dag } }),
  );
  const deps = (x.dependencies ?? []).map((d) => prefixOf(byHash.get(d.hash)!));
  writeFileSync(
    join(prefix, "lib", `lib${x.name}.txt`),
    [`prefix=${prefix}`, ...deps.map((p) => `dep=${p}/lib`), ""].join("\n"),
  );
  writeFileSync(join(prefix, "bin", x.name), `#!/bin/sh\necho ${x.name}\n`, { mode: 0o755 });
  if (blob > 0) {
    const bytes = new Uint8Array(blob);
    const words = new Uint32Array(bytes.buffer, 0, blob >> 2);
    for (let k = 0; k < words.length; k++) words[k] = rand() * 4294967296;
    mkdirSync(join(prefix, "share"), { recursive: true });
    writeFileSync(join(prefix, "share", "blob.bin"), bytes);
  }
  records.push({ hash: x.hash, spec: x, path: prefix, explicit: !usedBy.has(x.hash) });
}
mkdirSync(join(top, ".spack-db"), { recursive: true });
writeFileSync(join(top, ".spack-db", "index.json"), buildIndexJson(records, { kind: "install" }));
for (const x of nodes) if (!usedBy.has(x.hash)) console.log(x.name);
