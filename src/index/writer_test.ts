import assert from "node:assert/strict";
import { parseSpecJson } from "../spec/parse.ts";
import { parseIndexDb } from "./db.ts";
import {
  buildcacheRecords,
  buildIndexJson,
  type IndexWriteRecord,
  putBuildcacheIndex,
  refCounts,
} from "./writer.ts";
import { pyJsonDumps } from "../core/json.ts";

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
  const text = buildIndexJson(buildcacheRecords([DAG]), { kind: "buildcache" });
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
      }"},"ref_count":1,"in_buildcache":false},` +
      `"${H("a")}":{"spec":{"name":"app","version":"1","dependencies":[{"name":"tool","hash":"${
        H("t")
      }","parameters":{"deptypes":["build"],"virtuals":[]}},{"name":"zlib","hash":"${
        H("z")
      }","parameters":{"deptypes":["build","link"],"virtuals":[]}}],"hash":"${
        H("a")
      }"},"ref_count":0,"in_buildcache":true}}}}`,
  );
  // And it reads back.
  const idx = parseIndexDb(text);
  assert.deepEqual(idx.records.map((r) => [r.name, r.inBuildcache]), [
    ["tool", false],
    ["zlib", false],
    ["app", true],
  ]);
  assert.deepEqual(
    refCounts(buildcacheRecords([DAG])),
    new Map([[H("t"), 1], [H("z"), 1], [H("a"), 0]]),
  );
});

Deno.test("buildIndexJson writes install-database records with Spack's fields in Spack's order", () => {
  const recs: IndexWriteRecord[] = [...DAG.nodes.values()].reverse().map((node) => ({
    hash: node.hash,
    spec: node.raw,
    explicit: node.name === "app",
    installationTime: 1700000000.25,
    path: node.external ? node.external.path : `/opt/${node.name}`,
  }));
  const text = buildIndexJson(recs, { kind: "install" });
  const doc = JSON.parse(text);
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
  assert.ok(text.includes(`"installation_time":1700000000.25,`), text);
});

Deno.test("putBuildcacheIndex of written node dicts gives buildIndexJson's bytes", () => {
  const recs = buildcacheRecords([DAG]);
  const written = (rs: typeof recs) => {
    const refs = refCounts(rs);
    const pieces: (string | Uint8Array)[] = [];
    putBuildcacheIndex(rs.length, (k) => ({
      hash: rs[k].hash,
      // Node texts as bytes, as a rebuild reads them back from its spool.
      spec: new TextEncoder().encode(pyJsonDumps(rs[k].spec)),
      refCount: refs.get(rs[k].hash)!,
      inBuildcache: rs[k].inBuildcache === true,
    }), (p) => pieces.push(p));
    return pieces.map((p) => typeof p === "string" ? p : new TextDecoder().decode(p)).join("");
  };
  const text = written(recs);
  assert.equal(text, buildIndexJson(recs, { kind: "buildcache" }));
  assert.match(text, /"ref_count":1/);
  assert.equal(written([]), buildIndexJson([], { kind: "buildcache" }));
});
