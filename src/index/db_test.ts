import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { InvalidDataError, NotFoundError, UnsupportedError } from "../errors.ts";
import { runtimeClosure } from "../spec/parse.ts";
import { parseIndexDb, readIndexDb, validateIndexDb } from "./db.ts";
import { buildIndexJson } from "./writer.ts";

const arch = { platform: "linux", platform_os: "debian12", target: "x86_64" };
const zlib = { name: "zlib", version: "1.3.1", arch, hash: "aaaa1111", namespace: "builtin" };
const gcc = { name: "gcc", version: "13.2.0", arch, hash: "cccc3333", external: { path: "/usr" } };
const app = {
  name: "app",
  version: "2.0",
  arch: { ...arch, target: { name: "zen2", vendor: "AMD" } },
  dependencies: [
    { name: "zlib", hash: "aaaa1111", parameters: { deptypes: ["link"], virtuals: [] } },
    { name: "gcc", hash: "cccc3333", parameters: { deptypes: ["build"], virtuals: ["c"] } },
  ],
  hash: "bbbb2222",
};
const text = buildIndexJson([
  { hash: "aaaa1111", spec: zlib, inBuildcache: true },
  { hash: "cccc3333", spec: gcc, inBuildcache: true },
  { hash: "bbbb2222", spec: app, inBuildcache: true },
], { kind: "buildcache" });

Deno.test("records are light: name, version, hash, arch text, compiler from the c provider", () => {
  const db = parseIndexDb(text);
  assert.equal(db.dbVersion, "8");
  assert.deepEqual(db.get("bbbb2222"), {
    name: "app",
    version: "2.0",
    hash: "bbbb2222",
    arch: "linux-debian12-zen2",
    compiler: "gcc@13.2.0",
    inBuildcache: true,
    external: false,
  });
  // An external is never in the build cache, whatever the record says.
  assert.equal(db.get("cccc3333")!.inBuildcache, false);
});

Deno.test("queries by name, version (exact or prefix), hash prefix, arch part", () => {
  const db = parseIndexDb(text);
  const names = (q: Parameters<typeof db.query>[0]) => db.query(q).map((r) => r.name);
  assert.deepEqual(names({ name: "zlib" }), ["zlib"]);
  assert.deepEqual(names({ version: "1.3.1" }), ["zlib"]);
  assert.deepEqual(names({ version: "1.3" }), []);
  assert.deepEqual(names({ version: "1.3.*" }), ["zlib"]);
  assert.deepEqual(names({ hashPrefix: "/bbb" }), ["app"]);
  assert.deepEqual(names({ arch: "zen2" }), ["app"]);
  assert.deepEqual(names({ arch: "linux-debian12" }), ["zlib", "gcc", "app"]);
  assert.deepEqual(names({ arch: "debian" }), []);
  assert.deepEqual(names({ inBuildcache: true, arch: "x86_64" }), ["zlib"]);
});

Deno.test("ref_count counts dependents of every type; nodes and DAGs are built on demand", () => {
  const db = parseIndexDb(text);
  assert.equal(db.raw("aaaa1111")!.ref_count, 1);
  assert.equal(db.raw("cccc3333")!.ref_count, 1);
  assert.equal(db.raw("bbbb2222")!.ref_count, 0);
  const dag = db.dag("bbbb2222")!;
  assert.deepEqual([...dag.nodes.keys()].sort(), ["aaaa1111", "bbbb2222", "cccc3333"]);
  assert.equal(db.node("bbbb2222")!.dependencies[1].virtuals[0], "c");
  assert.equal(db.node("nope"), undefined);
});

Deno.test("a record without a name is refused, naming the record", () => {
  const bad = JSON.stringify({
    database: { version: "8", installs: { h1: { spec: { version: "1" } } } },
  });
  assert.throws(() => parseIndexDb(bad, "idx"), (e: Error) => {
    assert.ok(e instanceof InvalidDataError);
    assert.match(
      e.message,
      /idx record "database\.installs\.h1": the package name "" is not valid/,
    );
    return true;
  });
});

