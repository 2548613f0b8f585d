/**
 * The fast spec checks (`src/spec/check.ts`) say yes only to what the zod schemas accept: every
 * fixture spec document is accepted by both, and for documents and node dicts mutated at a
 * random place (a value replaced by any other, or removed) a yes from the fast check is a yes
 * from the schema. The seed is fixed (`SPACKLE_FUZZ_SEED` picks another).
 */
import fc from "fast-check";
import assert from "node:assert/strict";
import { isNodeDict, isSpecDoc } from "../src/spec/check.ts";
import { NodeJson, SpecDocJson } from "../src/spec/schema.ts";
import { HAVE_FIXTURES } from "./_fixtures.ts";
import { fixtureSpecDocs } from "./_spec_docs.ts";

const SEED = Number(Deno.env.get("SPACKLE_FUZZ_SEED") ?? "20261207");
const RUNS = Number(Deno.env.get("SPACKLE_FUZZ_RUNS") ?? "300") * 10;

type Obj = Record<string, unknown>;

/** What `parseSpecJson` checks: the document, or a bare spec value wrapped. */
const wrap = (doc: unknown): unknown =>
  doc && typeof doc === "object" && !Array.isArray(doc) && "spec" in doc ? doc : { spec: doc };

/** Every place in `v`: its container and key (arrays by index). */
function places(v: unknown, out: [Obj | unknown[], string | number][] = []) {
  if (Array.isArray(v)) {
    v.forEach((x, i) => {
      out.push([v, i]);
      places(x, out);
    });
  } else if (v && typeof v === "object") {
    for (const k of Object.keys(v)) {
      out.push([v as Obj, k]);
      places((v as Obj)[k], out);
    }
  }
  return out;
}

/** Values the schemas take or refuse somewhere, and the odd ones JSON never makes. */
const ODD: unknown[] = [
  null,
  0,
  -1.5,
  NaN,
  Infinity,
  "",
  "x",
  true,
  [],
  {},
  ["x"],
  [1],
  [null],
  [{}],
  { name: "x" },
  { name: 1 },
  { name: "x", hash: "y" },
  { version: 1 },
  [, "x"], // a hole
  new Date(0),
  Object.create(null),
  new (class Thing {})(),
];
const replacement = fc.oneof(
  fc.constantFrom(...ODD),
  fc.anything({
    withNullPrototype: true,
    withBoxedValues: true,
    withSparseArray: true,
    withDate: true,
    withMap: true,
  }),
);

/** A node with every field the schemas name, so that mutations reach each of them. */
const FULL_NODE = {
  name: "app",
  version: "1.0",
  arch: { platform: "linux", platform_os: "debian12", target: { name: "x86_64", vendor: "x" } },
  compiler: { name: "gcc", version: "12" },
  namespace: "builtin",
  parameters: { cflags: [] },
  external: { path: "/usr", module: ["m"], extra_attributes: { a: 1 } },
  package_hash: "p",
  hash: "h",
  full_hash: "f",
  build_hash: "b",
  dependencies: [{
    name: "lib",
    hash: "l",
    full_hash: "lf",
    build_hash: "lb",
    package_hash: "lp",
    type: ["link"],
    parameters: { deptypes: ["build", "link"], virtuals: ["c"], direct: true },
  }],
  annotations: { original_specfile_version: 5, compiler: "gcc@12" },
  build_spec: { name: "app", hash: "bh" },
};
/** Documents with every field: formats 2 to 5, and format 1 with dependencies by name. */
const FULL_DOCS = [
  {
    spec: { _meta: { version: 5 }, nodes: [FULL_NODE] },
    buildcache_layout_version: 2,
    binary_cache_checksum: { hash_algorithm: "sha256", hash: "c" },
    archive_size: 10,
    buildinfo: { relative_prefix: "x" },
  },
  {
    spec: [{
      app: {
        version: 1,
        hash: "h",
        dependencies: { lib: { hash: "l", full_hash: "f", build_hash: "b", type: "link" } },
      },
    }],
  },
];

/** `doc` copied and changed at its `at`-th place: the value replaced, or removed. */
function mutate(doc: unknown, at: number, remove: boolean, value: unknown): unknown {
  const copy = structuredClone(doc);
  const all = places(copy);
  if (all.length === 0) return value;
  const [where, key] = all[at % all.length];
  if (remove && !Array.isArray(where)) delete (where as Obj)[key as string];
  else (where as Obj)[key as string] = value;
  return copy;
}

