/**
 * Writes a synthetic Spack install tree and the environment that names it, for measuring
 * environment workflows: N installed specs (a tenth of them libraries without dependencies,
 * the rest each linking two of those), each prefix with a script in `bin/`, a text file naming
 * its own prefix and `.spack/spec.json` (spec format 5, the whole DAG), the tree's database
 * (`.spack-db/index.json`, version 8), and `env/spack.yaml` + `env/spack.lock` (format 6) whose
 * roots are the specs that are not libraries.
 *
 *   deno run -A scripts/gen_env_store.ts DIR [N=2000]     # DIR/store, DIR/env
 *
 * Hashes are random 32-character base32 strings (not DAG hashes of the content).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { buildIndexJson } from "../src/index/writer.ts";
import { libraryDag } from "./_synthetic.ts";

const dir = process.argv[2];
const n = Number(process.argv[3] ?? 2000);
if (!dir || !Number.isInteger(n) || n < 10) {
  console.error("usage: gen_env_store.ts DIR [N>=10]");
  process.exit(2);
}
const store = join(dir, "store");
const { specs, nlibs } = libraryDag(n);
const nodes = specs.map((s) => s.node);
for (const { node, deps } of specs) {
  const { name, version } = node;
  const prefix = join(store, "linux-x86_64", `${name}-${version}-${node.hash}`);
  mkdirSync(join(prefix, "bin"), { recursive: true });
  mkdirSync(join(prefix, "share", name), { recursive: true });
  mkdirSync(join(prefix, ".spack"), { recursive: true });
  writeFileSync(join(prefix, "bin", name), `#!/bin/sh\necho ${prefix}\n`, { mode: 0o755 });
  writeFileSync(join(prefix, "share", name, "prefix.txt"), `${prefix}\n`);
  writeFileSync(
    join(prefix, ".spack", "spec.json"),
    JSON.stringify({ spec: { _meta: { version: 5 }, nodes: [node, ...deps] } }),
  );
}
mkdirSync(join(store, ".spack-db"), { recursive: true });
writeFileSync(
  join(store, ".spack-db", "index.json"),
  buildIndexJson(
    nodes.map((node, i) => ({
      hash: node.hash as string,
      spec: node,
      path: join(
        store,
        "linux-x86_64",
        `${node.name}-${node.version}-${node.hash}`,
      ),
      installed: true,
      explicit: i >= nlibs,
      installationTime: 1.7e9,
      deprecatedFor: null,
    })),
    { kind: "install" },
  ),
);
const roots = nodes.slice(nlibs);
mkdirSync(join(dir, "env"), { recursive: true });
writeFileSync(
  join(dir, "env", "spack.yaml"),
  `spack:\n  specs:\n${roots.map((r) => `  - ${r.name}`).join("\n")}\n  view: false\n`,
);
writeFileSync(
  join(dir, "env", "spack.lock"),
  JSON.stringify({
    _meta: { "file-type": "spack-lockfile", "lockfile-version": 6, "specfile-version": 5 },
    spack: { version: "1.2.0.dev0", type: "release" },
    roots: roots.map((r) => ({ hash: r.hash, spec: r.name })),
    concrete_specs: Object.fromEntries(nodes.map((x) => [x.hash, x])),
  }),
);
console.log(`${n} installed specs in ${store}, ${roots.length} roots in ${join(dir, "env")}`);
