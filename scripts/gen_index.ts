/**
 * Writes a synthetic Spack build-cache index (database version 8) of N specs for
 * measurements. Nodes look like Spack 1.2's (format 5: arch with an archspec target dict,
 * variants and compiler flags, package_hash, annotations, dependency edges with types and
 * virtuals, an external gcc as the compiler), every hash is the real DAG hash of its node, and
 * the file is written by the same writer spackle uses (`buildIndexJson`). Deterministic for a
 * given N and seed.
 *
 *   deno run -A scripts/gen_index.ts OUT.json [N=50000] [--seed=1] [--gzip]
 *
 * @module
 */
import { writeFileSync } from "node:fs";
import process from "node:process";
import { base32Encode } from "../src/core/base32.ts";
import { gzipBytes } from "../src/core/gzip.ts";
import { buildIndexJson, type IndexWriteRecord } from "../src/index/mod.ts";
import { dagHash } from "../src/spec/mod.ts";

const args = process.argv.slice(2);
const pos = args.filter((a) => !a.startsWith("--"));
const out = pos[0];
const n = Number(pos[1] ?? 50000);
const seed = Number(args.find((a) => a.startsWith("--seed="))?.slice(7) ?? 1);
if (!out || !Number.isInteger(n) || n < 3) {
  console.error("usage: gen_index.ts OUT.json [N>=3] [--seed=S] [--gzip]");
  process.exit(2);
}

/** mulberry32: a small deterministic PRNG. */
function rng(s: number): () => number {
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = rng(seed);
const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)];

const TARGETS = [
  {
    name: "x86_64_v3",
    vendor: "generic",
    features: ["avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "movbe", "sse4_2", "ssse3"],
    generation: 0,
    parents: ["x86_64_v2"],
    cpupart: "",
  },
  {
    name: "zen3",
    vendor: "AuthenticAMD",
    features: ["aes", "avx", "avx2", "bmi1", "bmi2", "clzero", "fma", "sha", "sse4a", "vaes"],
    generation: 0,
    parents: ["zen2"],
    cpupart: "",
  },
  "x86_64",
];
const OSES = ["ubuntu22.04", "rhel8", "debian12"];
const FLAGS = { cflags: [], cppflags: [], cxxflags: [], fflags: [], ldflags: [], ldlibs: [] };

function pkgHash(): string {
  const b = new Uint8Array(35);
  for (let i = 0; i < b.length; i++) b[i] = Math.floor(rand() * 256);
  return base32Encode(b, true);
}

function arch(i: number) {
  return { platform: "linux", platform_os: OSES[i % OSES.length], target: TARGETS[i % 3] };
}

type Node = Record<string, unknown> & { name: string; hash: string };

function finish(node: Record<string, unknown>): Node {
  const h = dagHash(node, "compact")!;
  return { ...node, hash: h } as Node;
}

const records: IndexWriteRecord[] = [];
const add = (node: Node, inBuildcache: boolean) =>
  records.push({ hash: node.hash, spec: node, inBuildcache });

const gcc = finish({
  name: "gcc",
  version: "12.3.0",
  arch: arch(0),
  namespace: "builtin",
  parameters: { languages: ["c", "c++", "fortran"], ...FLAGS },
  external: { path: "/usr", module: null, extra_attributes: { compilers: { c: "/usr/bin/gcc" } } },
  package_hash: pkgHash(),
  annotations: { original_specfile_version: 5 },
});
add(gcc, false);
const runtime = finish({
  name: "gcc-runtime",
  version: "12.3.0",
  arch: arch(0),
  namespace: "builtin",
  parameters: { build_system: "generic", ...FLAGS },
  package_hash: pkgHash(),
  dependencies: [{
    name: "gcc",
    hash: gcc.hash,
    parameters: { deptypes: ["build"], virtuals: [] },
  }],
  annotations: { original_specfile_version: 5 },
});
add(runtime, true);

const nodes: Node[] = [];
const PACKAGES = Math.max(1, Math.min(5000, Math.floor(n / 10)));
for (let i = 0; records.length < n; i++) {
  const deps: { name: string; hash: string; parameters: Record<string, unknown> }[] = [
    { name: "gcc", hash: gcc.hash, parameters: { deptypes: ["build"], virtuals: ["c", "cxx"] } },
    { name: "gcc-runtime", hash: runtime.hash, parameters: { deptypes: ["link"], virtuals: [] } },
  ];
  // Nodes come in stacks of 100 that depend only on each other (real DAGs have tens to a few
  // hundred nodes, not the whole index).
  const stack = nodes.length - (nodes.length % 100);
  const want = nodes.length > stack ? Math.floor(rand() * 6) : 0;
  const used = new Set(["gcc", "gcc-runtime"]);
  for (let k = 0; k < want; k++) {
    const j = stack + Math.floor(rand() * (nodes.length - stack));
    const d = nodes[j];
    if (used.has(d.name)) continue;
    used.add(d.name);
    const t = pick([["build", "link"], ["build", "link"], ["link"], ["run"], ["build"]]);
    deps.push({ name: d.name, hash: d.hash, parameters: { deptypes: t, virtuals: [] } });
  }
  deps.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  const p = i % PACKAGES;
  const node = finish({
    name: `pkg-${String(p).padStart(4, "0")}`,
    version: `${1 + Math.floor(i / PACKAGES) % 9}.${p % 13}.${i % 3}`,
    arch: arch(i),
    namespace: "builtin",
    parameters: {
      build_system: pick(["cmake", "autotools", "generic"]),
      shared: rand() < 0.8,
      ...FLAGS,
    },
    package_hash: pkgHash(),
    dependencies: deps,
    annotations: { original_specfile_version: 5 },
  });
  nodes.push(node);
  add(node, true);
}

const text = buildIndexJson(records, { kind: "buildcache" });
const gz = args.includes("--gzip");
writeFileSync(out, gz ? gzipBytes(text) : text);
console.error(`${out}: ${records.length} records, ${(text.length / 1e6).toFixed(1)} MB of JSON`);
