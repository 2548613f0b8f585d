/**
 * The DAG hash against the spec files in Spack's own source tree
 * (`lib/spack/spack/test/data/specfiles/hdf5.v0*.json.gz`, one hdf5 DAG as written by Spack
 * 0.13, 0.16, 0.17, 0.19 and 0.20, and `test/data/database/index.json.v7_v8.json.gz`), read in
 * place. Runs only when `SPACKLE_ORACLE_SPACK_V3` names a Spack 1.2 work tree.
 *
 * - 0.17 (format 2): pretty JSON, only link and run edges, each by the dependency's DAG hash.
 * - 0.19 (format 3): pretty JSON, every edge.
 * - 0.20 (format 4): still pretty JSON (compact came with 0.21).
 * - 0.13 and 0.16 (format 1): YAML-era hashes, not reproduced (no computed hash).
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { parseIndexDb, specFormatOfDbVersion } from "../src/index/mod.ts";
import { checkDagHash, parseSpecJson } from "../src/spec/mod.ts";

const SPACK = Deno.env.get("SPACKLE_ORACLE_SPACK_V3");
const DATA = SPACK ? join(SPACK, "lib/spack/spack/test/data") : "";
const HAVE = !!SPACK && existsSync(join(DATA, "specfiles", "hdf5.v017.json.gz"));

const read = (p: string) => gunzipSync(readFileSync(join(DATA, p))).toString("utf8");

Deno.test({
  name: "every node of Spack's hdf5 spec files from 0.17 to 0.20 has the DAG hash Spack stored",
  ignore: !HAVE,
  fn() {
    const expect: Record<string, { format: number; rule: string }> = {
      "hdf5.v017": { format: 2, rule: "pretty-v2" },
      "hdf5.v019": { format: 3, rule: "pretty" },
      "hdf5.v020": { format: 4, rule: "pretty" },
    };
    for (const [file, want] of Object.entries(expect)) {
      const dag = parseSpecJson(read(`specfiles/${file}.json.gz`), file);
      assert.equal(dag.formatVersion, want.format, file);
      assert.ok(dag.nodes.size >= 20, file);
      for (const n of dag.nodes.values()) {
        const c = checkDagHash(n, dag.formatVersion);
        assert.equal(c.computed, n.hash, `${file}: ${n.name}`);
        assert.equal(c.rule, want.rule, `${file}: ${n.name}`);
      }
    }
  },
});

Deno.test({
  name: "format-1 spec files parse, and their YAML-era hashes are reported as not computed",
  ignore: !HAVE,
  fn() {
    for (const file of ["hdf5.v013", "hdf5.v016"]) {
      const dag = parseSpecJson(read(`specfiles/${file}.json.gz`), file);
      assert.equal(dag.formatVersion, 1);
      assert.equal(dag.nodes.get(dag.root)!.name, "hdf5");
      for (const n of dag.nodes.values()) {
        for (const e of n.dependencies) assert.ok(dag.nodes.has(e.hash), `${file}: ${e.name}`);
        const c = checkDagHash(n, 1);
        assert.equal(c.ok, false);
        assert.equal(c.computed, undefined);
      }
    }
  },
});

Deno.test({
  name: "every record of Spack's test database has the DAG hash it is keyed by",
  ignore: !HAVE,
  fn() {
    const idx = parseIndexDb(read("database/index.json.v7_v8.json.gz"), "index.json.v7_v8");
    assert.ok(idx.size > 0);
    for (const r of idx.records) {
      const c = checkDagHash(idx.node(r.hash)!, specFormatOfDbVersion(Number(idx.dbVersion)));
      assert.equal(c.computed, r.hash, r.name);
    }
  },
});
