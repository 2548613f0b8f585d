import assert from "node:assert/strict";
import { parseSpecJson } from "../spec/parse.ts";
import { buildSpecHash, spliceLookup } from "./splice.ts";
import { specsToRelocate } from "../spec/traverse.ts";

const h = (c: string) => c.repeat(32);
const node = (name: string, version: string, hash: string, deps: unknown[] = [], extra = {}) => ({
  name,
  version,
  arch: { platform: "linux", platform_os: "debian12", target: "x86_64" },
  namespace: "builtin",
  parameters: {},
  ...(deps.length ? { dependencies: deps } : {}),
  ...extra,
  hash,
});
const dep = (name: string, hash: string, types: string[], virtuals: string[] = []) => ({
  name,
  hash,
  parameters: { deptypes: types, virtuals },
});

// app (spliced) -> mpich (provides mpi) and zlib@1.3; its build spec app' -> openmpi (mpi),
// zlib@1.2 and zlib-ng@2 (a second analog by virtual for nothing), cmake (build only).
const dag = parseSpecJson({
  spec: {
    _meta: { version: 5 },
    nodes: [
      node("app", "1.0", h("a"), [
        dep("mpich", h("m"), ["build", "link"], ["mpi"]),
        dep("zlib", h("z"), ["link"]),
      ], { build_spec: { name: "app", hash: h("b") } }),
      node("mpich", "4.1", h("m")),
      node("zlib", "1.3", h("z")),
      node("app", "1.0", h("b"), [
        dep("openmpi", h("o"), ["build", "link"], ["mpi"]),
        dep("zlib", h("y"), ["link"]),
        dep("cmake", h("c"), ["build"]),
      ]),
      node("openmpi", "5.0", h("o")),
      node("zlib", "1.2", h("y")),
      node("cmake", "3.27", h("c")),
    ],
  },
});

Deno.test("spliceLookup() finds each spliced-in spec's analog in the build spec, as Spack", () => {
  const root = dag.nodes.get(h("a"))!;
  assert.equal(buildSpecHash(root), h("b"));
  assert.equal(buildSpecHash(dag.nodes.get(h("b"))!), undefined);
  const specs = specsToRelocate(dag, h("a"));
  assert.deepEqual(specs.map((s) => s.name), ["app", "mpich", "zlib"]);
  const lookup = spliceLookup(dag, h("a"), h("b"), specs);
  assert.deepEqual(Object.fromEntries(lookup), {
    [h("a")]: h("b"), // the root: by name
    [h("m")]: h("o"), // by the virtual it provides (mpi)
    [h("z")]: h("y"), // by name
  });
});
