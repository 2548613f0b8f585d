/**
 * Every spec document in the fixtures parses, and the recomputed DAG hash of every node
 * equals the stored one, except where Spack's own would not either:
 *
 * - `spack-testdata/v2_layout/{signed,unsigned}/build_cache/*.spec.json[.sig]` (30 nodes):
 *   Spack renamed the namespace `builtin.mock` to `builtin_mock` in these files in 2025 without
 *   recomputing hashes (Spack never recomputes on read). The test proves it: with the old
 *   namespace put back, every one of them matches.
 * - `spack-testdata/legacy_yaml/*.spec.yaml` (format 1): Spack <= 0.16 hashed a YAML flow-style
 *   dump, which is not reproduced; `checkDagHash` reports "no computed hash", never a match.
 */
import assert from "node:assert/strict";
import { checkDagHash, dagHash, parseSpecJson } from "../src/spec/mod.ts";
import { HAVE_FIXTURES } from "./_fixtures.ts";
import { fixtureSpecDocs } from "./_spec_docs.ts";

const RENAMED =
  /^spack-testdata\/v2_layout\/(signed|unsigned)\/build_cache\/[^/]+\.spec\.json(\.sig)?$/;

Deno.test({
  name: "every fixture spec document parses into a DAG whose edges resolve",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const docs = await fixtureSpecDocs();
    const kinds = new Set(docs.map((d) => d.kind));
    for (const k of ["v3-blob", "spec.json", "spec.json.sig", "tarball", "spec.yaml"]) {
      assert.ok(kinds.has(k as never), `no fixture document of kind ${k}`);
    }
    for (const d of docs) {
      const dag = parseSpecJson(d.doc, d.label);
      assert.ok(dag.nodes.has(dag.root), d.label);
      for (const n of dag.nodes.values()) {
        for (const e of n.dependencies) {
          assert.ok(dag.nodes.has(e.hash), `${d.label}: ${n.name} -> ${e.name} ${e.hash} missing`);
        }
      }
    }
  },
});

Deno.test({
  name: "the DAG hash matches the stored hash of every fixture node Spack would match",
  ignore: !HAVE_FIXTURES,
  async fn() {
    let matched = 0;
    let renamed = 0;
    let yaml = 0;
    const formats = new Set<number>();
    for (const d of await fixtureSpecDocs()) {
      const dag = parseSpecJson(d.doc, d.label);
      for (const n of dag.nodes.values()) {
        const c = checkDagHash(n, dag.formatVersion);
        const where = `${d.label}: ${n.name}/${n.hash}`;
        if (dag.formatVersion === 1) {
          assert.equal(c.computed, undefined, where);
          assert.equal(c.ok, false, where);
          yaml++;
        } else if (RENAMED.test(d.label)) {
          assert.equal(c.ok, false, `${where} was expected to differ (renamed namespace)`);
          assert.equal(n.namespace, "builtin_mock", where);
          const restored = { ...n.raw, namespace: "builtin.mock" };
          assert.equal(dagHash(restored, c.rule), n.hash, `${where} with builtin.mock restored`);
          renamed++;
        } else {
          assert.equal(c.computed, n.hash, where);
          assert.ok(c.ok);
          formats.add(dag.formatVersion);
          matched++;
        }
      }
    }
    // Formats 2 (pretty JSON without package_hash), 4 and 5 (compact JSON) are all covered.
    assert.deepEqual([...formats].sort(), [2, 4, 5]);
    assert.equal(renamed, 30);
    assert.equal(yaml, 1);
    assert.ok(matched >= 150, `only ${matched} nodes matched`);
  },
});

Deno.test({
  name:
    "the DAG hash of every index record's node matches its key (v2 index, v3 index blob, install DB)",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const { readFileSync } = await import("node:fs");
    const { fixture } = await import("./_fixtures.ts");
    const { gunzipBytes, isGzip } = await import("../src/core/gzip.ts");
    const files = [
      "v2-unsigned/build_cache/index.json",
      "v2-signed/build_cache/index.json",
      "expected/v3-install-db.json",
    ];
    let n = 0;
    for (const f of files) {
      const doc = JSON.parse(readFileSync(fixture(f), "utf8"));
      const v = Number(doc.database.version);
      for (const [key, rec] of Object.entries(doc.database.installs)) {
        const spec = (rec as { spec: Record<string, unknown> }).spec;
        const c = checkDagHash({ ...spec, hash: key }, v >= 7 ? 4 : 3);
        assert.equal(c.computed, key, `${f}: ${spec.name}`);
        n++;
      }
    }
    // The v3 index blob (DB version 8, compact JSON).
    const blob = readFileSync(
      fixture(
        "v3-unsigned/blobs/sha256/89/89351182ec5e6fe953d722e8c9075860b1426b9199bd6c6d48d2865d9ff977d9",
      ),
    );
    const text = new TextDecoder().decode(isGzip(blob) ? gunzipBytes(blob) : blob);
    for (const [key, rec] of Object.entries(JSON.parse(text).database.installs)) {
      const spec = (rec as { spec: Record<string, unknown> }).spec;
      assert.equal(dagHash(spec, "compact"), key, `v3 index: ${spec.name}`);
      n++;
    }
    assert.ok(n >= 20, `only ${n} records`);
  },
});