/** Runs the property; returns how many mutants the fast check accepted and refused. */
function property(
  seeds: unknown[],
  fast: (v: unknown) => boolean,
  schema: { safeParse(v: unknown): { success: boolean } },
): { yes: number; no: number } {
  let yes = 0, no = 0;
  fc.assert(
    fc.property(
      fc.nat(seeds.length - 1),
      fc.nat(),
      fc.boolean(),
      replacement,
      (s, at, remove, value) => {
        const m = mutate(seeds[s], at, remove, value);
        if (!fast(m)) return void no++;
        yes++;
        const r = schema.safeParse(m);
        assert.ok(r.success, `the fast check accepted what the schema refuses: ${String(r)}`);
      },
    ),
    { seed: SEED, numRuns: RUNS },
  );
  return { yes, no };
}

Deno.test({
  name: "the fast check and the schema accept every fixture spec document and node dict",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const docs = await fixtureSpecDocs();
    assert.ok(docs.length > 20, `only ${docs.length} fixture documents`);
    for (const d of docs) {
      const w = wrap(d.doc);
      assert.ok(SpecDocJson.safeParse(w).success, d.label);
      assert.ok(isSpecDoc(w), `the fast check refuses ${d.label}`);
      const spec = (w as { spec: Obj | unknown[] }).spec;
      for (const n of Array.isArray(spec) ? [] : spec.nodes as unknown[]) {
        assert.ok(isNodeDict(n), `the fast check refuses a node of ${d.label}`);
      }
    }
  },
});

Deno.test({
  name: "a spec document the fast check accepts, mutated anywhere, is one the schema accepts",
  ignore: !HAVE_FIXTURES,
  async fn() {
    // Small documents, so that a mutation often lands on a node's fields.
    const docs = (await fixtureSpecDocs()).map((d) => wrap(d.doc))
      .filter((d) => JSON.stringify(d).length < 8000);
    assert.ok(docs.length >= 5, `only ${docs.length} small fixture documents`);
    docs.push(...FULL_DOCS, ...FULL_DOCS); // (weighted: every field is there)
    const { yes, no } = property(docs, isSpecDoc, SpecDocJson);
    // Both answers were tried many times: the property is not vacuous.
    assert.ok(yes > RUNS / 10 && no > RUNS / 10, `accepted ${yes}, refused ${no}`);
  },
});

Deno.test({
  name: "a node dict the fast check accepts, mutated anywhere, is one the schema accepts",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const nodes: unknown[] = [FULL_NODE, FULL_NODE, FULL_NODE];
    for (const d of await fixtureSpecDocs()) {
      const spec = (wrap(d.doc) as { spec: Obj | unknown[] }).spec;
      if (!Array.isArray(spec)) nodes.push(...(spec.nodes as unknown[]).slice(0, 2));
    }
    const { yes, no } = property(nodes, isNodeDict, NodeJson);
    assert.ok(yes > RUNS / 10 && no > RUNS / 10, `accepted ${yes}, refused ${no}`);
  },
});

Deno.test("the fast check refuses what JSON never makes and what the schema refuses", () => {
  const node = { name: "a", hash: "h", version: "1", dependencies: [] };
  const doc = (n: unknown) => ({ spec: { _meta: { version: 5 }, nodes: [n] } });
  assert.ok(isSpecDoc(doc(node)));
  for (const d of FULL_DOCS) assert.ok(isSpecDoc(d) && SpecDocJson.safeParse(d).success);
  assert.ok(isNodeDict(FULL_NODE) && NodeJson.safeParse(FULL_NODE).success);
  const bad: [string, unknown][] = [
    ["no nodes", { spec: { nodes: [] } }],
    ["a name that is a number", doc({ ...node, name: 1 })],
    ["a version that is not finite", doc({ ...node, version: Infinity })],
    ["a hole in a list", doc({ ...node, dependencies: [, { name: "b" }] })],
    ["a date for a dict", doc({ ...node, parameters: new Date(0) })],
    ["a class instance for a dict", doc({ ...node, arch: new (class A {})() })],
    ["an edge without a name", doc({ ...node, dependencies: [{ hash: "x" }] })],
    [
      "virtuals that are not strings",
      doc({ ...node, dependencies: [{ name: "b", parameters: { virtuals: [1] } }] }),
    ],
    ["a target dict without a name", doc({ ...node, arch: { target: { vendor: "x" } } })],
    ["a format-1 list that is empty", { spec: [] }],
    ["a checksum without its hash", {
      ...doc(node),
      binary_cache_checksum: { hash_algorithm: "sha256" },
    }],
  ];
  for (const [what, v] of bad) {
    assert.equal(isSpecDoc(v), false, what);
    // Each is refused by the schema as well, or it is only the fast check being strict.
    if (
      ![
        "a version that is not finite",
        "a hole in a list",
        "a date for a dict",
        "a class instance for a dict",
      ].includes(what)
    ) {
      assert.equal(SpecDocJson.safeParse(v).success, false, what);
    }
  }
});
