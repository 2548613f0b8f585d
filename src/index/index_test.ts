import assert from "node:assert/strict";
import { InvalidDataError, NotFoundError, UnsupportedError } from "../errors.ts";
import { runtimeClosure } from "../spec/parse.ts";
import { parseIndexJson } from "./index.ts";

const H = (c: string) => c.repeat(32);
const node = (
  name: string,
  version: string,
  hash: string,
  extra: Record<string, unknown> = {},
) => ({
  name,
  version,
  arch: { platform: "linux", platform_os: "debian12", target: { name: "zen2", vendor: "AMD" } },
  ...extra,
  hash,
});
const edge = (name: string, hash: string, deptypes: string[], virtuals: string[] = []) => ({
  name,
  hash,
  parameters: { deptypes, virtuals },
});

const DB = {
  database: {
    version: "8",
    installs: {
      [H("g")]: {
        spec: node("gcc", "12.2.0", H("g"), { external: { path: "/usr", module: null } }),
        ref_count: 1,
        in_buildcache: false,
      },
      [H("z")]: { spec: node("zlib", "1.3", H("z")), ref_count: 1, in_buildcache: true },
      [H("a")]: {
        spec: node("app", "2.0", H("a"), {
          dependencies: [
            edge("gcc", H("g"), ["build"], ["c", "cxx"]),
            edge("missing", H("m"), ["run"]),
            edge("zlib", H("z"), ["build", "link"]),
          ],
        }),
        ref_count: 0,
        in_buildcache: true,
      },
    },
  },
};

Deno.test("parseIndexJson summarises every record without building spec objects", () => {
  const idx = parseIndexJson(JSON.stringify(DB), "index.json");
  assert.equal(idx.dbVersion, "8");
  assert.equal(idx.size, 3);
  assert.deepEqual(idx.get(H("a")), {
    name: "app",
    version: "2.0",
    hash: H("a"),
    arch: "linux-debian12-zen2",
    compiler: "gcc@12.2.0",
    inBuildcache: true,
    external: false,
  });
  assert.equal(idx.get(H("g"))!.external, true);
  assert.equal(idx.get(H("g"))!.inBuildcache, false);
  assert.deepEqual(idx.find("zlib@1:").map((r) => r.hash), [H("z")]);
  assert.deepEqual(idx.find("target=zen2").length, 3);
  assert.deepEqual(idx.find("/aaa").map((r) => r.name), ["app"]);
});

Deno.test("index.spec resolves dependencies from the index and lists the missing ones", () => {
  const idx = parseIndexJson(JSON.stringify(DB));
  const dag = idx.spec(H("a"));
  assert.equal(dag.root, H("a"));
  assert.deepEqual([...dag.nodes.keys()].sort(), [H("a"), H("g"), H("z")]);
  assert.deepEqual(dag.missing, [H("m")]);
  assert.equal(dag.formatVersion, 5);
  // The missing run dependency makes the runtime closure fail loudly.
  assert.throws(() => runtimeClosure(dag), NotFoundError);
  assert.deepEqual(runtimeClosure(idx.spec(H("z"))).map((n) => n.name), ["zlib"]);
  assert.throws(() => idx.spec(H("q")), NotFoundError);
});

Deno.test("a record is validated only when used, and the error names the record", () => {
  const bad = structuredClone(DB) as typeof DB;
  (bad.database.installs[H("z")].spec as Record<string, unknown>).dependencies = [{ hash: 5 }];
  const idx = parseIndexJson(JSON.stringify(bad), "idx.json");
  assert.equal(idx.get(H("z"))!.name, "zlib");
  assert.throws(
    () => idx.node(H("z")),
    (e) =>
      e instanceof InvalidDataError &&
      e.message.includes(`database.installs.${H("z")}.spec.dependencies[0]`),
  );
});

Deno.test("database versions outside 6-8 and malformed documents are refused clearly", () => {
  const v = (version: string) => JSON.stringify({ database: { version, installs: {} } });
  assert.throws(
    () => parseIndexJson(v("5")),
    (e) => e instanceof UnsupportedError && /"5" is older/.test(e.message),
  );
  assert.throws(
    () => parseIndexJson(v("9")),
    (e) => e instanceof UnsupportedError && /"9" is newer/.test(e.message),
  );
  for (const ok of ["6", "7", "8"]) assert.equal(parseIndexJson(v(ok)).size, 0);
  assert.throws(
    () => parseIndexJson("<html>", "index.json"),
    (e) => e instanceof InvalidDataError && /index\.json/.test(e.message),
  );
  assert.throws(() => parseIndexJson("{}"), InvalidDataError);
  assert.throws(
    () => parseIndexJson(JSON.stringify({ database: { version: "8", installs: { x: {} } } })),
    (e) => e instanceof InvalidDataError && /"database\.installs\.x"/.test(e.message),
  );
});

Deno.test("install-database records without a hash in the node get the key as hash", () => {
  const db = {
    database: {
      version: "7",
      installs: { [H("b")]: { spec: { name: "b", version: "1" }, installed: true } },
    },
  };
  const idx = parseIndexJson(JSON.stringify(db));
  assert.equal(idx.node(H("b"))!.hash, H("b"));
  assert.equal(idx.get(H("b"))!.inBuildcache, false);
  assert.equal(idx.spec(H("b")).formatVersion, 4);
});