Deno.test("validateIndexDb names the record and path of a value of the wrong type", async () => {
  const bad = JSON.stringify({
    database: { version: "8", installs: { h1: { spec: { name: "x", arch: { platform: 3 } } } } },
  });
  await assert.rejects(validateIndexDb(parseIndexDb(bad, "idx")), (e: Error) => {
    assert.ok(e instanceof InvalidDataError);
    assert.match(e.message, /idx: "database\.installs\.h1\.spec\.arch\.platform"/);
    return true;
  });
  await validateIndexDb(parseIndexDb(text));
});

Deno.test("database versions outside 6..8 and documents without installs are refused", () => {
  const v = (version: string) => JSON.stringify({ database: { version, installs: {} } });
  assert.throws(() => parseIndexDb(v("5")), UnsupportedError);
  assert.throws(() => parseIndexDb(v("9")), UnsupportedError);
  assert.equal(parseIndexDb(v("6")).records.length, 0);
  assert.throws(() => parseIndexDb("{}", "idx"), /idx: no "database.installs"/);
  assert.throws(() => parseIndexDb("{", "idx"), /Cannot parse idx/);
});

Deno.test("install databases carry path, installed, explicit, time, deprecated_for; origin only when set", () => {
  const t = buildIndexJson([
    { hash: "aaaa1111", spec: zlib, path: "/opt/z", explicit: true, installationTime: 1.5 },
    { hash: "cccc3333", spec: gcc, path: "/usr", installationTime: 2, origin: "builtin" },
  ], { kind: "install" });
  assert.equal(
    t,
    '{"database":{"version":"8","installs":{"aaaa1111":{"spec":' + JSON.stringify(zlib) +
      ',"ref_count":0,"path":"/opt/z","installed":true,"explicit":true,"installation_time":1.5,' +
      '"deprecated_for":null},"cccc3333":{"spec":' + JSON.stringify(gcc) +
      ',"ref_count":0,"path":"/usr","installed":true,"explicit":false,"installation_time":2.0,' +
      '"deprecated_for":null,"origin":"builtin"}}}}',
  );
});

// Spec queries, DAGs with missing dependencies, lazy validation.

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

Deno.test("parseIndexDb summarises every record without building spec objects", () => {
  const idx = parseIndexDb(JSON.stringify(DB), "index.json");
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
  const idx = parseIndexDb(JSON.stringify(DB));
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
  const idx = parseIndexDb(JSON.stringify(bad), "idx.json");
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
    () => parseIndexDb(v("5")),
    (e) => e instanceof UnsupportedError && /"5" is older/.test(e.message),
  );
  assert.throws(
    () => parseIndexDb(v("9")),
    (e) => e instanceof UnsupportedError && /"9" is newer/.test(e.message),
  );
  for (const ok of ["6", "7", "8"]) assert.equal(parseIndexDb(v(ok)).size, 0);
  assert.throws(
    () => parseIndexDb("<html>", "index.json"),
    (e) => e instanceof InvalidDataError && /index\.json/.test(e.message),
  );
  assert.throws(() => parseIndexDb("{}"), InvalidDataError);
  assert.throws(
    () => parseIndexDb(JSON.stringify({ database: { version: "8", installs: { x: {} } } })),
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
  const idx = parseIndexDb(JSON.stringify(db));
  assert.equal(idx.node(H("b"))!.hash, H("b"));
  assert.equal(idx.get(H("b"))!.inBuildcache, false);
  assert.equal(idx.spec(H("b")).formatVersion, 4);
});

/** A large database document (several parse batches) with real-looking 32-character hashes. */
function bigDb(n: number, extra: (i: number) => Record<string, unknown> = () => ({})) {
  const b32 = "abcdefghijklmnopqrstuvwxyz234567";
  const h = (i: number) =>
    "x".repeat(26) + [...i.toString(32).padStart(6, "0")].map((c) => b32[parseInt(c, 32)]).join("");
  const installs: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) {
    const deps = i > 0
      ? [{ name: `p${i - 1}`, hash: h(i - 1), parameters: { deptypes: ["link"], virtuals: [] } }]
      : [];
    installs[h(i)] = {
      spec: {
        name: `p${i}`,
        version: `1.${i}`,
        arch: { platform: "linux", platform_os: "debian12", target: "x86_64" },
        parameters: { note: "x".repeat(300), cflags: [] },
        dependencies: deps,
        hash: h(i),
        ...extra(i),
      },
      ref_count: 0,
      in_buildcache: i % 7 !== 0,
    };
  }
  return { database: { version: "8", installs }, hashOf: h };
}

