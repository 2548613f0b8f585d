/**
 * Every Spack database in the fixtures (v2 `build_cache/index.json`, v3 index blobs, the
 * install tree's `.spack-db/index.json`) read with `parseIndexDb` and queried with Spack
 * query text.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { gunzipBytes, isGzip } from "../src/core/gzip.ts";
import { parseIndexDb, validateIndexDb } from "../src/index/mod.ts";
import { FIXTURES, HAVE_FIXTURES } from "./_fixtures.ts";

interface Found {
  label: string;
  text: string;
}

function walk(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else out.push(p);
  }
  return out;
}

function decode(b: Uint8Array, label: string): string {
  return new TextDecoder().decode(isGzip(b) ? gunzipBytes(b, label) : b);
}

/** Every database document under the fixtures. */
function fixtureIndexes(): Found[] {
  const out: Found[] = [];
  for (const p of walk(FIXTURES).sort()) {
    const label = relative(FIXTURES, p);
    if (label.endsWith("build_cache/index.json") || label === "expected/v3-install-db.json") {
      out.push({ label, text: readFileSync(p, "utf8") });
    } else if (label.includes("blobs/sha256/")) {
      const text = decode(readFileSync(p), label);
      if (text.startsWith('{"database"')) out.push({ label, text });
    }
  }
  return out;
}

/** The fixture package hashes (fixtures/README.md). */
const V3 = {
  foodata: "ddk74w2rurmyrizbswgi6fj4tk2losox",
  libzz: "irttwv2f4rzhheesshe6vsy3xw3ezk2h",
  libfoo: "qxhycnksfks5oi3io5ajg3tr2xzvfrso",
  fooapp: "iicodpd5dtmh5ijlchcoay25frkfkyuv",
  "foo-buildtool": "f57lmd4dmdanikdfw3efel7doqszvgro",
};
const V2 = {
  foodata: "4yj2rrbd6ea3pckoo5dpnndfcijjd2yc",
  libzz: "wpn7enmyybr42zre26cp2uw6drmtmqqv",
  libfoo: "tcq2csxmnjxahfpduueheif2uyawyn6r",
  fooapp: "4f3mj2wxorbeenbr5pmk7n7mkat6dlff",
  "foo-buildtool": "4bu6m7whcnhrmflqhv56nxa7bapfblqg",
};

Deno.test({
  name: "every fixture index parses, every record validates and resolves its dependencies",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const found = fixtureIndexes();
    const versions = new Set<string>();
    assert.ok(found.length >= 9, `only ${found.length} indexes found`);
    for (const { label, text } of found) {
      const idx = parseIndexDb(text, label);
      versions.add(idx.dbVersion);
      assert.ok(idx.size > 0, label);
      await validateIndexDb(idx);
      for (const r of idx.records) {
        const n = idx.node(r.hash)!;
        assert.equal(n.name, r.name, label);
        const dag = idx.spec(r.hash);
        assert.deepEqual(dag.missing, [], `${label}: ${r.name} has dependencies missing`);
      }
    }
    assert.deepEqual([...versions].sort(), ["7", "8"]);
  },
});

Deno.test({
  name: "fixture indexes answer name, version, hash-prefix and arch queries",
  ignore: !HAVE_FIXTURES,
  fn() {
    for (const { label, text } of fixtureIndexes()) {
      if (label.startsWith("spack-testdata/")) continue;
      const idx = parseIndexDb(text, label);
      const hashes = idx.has(V3.fooapp) ? V3 : V2;
      for (const [name, hash] of Object.entries(hashes)) {
        assert.deepEqual(idx.find(name).map((r) => r.hash), [hash], `${label}: ${name}`);
        assert.deepEqual(idx.find(`/${hash.slice(0, 6)}`).map((r) => r.name), [name], label);
        assert.deepEqual(idx.find(`${name}/${hash.slice(0, 4)}`).length, 1, label);
      }
      assert.deepEqual(idx.find("libzz@1.2").map((r) => r.version), ["1.2.3"], label);
      assert.deepEqual(idx.find("libzz@1.3:").length, 0, label);
      assert.equal(idx.find("arch=linux-debian12-x86_64").length, 5, label);
      assert.equal(idx.find("os=rhel8").length, 0, label);
      // Only the external is not in the build cache.
      const external = idx.records.filter((r) => r.external).map((r) => r.name);
      assert.deepEqual(external, ["foo-buildtool"], label);
      if (!label.startsWith("expected/")) {
        assert.deepEqual(idx.records.filter((r) => !r.inBuildcache).map((r) => r.name), external);
      }
      // The compiler: an attribute in v2 (0.23) specs; v3 specs have no compiler node.
      const libfoo = idx.get(hashes.libfoo)!;
      if (hashes === V2) assert.equal(libfoo.compiler, "gcc@12.2.0", label);
      else assert.equal(libfoo.compiler, undefined, label);
      if (hashes === V2) assert.equal(idx.find("%gcc@12").length, 5, label);
    }
  },
});
