/**
 * Writes the two prefixes of the demo package (libdemo, and demoapp linked to it) under a
 * Spack-style store root, each with a minimal concrete `.spack/spec.json` (spec format 5, DAG
 * hashes computed as Spack computes them), and prints the two prefix paths.
 *
 *   node_modules/.bin/deno run -A scripts/demo_spec.ts STORE_ROOT
 *
 * @module
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { dagHash } from "../src/spec/dag_hash.ts";

const root = process.argv[2];
if (!root) throw new Error("usage: demo_spec.ts STORE_ROOT");

let os = "linux";
try {
  const rel = readFileSync("/etc/os-release", "utf8");
  const id = /^ID=(.*)$/m.exec(rel)?.[1]?.replace(/"/g, "") ?? "linux";
  const ver = /^VERSION_ID=(.*)$/m.exec(rel)?.[1]?.replace(/"/g, "").split(".")[0] ?? "";
  os = `${id}${ver}`;
} catch { /* keep "linux" */ }
const target = process.arch === "arm64" ? "aarch64" : "x86_64";
const arch = { platform: "linux", platform_os: os, target };
const parameters = {
  build_system: "generic",
  cflags: [],
  cppflags: [],
  cxxflags: [],
  fflags: [],
  ldflags: [],
  ldlibs: [],
};

type Node = Record<string, unknown>;
function node(name: string, deps: Node[]): Node {
  const n: Node = { name, version: "1.0", arch, namespace: "builtin", parameters };
  if (deps.length) {
    n.dependencies = deps.map((d) => ({
      name: d.name,
      hash: d.hash,
      parameters: { deptypes: ["build", "link"], virtuals: [] },
    }));
  }
  n.hash = dagHash(n, "compact");
  return n;
}

const lib = node("libdemo", []);
const app = node("demoapp", [lib]);
const dir = join(root, `linux-${target}`);
const prefixes: string[] = [];
for (const [n, nodes] of [[lib, [lib]], [app, [app, lib]]] as [Node, Node[]][]) {
  const prefix = join(dir, `${n.name}-${n.version}-${n.hash}`);
  mkdirSync(join(prefix, ".spack"), { recursive: true });
  writeFileSync(
    join(prefix, ".spack", "spec.json"),
    JSON.stringify({ spec: { _meta: { version: 5 }, nodes } }, null, 2) + "\n",
  );
  prefixes.push(prefix);
}
console.log(prefixes.join("\n"));