Deno.test("bytes are read in batches with the same records, nodes and raw records as a parsed document", () => {
  const { hashOf, ...doc } = bigDb(3000);
  const fromDoc = parseIndexDb(structuredClone(doc), "doc");
  for (
    const [what, json] of [["compact", JSON.stringify(doc)], [
      "indented",
      JSON.stringify(doc, null, 2),
    ]]
  ) {
    const bytes = new TextEncoder().encode(json);
    assert.ok(bytes.length > 4 * (256 << 10), `${what}: several batches`);
    const db = parseIndexDb(bytes, what);
    assert.deepEqual(db.records, fromDoc.records, what);
    for (const i of [0, 1, 1499, 2999]) {
      assert.deepEqual(db.raw(hashOf(i)), fromDoc.raw(hashOf(i)), what);
      assert.deepEqual(db.node(hashOf(i)), fromDoc.node(hashOf(i)), what);
    }
    assert.equal(db.spec(hashOf(2999)).nodes.size, 3000);
    assert.equal(db.raw("nope"), undefined);
  }
});

Deno.test("text that looks like a record boundary inside a record does not cut it", async () => {
  // Strings holding `,"<hash>":{` (escaped in the JSON, or after an escaped backslash) and,
  // in every record, a nested object keyed by a 32-character hash: a wrong cut the batch
  // parse refuses, and the rest is read record by record.
  const { hashOf, ...doc } = bigDb(2000, (i) => ({
    note: `x","${"b".repeat(32)}":{"spec":{}}, "${i}` + `,\\"${"c".repeat(32)}\\":{`.repeat(20),
    extra: { z: 1, ["d".repeat(32)]: { a: i } },
  }));
  const db = parseIndexDb(new TextEncoder().encode(JSON.stringify(doc)), "tricky");
  assert.equal(db.size, 2000);
  assert.deepEqual(db.records, parseIndexDb(structuredClone(doc)).records);
  assert.equal(db.node(hashOf(1234))!.name, "p1234");
  const bytes = new TextEncoder().encode(JSON.stringify(doc));
  for (const sizes of [[65536], [1000, 3]]) {
    const streamed = await readIndexDb(chunked(bytes, sizes), "tricky");
    assert.deepEqual(streamed.records, db.records);
    assert.equal(streamed.node(hashOf(1234))!.name, "p1234");
  }
});

Deno.test("a repeated key keeps the last value in the first place; bad JSON deep in a large index names its bytes", () => {
  const { hashOf, ...doc } = bigDb(2000);
  const json = JSON.stringify(doc);
  const k = `"${hashOf(5)}":`;
  const dup = json.replace(
    /}}}$/,
    `,${k}${JSON.stringify({ spec: { name: "again", version: "9" } })}}}}`,
  );
  const db = parseIndexDb(new TextEncoder().encode(dup), "dup");
  assert.equal(db.size, 2000);
  assert.equal(db.records[5].name, "again");
  assert.equal(db.get(hashOf(5))!.version, "9");
  const broken = json.replace(`"p1500"`, `"p1500" 7`);
  assert.throws(
    () => parseIndexDb(new TextEncoder().encode(broken), "broken.json"),
    (e) =>
      e instanceof InvalidDataError && /broken\.json/.test(e.message) && /byte/.test(e.message),
  );
  assert.throws(
    () => parseIndexDb(new TextEncoder().encode(json.slice(0, -2)), "cut.json"),
    (e) => e instanceof InvalidDataError && /cut\.json/.test(e.message),
  );
});

/** `bytes` in chunks of the given sizes (cycled), each a fresh copy. */
async function* chunked(bytes: Uint8Array, sizes: number[]): AsyncIterable<Uint8Array> {
  for (let i = 0, k = 0; i < bytes.length; k++) {
    const n = sizes[k % sizes.length];
    yield bytes.slice(i, i + n);
    i += n;
  }
}

