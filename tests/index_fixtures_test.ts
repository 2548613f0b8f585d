/**
 * The index module against every Spack database in the fixtures: build cache index blobs (v3),
 * `build_cache/index.json` (v2, Spack 0.23 and Spack's test data) and an install tree's
 * database written by Spack 1.2.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { fixture, HAVE_FIXTURES } from "./_fixtures.ts";
import {
  buildcacheRecords,
  buildIndexJson,
  type IndexWriteRecord,
  parseIndexDb,
  validateIndexDb,
} from "../src/index/mod.ts";
import { checkDagHash, parseSpecJson } from "../src/spec/mod.ts";

function walk(dir: string, out: string[] = []): string[] {
  if (!existsSync(dir)) return out;
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) walk(p, out);
    else out.push(p);
  }
  return out;
}

/** Every database file in the fixtures: [path, kind]. */
function databases(): [string, "buildcache" | "install"][] {
  const out: [string, "buildcache" | "install"][] = [];
  for (const f of walk(fixture())) {
    if (f.includes("/expected/")) continue;
    const head = readFileSync(f).subarray(0, 12).toString("latin1");
    if (head === '{"database":') out.push([f, "buildcache"]);
  }
  out.push([fixture("expected", "v3-install-db.json"), "install"]);
  return out;
}

Deno.test({
  name: "every fixture database parses and validates; each record's node builds and agrees with it",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const dbs = databases();
    // v3-signed, v3-unsigned, both migrated mirrors, v2 signed and unsigned, test data, install db.
    assert(dbs.length >= 6, `only ${dbs.length} databases found`);
    for (const [f] of dbs) {
      const db = parseIndexDb(readFileSync(f, "utf8"), f);
      assert(db.records.length > 0, f);
      await validateIndexDb(db);
      for (const r of db.records) {
        const n = db.node(r.hash)!;
        assert.deepEqual(n.hash, r.hash);
        assert.deepEqual(n.name, r.name);
        assert.deepEqual(n.version, r.version);
        assert.deepEqual(db.get(r.hash), r);
        const dag = db.dag(r.hash)!;
        assert.deepEqual(dag.root, r.hash);
        for (const d of n.dependencies) {
          assert(dag.nodes.has(d.hash), `${f}: ${r.hash} -> ${d.hash}`);
        }
      }
    }
  },
});

Deno.test({
  name: "records of the Spack 1.2 indexes have the DAG hash Spack stored",
  ignore: !HAVE_FIXTURES,
  fn() {
    let checked = 0;
    for (const [f] of databases()) {
      const db = parseIndexDb(readFileSync(f, "utf8"), f);
      if (db.dbVersion !== "8" || f.includes("spack-testdata")) continue;
      for (const r of db.records) {
        const c = checkDagHash(db.node(r.hash)!, 5);
        assert(c.ok, `${f}: ${r.hash} computed ${c.computed}`);
        checked++;
      }
    }
    assert(checked > 0);
  },
});

Deno.test({
  name: "buildIndexJson rewrites every version 8 fixture database byte for byte",
  ignore: !HAVE_FIXTURES,
  fn() {
    let n = 0;
    for (const [f, kind] of databases()) {
      const text = readFileSync(f, "utf8");
      const db = parseIndexDb(text, f);
      if (db.dbVersion !== "8") continue;
      const records: IndexWriteRecord[] = db.records.map((r) => {
        const raw = db.raw(r.hash)!;
        return {
          hash: r.hash,
          spec: raw.spec as Record<string, unknown>,
          inBuildcache: raw.in_buildcache as boolean | undefined,
          path: raw.path as string | null,
          installed: raw.installed as boolean,
          explicit: raw.explicit as boolean,
          installationTime: raw.installation_time as number,
          deprecatedFor: raw.deprecated_for as string | null,
          origin: raw.origin as string | undefined,
        };
      });
      assert.deepEqual(buildIndexJson(records, { kind }), text.trimEnd(), f);
      n++;
    }
    assert(n >= 4, `only ${n} version 8 databases`);
  },
});

Deno.test({
  name:
    "the v3 index Spack wrote is what buildcacheRecords + buildIndexJson make from the spec blobs",
  ignore: !HAVE_FIXTURES,
  fn() {
    const root = fixture("v3-unsigned");
    const specs = [];
    let index = "";
    for (const f of walk(join(root, "blobs"))) {
      let bytes = readFileSync(f);
      if (bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = gunzipSync(bytes);
      const text = bytes.toString("utf8");
      if (text.startsWith('{"database":')) index = text;
      else if (text.startsWith('{"spec":')) specs.push(parseSpecJson(text, f));
    }
    assert(index && specs.length > 0);
    const db = parseIndexDb(index);
    // Spack's order: the order it read the manifests in; compare record sets and then bytes in
    // Spack's order.
    const ours = parseIndexDb(buildIndexJson(buildcacheRecords(specs), { kind: "buildcache" }));
    assert.deepEqual(
      ours.records.map((r) => r.hash).sort(),
      db.records.map((r) => r.hash).sort(),
    );
    const byHash = new Map(buildcacheRecords(specs).map((r) => [r.hash, r]));
    const inSpackOrder = db.records.map((r) => byHash.get(r.hash)!);
    assert.deepEqual(buildIndexJson(inSpackOrder, { kind: "buildcache" }), index.trimEnd());
  },
});

Deno.test({
  name: "push's update-index text equals buildIndexJson of the same specs (the fixture spec blobs)",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const { buildIndexText } = await import("../src/push/update_index.ts");
    for (const mirror of ["v3-unsigned", "v3-signed", "v2-migrated-unsigned"]) {
      const specs = [];
      for (const f of walk(join(fixture(mirror), "blobs"))) {
        let bytes = readFileSync(f);
        if (bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = gunzipSync(bytes);
        if (bytes.subarray(0, 8).toString("latin1") === '{"spec":') {
          specs.push(parseSpecJson(bytes.toString("utf8"), f));
        }
      }
      assert.ok(specs.length > 0, mirror);
      assert.equal(
        buildIndexJson(buildcacheRecords(specs), { kind: "buildcache" }),
        buildIndexText(specs),
        mirror,
      );
    }
  },
});

Deno.test({
  name: "a spec query by name and exact version finds the same records as the field query",
  ignore: !HAVE_FIXTURES,
  fn() {
    for (const [f] of databases()) {
      const db = parseIndexDb(readFileSync(f, "utf8"), f);
      assert.ok(db.records.length > 0, f);
      for (const r of db.records) {
        const found = db.find(`${r.name}@=${r.version}`);
        assert.ok(found.includes(r), `${f}: ${r.name}@=${r.version}`);
        assert.deepEqual(found, db.query({ name: r.name, version: r.version }), f);
      }
    }
  },
});
