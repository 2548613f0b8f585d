import assert from "node:assert/strict";
import {
  checkDagHash,
  dagHash,
  dagHashText,
  guessRule,
  ruleForFormat,
  unconvertedNode,
} from "./dag_hash.ts";
import { parseSpecJson } from "./parse.ts";

// A format-5 node (compiler-wrapper from Spack's test data, FORMAT.md 4.6 with a short
// target): its text and the hash below were computed by CPython's json/hashlib/base64.
const NODE = {
  name: "w",
  version: "1.0",
  arch: { platform: "test", platform_os: "debian6", target: "m1" },
  namespace: "builtin.mock",
  parameters: { build_system: "generic", cflags: [] },
  package_hash: "ss7ybgvqf2fa2lvkf67eavllfxpxthiml2dobtkdq6wn7zkczteq====",
  annotations: { original_specfile_version: 5 },
  hash: "",
};

Deno.test("dagHashText leaves out the node's own hash and writes compact JSON in key order", () => {
  assert.equal(
    dagHashText(NODE),
    '{"name":"w","version":"1.0","arch":{"platform":"test","platform_os":"debian6","target":"m1"},' +
      '"namespace":"builtin.mock","parameters":{"build_system":"generic","cflags":[]},' +
      '"package_hash":"ss7ybgvqf2fa2lvkf67eavllfxpxthiml2dobtkdq6wn7zkczteq====",' +
      '"annotations":{"original_specfile_version":5}}',
  );
});

Deno.test("dagHash is 32 base32 characters and depends on every hashed key", () => {
  const h = dagHash(NODE, "compact")!;
  // CPython: b32encode(sha1(json.dumps(node, separators=(",", ":"))).digest()).lower()
  assert.equal(h, "a7pisjakdbwyfvjbusod6pp3yh6m4e5z");
  assert.notEqual(dagHash({ ...NODE, version: "1.1" }, "compact"), h);
  // The stored hash is not part of the input.
  assert.equal(dagHash({ ...NODE, hash: "x".repeat(32) }, "compact"), h);
});

Deno.test("checkDagHash reports a mismatch without throwing, and a match", () => {
  const h = dagHash(NODE, "compact")!;
  const bad = checkDagHash({ ...NODE, hash: "a".repeat(32) }, 5);
  assert.deepEqual(bad, { ok: false, computed: h, stored: "a".repeat(32), rule: "compact" });
  const dag = parseSpecJson({ spec: { _meta: { version: 5 }, nodes: [{ ...NODE, hash: h }] } });
  assert.equal(checkDagHash(dag.nodes.get(h)!, dag.formatVersion).ok, true);
});

Deno.test("format 2 hashes pretty JSON without full_hash, build_hash and package_hash", () => {
  const v2 = {
    name: "z",
    version: "1",
    package_hash: "p",
    hash: "",
    full_hash: "f",
    build_hash: "b",
  };
  assert.equal(dagHashText(v2, "pretty-v2"), '{\n  "name": "z",\n  "version": "1"\n}');
  assert.equal(
    dagHashText(v2, "pretty"),
    '{\n  "name": "z",\n  "version": "1",\n  "package_hash": "p",\n  "full_hash": "f",\n  "build_hash": "b"\n}',
  );
  assert.equal(guessRule(v2), "pretty-v2");
});

Deno.test("rules by format: 4-5 compact, 3 pretty, 2 pretty-v2, 1 not reproduced", () => {
  assert.deepEqual([5, 4, 3, 2, 1].map(ruleForFormat), [
    "compact",
    "compact",
    "pretty",
    "pretty-v2",
    "yaml",
  ]);
  assert.equal(dagHash({ name: "a", dependencies: { b: { hash: "x" } } }), undefined);
  assert.equal(checkDagHash({ name: "a", hash: "x" }, 1).computed, undefined);
});

Deno.test("a spliced node ends in the last 7 characters of its build spec's hash", () => {
  const spliced = { ...NODE, build_spec: { name: "w", hash: "abcdefghijklmnopqrstuvwxyz234567" } };
  const h = dagHash(spliced, "compact")!;
  // CPython over the same dict, then the last 7 characters replaced.
  assert.equal(h, "2rcr7kzu3odfye4dsqwwe5ckmz234567");
  assert.equal(h.length, 32);
});

Deno.test("a node converted from format 4 is hashed in its original form", () => {
  const v4 = {
    name: "z",
    version: "1",
    arch: { platform: "linux", platform_os: "debian12", target: "x86_64" },
    compiler: { name: "gcc", version: "12.2.0" },
    namespace: "builtin",
    dependencies: [{
      name: "y",
      hash: "y".repeat(32),
      parameters: { deptypes: ["link"], virtuals: [] },
    }],
  };
  const h = dagHash(v4, "compact")!;
  const { compiler: _, ...rest } = v4;
  const converted = {
    ...rest,
    dependencies: [{
      ...v4.dependencies[0],
      parameters: { ...v4.dependencies[0].parameters, direct: true },
    }],
    annotations: { original_specfile_version: 4, compiler: "gcc@=12.2.0" },
    hash: h,
  };
  assert.deepEqual(unconvertedNode(converted).raw, { ...v4, hash: h });
  assert.equal(checkDagHash(converted, 5).ok, true);
  // A format-5 node is left alone.
  assert.equal(unconvertedNode(NODE).raw, NODE);
});

Deno.test("format 2: only link and run edges are hashed, each by the dependency's DAG hash", () => {
  // Expected hashes from CPython over the 0.17 hash input (pretty JSON, build-only edge left
  // out, the link edge naming b by its DAG hash).
  const dag = parseSpecJson({
    spec: {
      _meta: { version: 2 },
      nodes: [
        {
          name: "a",
          version: "1",
          dependencies: [
            { name: "b", build_hash: "x".repeat(32), type: ["build", "link"] },
            { name: "c", build_hash: "y".repeat(32), type: ["build"] },
          ],
          hash: "dyvok46o4rusnup5wr64cr45cpcfhsgb",
          build_hash: "z".repeat(32),
        },
        {
          name: "b",
          version: "2",
          hash: "4trvk54z4ifovoqi66fl65v6h2u6iho4",
          build_hash: "x".repeat(32),
        },
        { name: "c", version: "3", hash: "c".repeat(32), build_hash: "y".repeat(32) },
      ],
    },
  });
  for (const h of ["dyvok46o4rusnup5wr64cr45cpcfhsgb", "4trvk54z4ifovoqi66fl65v6h2u6iho4"]) {
    assert.deepEqual(checkDagHash(dag.nodes.get(h)!, 2), {
      ok: true,
      computed: h,
      stored: h,
      rule: "pretty-v2",
    });
  }
});

Deno.test("format 4 written by Spack 0.20 (pretty JSON) is recognised", () => {
  const node = { name: "p", version: "1", compiler: { name: "gcc", version: "9" } };
  const h = dagHash(node, "pretty")!;
  assert.deepEqual(checkDagHash({ ...node, hash: h }, 4), {
    ok: true,
    computed: h,
    stored: h,
    rule: "pretty",
  });
  assert.notEqual(dagHash(node, "compact"), h);
});