Deno.test("a streamed index gives the records, nodes and errors of the same bytes in one piece", async () => {
  const { hashOf, ...doc } = bigDb(3000);
  for (let i = 0; i < 3000; i += 7) {
    (doc.database.installs[hashOf(i)] as Record<string, unknown>).installation_time = 1.7e9 + i;
  }
  // Installs before version (as older Spack wrote), and a key after the records.
  const reordered = { database: { installs: doc.database.installs, version: "8", x: [1, 2] } };
  for (
    const [what, json] of [
      ["compact", JSON.stringify(doc)],
      ["indented", JSON.stringify(doc, null, 2)],
      ["reordered", JSON.stringify(reordered)],
      ["small", text],
      ["empty", '{"database":{"version":"8","installs":{}}}'],
    ]
  ) {
    const bytes = new TextEncoder().encode(json);
    const whole = parseIndexDb(bytes, what);
    for (const sizes of [[1 << 20], [65536, 7], [1, 2, 3, 50000], [bytes.length]]) {
      const rereads: number[] = [];
      for (
        const reread of [undefined, (s: number, e: number) => (rereads.push(s), bytes.slice(s, e))]
      ) {
        const db = await readIndexDb(chunked(bytes, sizes), what, { reread });
        assert.equal(db.dbVersion, "8", what);
        assert.deepEqual(db.records, whole.records, `${what} ${sizes}`);
        for (const r of [db.records[0], db.records.at(-1), db.records[1499]]) {
          if (!r) continue;
          assert.deepEqual(db.raw(r.hash), whole.raw(r.hash), what);
          assert.deepEqual(db.node(r.hash), whole.node(r.hash), what);
        }
      }
      if (whole.size) assert.ok(rereads.length > 0, `${what}: nodes read back by offset`);
    }
  }
  const big = parseIndexDb(new TextEncoder().encode(JSON.stringify(doc)));
  assert.equal(big.get(hashOf(7))!.installedAt, 1.7e9 + 7);
  assert.equal(big.get(hashOf(8))!.installedAt, undefined);
  // Bytes that changed since the read are refused when read back.
  const bytes = new TextEncoder().encode(JSON.stringify(doc));
  const changed = await readIndexDb(chunked(bytes, [65536]), "idx", {
    reread: (s, e) => bytes.slice(s + 1, e + 1),
  });
  assert.throws(() => changed.node(hashOf(2000)), /Cannot read idx again: it changed/);
});

Deno.test("a streamed index refuses what the one-piece parse refuses, naming the label", async () => {
  const { hashOf, ...doc } = bigDb(2000);
  const json = JSON.stringify(doc);
  const cases: [string, string, RegExp][] = [
    ["broken", json.replace(`"p1500"`, `"p1500" 7`), /Cannot parse broken: .*byte/],
    ["cut", json.slice(0, -2), /Cannot parse cut/],
    ["cut-in-records", json.slice(0, json.indexOf(hashOf(1000))), /Cannot parse cut-in-records/],
    ["no-installs", '{"database":{"version":"8"}}', /no-installs: no "database.installs"/],
    ["trailing", json + "x", /Cannot parse trailing: expected the end of the document/],
    ["old", json.replace('"version":"8"', '"version":"5"'), /"5" is older/],
    ["empty", "", /Cannot parse empty/],
  ];
  for (const [label, bad, re] of cases) {
    const bytes = new TextEncoder().encode(bad);
    assert.throws(() => parseIndexDb(bytes, label), re, `${label} in one piece`);
    for (const sizes of [[65536], [3, 1000]]) {
      await assert.rejects(readIndexDb(chunked(bytes, sizes), label), re, `${label} ${sizes}`);
    }
  }
});

Deno.test("parseIndexDb of a Node Buffer reads records again after the scan, and leaves the Buffer as it was", () => {
  const text = '{"database":{"version":"7","installs":{"' + "a".repeat(32) +
    '":{"spec":{"name":"x","version":"1","hash":"' + "a".repeat(32) + '"}}}}}';
  const input = Buffer.from(text);
  const db = parseIndexDb(input, "t");
  assert.equal((db.raw("a".repeat(32)) as { spec: { name: string } }).spec.name, "x");
  assert.equal(input.toString(), text);
});
