import assert from "node:assert/strict";
/** Runs `fn`, asserts it throws an instance of `cls` whose message includes `text`. */
function throwsWith<T extends Error>(
  fn: () => unknown,
  cls: new (...a: never[]) => T,
  text = "",
): T {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${e}`);
    assert.ok(e.message.includes(text), `"${e.message}" lacks "${text}"`);
    return e;
  }
  throw new assert.AssertionError({ message: `expected ${cls.name} to be thrown` });
}

import { InvalidDataError, NotFoundError } from "../errors.ts";
import { parseSpecJson, runtimeClosure } from "./parse.ts";

const V5 = {
  spec: {
    _meta: { version: 5 },
    nodes: [
      {
        name: "app",
        version: "3.0",
        arch: { platform: "linux", platform_os: "debian12", target: "x86_64" },
        namespace: "builtin",
        dependencies: [
          { name: "data", hash: "d".repeat(32), parameters: { deptypes: ["run"], virtuals: [] } },
          {
            name: "gcc",
            hash: "g".repeat(32),
            parameters: { deptypes: ["build"], virtuals: ["cxx", "c"] },
          },
          {
            name: "lib",
            hash: "l".repeat(32),
            parameters: { deptypes: ["build", "link"], virtuals: [] },
          },
        ],
        hash: "a".repeat(32),
      },
      { name: "data", version: "1.0", hash: "d".repeat(32) },
      {
        name: "gcc",
        version: "12.2.0",
        external: { path: "/usr", module: null },
        hash: "g".repeat(32),
      },
      {
        name: "lib",
        version: "2.0",
        arch: {
          platform: "linux",
          platform_os: "debian12",
          target: { name: "zen2", vendor: "AMD" },
        },
        dependencies: [{ name: "tool", hash: "t".repeat(32), parameters: { deptypes: ["test"] } }],
        hash: "l".repeat(32),
      },
      { name: "tool", version: "1", hash: "t".repeat(32) },
    ],
  },
  buildcache_layout_version: 2,
};

Deno.test("parseSpecJson maps a format-5 document: root, nodes by hash, deps with types and virtuals", () => {
  const dag = parseSpecJson(JSON.stringify(V5), "app.spec.json");
  assert.deepStrictEqual(dag.root, "a".repeat(32));
  assert.deepStrictEqual(dag.formatVersion, 5);
  assert.deepStrictEqual(dag.buildcacheLayoutVersion, 2);
  assert.deepStrictEqual([...dag.nodes.values()].map((n) => n.name), [
    "app",
    "data",
    "gcc",
    "lib",
    "tool",
  ]);
  const app = dag.nodes.get(dag.root)!;
  assert.deepStrictEqual(app.arch, { platform: "linux", platformOs: "debian12", target: "x86_64" });
  assert.deepStrictEqual(app.dependencies[1], {
    name: "gcc",
    hash: "g".repeat(32),
    depTypes: ["build"],
    virtuals: ["cxx", "c"],
  });
  assert.deepStrictEqual(dag.nodes.get("l".repeat(32))!.arch?.target, "zen2");
  assert.deepStrictEqual(dag.nodes.get("g".repeat(32))!.external, { path: "/usr", module: null });
  // The raw dict keeps Spack's key order.
  assert.deepStrictEqual(Object.keys(app.raw), [
    "name",
    "version",
    "arch",
    "namespace",
    "dependencies",
    "hash",
  ]);
});

Deno.test("parseSpecJson reads format 4 (compiler attribute) and format 2 (type lists)", () => {
  const v4 = parseSpecJson({
    spec: {
      _meta: { version: 4 },
      nodes: [{
        name: "z",
        version: "1",
        compiler: { name: "gcc", version: "=12.2.0" },
        hash: "z".repeat(32),
      }],
    },
  });
  assert.deepStrictEqual(v4.nodes.get("z".repeat(32))!.compiler, {
    name: "gcc",
    version: "12.2.0",
  });
  const v2 = parseSpecJson({
    spec: {
      _meta: { version: 2 },
      nodes: [
        {
          name: "a",
          version: "1",
          dependencies: [{ name: "b", hash: "b".repeat(32), type: ["link", "build"] }],
          hash: "a".repeat(32),
          full_hash: "f".repeat(32),
        },
        { name: "b", version: "2", hash: "b".repeat(32) },
      ],
    },
  });
  assert.deepStrictEqual(v2.nodes.get("a".repeat(32))!.dependencies[0].depTypes, ["build", "link"]);
});

Deno.test("parseSpecJson reads format 1's list of {name: body} with dependencies as a dict", () => {
  const dag = parseSpecJson({
    spec: [
      {
        a: {
          version: "1",
          dependencies: { b: { hash: "b".repeat(32), type: ["build", "link"] } },
          hash: "a".repeat(32),
        },
      },
      { b: { version: "2", hash: "b".repeat(32) } },
    ],
  });
  assert.deepStrictEqual(dag.formatVersion, 1);
  const a = dag.nodes.get(dag.root)!;
  assert.deepStrictEqual(a.name, "a");
  assert.deepStrictEqual(a.dependencies, [{
    name: "b",
    hash: "b".repeat(32),
    depTypes: ["build", "link"],
    virtuals: [],
  }]);
});

Deno.test("parseSpecJson names the label and the JSON path of a bad value", () => {
  const bad = structuredClone(V5);
  (bad.spec.nodes[3].dependencies![0] as Record<string, unknown>).name = 7;
  const e = throwsWith(() => parseSpecJson(bad, "lib.spec.json"), InvalidDataError);
  assert.ok(e.message.includes("lib.spec.json"), e.message);
  assert.ok(e.message.includes("spec.nodes[3].dependencies[0].name"), e.message);
  throwsWith(() => parseSpecJson("{not json", "x.json"), InvalidDataError, "x.json");
  throwsWith(() => parseSpecJson({ spec: { nodes: [] } }), InvalidDataError, "spec.nodes");
  throwsWith(
    () => parseSpecJson({ spec: { nodes: [{ name: "a", version: "1" }] } }, "h"),
    InvalidDataError,
    "has no hash",
  );
});

Deno.test("runtimeClosure follows link and run edges only, dependencies first, no externals", () => {
  const dag = parseSpecJson(V5);
  assert.deepStrictEqual(runtimeClosure(dag).map((n) => n.name), ["data", "lib", "app"]);
  // lib's closure: its test-only dependency is not part of it.
  assert.deepStrictEqual(runtimeClosure(dag, "l".repeat(32)).map((n) => n.name), ["lib"]);
});

Deno.test("runtimeClosure reports a missing runtime dependency and can resolve it through lookup", () => {
  const doc = structuredClone(V5);
  doc.spec.nodes.splice(1, 1); // drop "data"
  const dag = parseSpecJson(doc);
  throwsWith(() => runtimeClosure(dag), NotFoundError, "d".repeat(32));
  const extra = parseSpecJson({
    spec: { nodes: [{ name: "data", version: "9", hash: "d".repeat(32) }] },
  });
  const names = runtimeClosure(dag, dag.root, { lookup: (h) => extra.nodes.get(h) }).map((n) =>
    n.version
  );
  assert.deepStrictEqual(names, ["9", "2.0", "3.0"]);
});

Deno.test("runtimeClosure includes externals when asked", () => {
  const doc = structuredClone(V5);
  doc.spec.nodes[0].dependencies![1].parameters.deptypes = ["build", "link"];
  const dag = parseSpecJson(doc);
  assert.deepStrictEqual(runtimeClosure(dag).map((n) => n.name), ["data", "lib", "app"]);
  assert.deepStrictEqual(
    runtimeClosure(dag, dag.root, { includeExternals: true }).map((n) => n.name),
    [
      "data",
      "gcc",
      "lib",
      "app",
    ],
  );
});

Deno.test("edges that name a dependency by full_hash resolve to the node's DAG hash", () => {
  const dag = parseSpecJson({
    spec: {
      _meta: { version: 2 },
      nodes: [
        {
          name: "a",
          version: "1",
          dependencies: [{ name: "b", full_hash: "f".repeat(32), type: ["link"] }],
          hash: "a".repeat(32),
        },
        { name: "b", version: "2", hash: "b".repeat(32), full_hash: "f".repeat(32) },
      ],
    },
  });
  assert.equal(dag.nodes.get(dag.root)!.dependencies[0].hash, "b".repeat(32));
  assert.deepEqual(runtimeClosure(dag).map((n) => n.name), ["b", "a"]);
});
