/**
 * Every spec document in the fixtures parses, and the recomputed DAG hash of every node
 * equals the stored one, except where Spack's own would not either:
 *
 * - `spack-testdata/v2_layout/{signed,unsigned}/build_cache/*.spec.json[.sig]` (30 nodes):
 *   Spack renamed the namespace `builtin.mock` to `builtin_mock` in these files in 2025 without
 *   recomputing hashes (Spack never recomputes on read). The test proves it: with the old
 *   namespace put back, every one of them matches.
 *   Their index records (14, in `spack-testdata/v2_layout/{signed,unsigned}/build_cache/index.json`) likewise.
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
  name: "the DAG hash of every record of every fixture index matches its key",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const { readdirSync, readFileSync, statSync } = await import("node:fs");
    const { join, relative } = await import("node:path");
    const { FIXTURES } = await import("./_fixtures.ts");
    const { gunzipBytes, isGzip } = await import("../src/core/gzip.ts");
    const walk = (d: string, out: string[] = []): string[] => {
      for (const f of readdirSync(d)) {
        const p = join(d, f);
        if (statSync(p).isDirectory()) walk(p, out);
        else out.push(p);
      }
      return out;
    };
    let matched = 0, converted = 0, renamed = 0;
    for (const p of walk(FIXTURES)) {
      const label = relative(FIXTURES, p);
      const isIndex = label.endsWith("build_cache/index.json") || label.includes("blobs/sha256/") ||
        label === "expected/v3-install-db.json";
      if (!isIndex) continue;
      const b = readFileSync(p);
      const text = new TextDecoder().decode(isGzip(b) ? gunzipBytes(b) : b);
      if (!text.startsWith('{"database"')) continue;
      const db = JSON.parse(text).database;
      const format = Number(db.version) >= 8 ? 5 : Number(db.version) === 7 ? 4 : 3;
      for (const [key, rec] of Object.entries(db.installs)) {
        const spec: Record<string, unknown> = {
          ...(rec as { spec: Record<string, unknown> }).spec,
          hash: key,
        };
        const where = `${label}: ${spec.name}/${key}`;
        const c = checkDagHash(spec, format);
        if (label.startsWith("spack-testdata/v2_layout/")) {
          // The renamed namespace again (see the module doc).
          assert.equal(c.ok, false, where);
          assert.ok(checkDagHash({ ...spec, namespace: "builtin.mock" }, format).ok, where);
          renamed++;
        } else {
          assert.equal(c.computed, key, where);
          matched++;
          // Records Spack 1.x converted from format 4 (migrated mirrors) verify in their
          // original form (compiler attribute back, no annotations, no "direct" on edges).
          const ann = spec.annotations as { original_specfile_version?: number } | undefined;
          if (ann?.original_specfile_version === 4) converted++;
        }
      }
    }
    assert.ok(matched >= 40, `only ${matched} records matched`);
    assert.equal(converted, 10);
    assert.equal(renamed, 14);
  },
});
