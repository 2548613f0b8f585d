import assert from "node:assert/strict";
import type { SpecDag, SpecNode } from "../spec/types.ts";
import { layoutGraph, specGraph, toDot, toMermaid, toSvg } from "./graph.ts";

function node(name: string, hash: string, deps: SpecNode["dependencies"] = []): SpecNode {
  return { name, version: "1.0", hash, dependencies: deps, raw: {} };
}

function dag(): SpecDag {
  const evil = '<script>alert("x")</script>';
  const nodes = [
    node("app", "a".repeat(32), [
      { name: "lib", hash: "b".repeat(32), depTypes: ["build", "link"], virtuals: [] },
      { name: evil, hash: "c".repeat(32), depTypes: ["run"], virtuals: [] },
      { name: "zz", hash: "d".repeat(32), depTypes: ["link"], virtuals: ["zz-api"] },
    ]),
    node("lib", "b".repeat(32), [
      { name: "zz", hash: "d".repeat(32), depTypes: ["build", "link"], virtuals: ["zz-api"] },
    ]),
    node(evil, "c".repeat(32)),
    node("zz", "d".repeat(32)),
  ];
  return {
    root: "a".repeat(32),
    nodes: new Map(nodes.map((n) => [n.hash, n])),
    formatVersion: 5,
    raw: {},
  };
}

Deno.test("specGraph() keeps edge types and virtuals; --deptype drops other edges and unreached nodes", () => {
  const g = specGraph(dag());
  assert.equal(g.nodes.length, 4);
  assert.equal(g.edges.length, 4);
  assert.deepEqual(g.edges[3], {
    from: "b".repeat(32),
    to: "d".repeat(32),
    depTypes: ["build", "link"],
    virtuals: ["zz-api"],
  });
  const run = specGraph(dag(), { depTypes: ["run"] });
  assert.deepEqual(run.nodes.map((n) => n.hash[0]), ["a", "c"]);
});

Deno.test("toDot() and toMermaid() label edges and escape hostile names", () => {
  const dot = toDot(specGraph(dag()), "app");
  assert.match(dot, /"b{32}" -> "d{32}" \[label="build,link \(zz-api\)", color="#c0392b"/);
  assert.match(dot, /label="<script>alert\(\\"x\\"\)<\/script>@1\.0\\n\/ccccccc"/);
  const mm = toMermaid(specGraph(dag()));
  assert.match(mm, /n1 -->\|"build,link \(zz-api\)"\| n3/);
  assert.ok(!mm.includes("<script>"));
  assert.match(mm, /#60;script#62;alert\(#34;x#34;\)/);
});

Deno.test("toSvg() draws every node and edge, escapes names, and routes long edges between rows", () => {
  const g = specGraph(dag());
  const svg = toSvg(g, { href: (n) => `spec/${n.hash}.html` });
  assert.ok(!svg.includes("<script>"));
  assert.ok(svg.includes("&#60;script&#62;alert(&#34;x&#34;)"));
  assert.equal(svg.match(/<a class="node/g)?.length, 4);
  assert.equal(svg.match(/<g class="edge/g)?.length, 4);
  assert.ok(!/ style=/.test(svg), "no style attributes (a strict CSP refuses them)");
  const L = layoutGraph(g);
  // app -> zz skips lib's layer: its route bends once, beside lib's box rather than through it.
  const long = L.routes[2];
  assert.equal(long.length, 3);
  const lib = L.nodes.find((n) => n.name === "lib")!;
  assert.ok(long[1].x < lib.x || long[1].x > lib.x + lib.width);
  const layers = new Map(L.nodes.map((n) => [n.name, n.layer]));
  assert.deepEqual([layers.get("app"), layers.get("lib"), layers.get("zz")], [0, 1, 2]);
});
