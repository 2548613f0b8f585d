import assert from "node:assert/strict";
import { parseSpecJson } from "../spec/parse.ts";
import { parseIndexJson } from "./index.ts";
import { buildIndexJson, orderRecords, pyFloat, recordsFromDags } from "./writer.ts";

const H = (c: string) => c.repeat(32);
const DAG = parseSpecJson({
  spec: {
    _meta: { version: 5 },
    nodes: [
      {
        name: "app",
        version: "1",
        dependencies: [
          { name: "tool", hash: H("t"), parameters: { deptypes: ["build"], virtuals: [] } },
          { name: "zlib", hash: H("z"), parameters: { deptypes: ["build", "link"], virtuals: [] } },
        ],
        hash: H("a"),
      },
      {
        name: "tool",
        version: "2",
        external: { path: "/usr", module: null, extra_attributes: {} },
        hash: H("t"),
      },
      { name: "zlib", version: "1.3", hash: H("z") },
    ],
  },
});

Deno.test("buildIndexJson writes a build-cache index: deps first, ref counts, in_buildcache", () => {
  const text = buildIndexJson(recordsFromDags([DAG], new Set([H("a"), H("z")])), {
    kind: "buildcache",
  });
  assert.equal(
    text,
    `{"database":{"version":"8","installs":{` +
      `"${
        H("t")
      }":{"spec":{"name":"tool","version":"2","external":{"path":"/usr","module":null,"extra_attributes":{}},"hash":"${
        H("t")
      }"},"ref_count":1,"in_buildcache":false},` +
      `"${H("z")}":{"spec":{"name":"zlib","version":"1.3","hash":"${
        H("z")
      }"},"ref_count":1,"in_buildcache":true},` +
      `"${H("a")}":{"spec":{"name":"app","version":"1","dependencies":[{"name":"tool","hash":"${
        H("t")
      }","parameters":{"deptypes":["build"],"virtuals":[]}},{"name":"zlib","hash":"${
        H("z")
      }","parameters":{"deptypes":["build","link"],"virtuals":[]}}],"hash":"${
        H("a")
      }"},"ref_count":0,"in_buildcache":true}}}}`,
  );
  // And it reads back.
  const idx = parseIndexJson(text);
  assert.deepEqual(idx.records.map((r) => [r.name, r.inBuildcache]), [["tool", false], [
    "zlib",
    true,
  ], ["app", true]]);
});

Deno.test("buildIndexJson writes install-database records with Spack's fields and float times", () => {
  const recs = [...DAG.nodes.values()].map((node) => ({
    node,
    explicit: node.name === "app",
    installationTime: 1700000000,
    path: node.external ? undefined : `/opt/${node.name}`,
  }));
  const doc = JSON.parse(buildIndexJson(recs, { kind: "install" }));
  const app = doc.database.installs[H("a")];
  assert.deepEqual(Object.keys(app), [
    "spec",
    "ref_count",
    "path",
    "installed",
    "explicit",
    "installation_time",
    "deprecated_for",
  ]);
  assert.equal(app.path, "/opt/app");
  assert.equal(doc.database.installs[H("t")].path, "/usr");
  const text = buildIndexJson(recs, { kind: "install" });
  assert.ok(
    text.includes(`"installation_time":1700000000.0,`),
    "integral times are written as floats",
  );
});

Deno.test("orderRecords keeps input order except that dependencies move before dependents", () => {
  const nodes = [...DAG.nodes.values()];
  const order = orderRecords([{ node: nodes[2] }, { node: nodes[0] }, { node: nodes[1] }, {
    node: nodes[2],
  }]);
  assert.deepEqual(order.map((r) => r.node.name), ["zlib", "tool", "app"]);
});

Deno.test("pyFloat writes numbers as Python's repr(float)", () => {
  assert.equal(pyFloat(1), "1.0");
  assert.equal(pyFloat(1795817983.4622617), "1795817983.4622617");
  // CPython repr() of the same floats.
  assert.equal(pyFloat(1e-5), "1e-05");
  assert.equal(pyFloat(0.0001), "0.0001");
  assert.equal(pyFloat(1e16), "1e+16");
  assert.equal(pyFloat(123456789012345.6), "123456789012345.6");
  assert.equal(pyFloat(-2.5), "-2.5");
});
