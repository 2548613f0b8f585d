import assert from "node:assert/strict";
import type { DepType, SpecDag, SpecNode } from "./types.ts";
import { specsToRelocate } from "./traverse.ts";

function node(hash: string, deps: [string, DepType[]][] = [], external = false): SpecNode {
  return {
    name: hash,
    version: "1",
    hash,
    dependencies: deps.map(([h, depTypes]) => ({ name: h, hash: h, depTypes, virtuals: [] })),
    raw: {},
    ...(external ? { external: { path: "/usr" } } : {}),
  };
}

Deno.test("specsToRelocate: root, link closure breadth-first, direct run deps, no externals or build deps", () => {
  const nodes = [
    node("root", [["a", ["build", "link"]], ["b", ["link"]], ["r", ["run"]], ["t", ["build"]]]),
    node("a", [["c", ["link"]], ["rr", ["run"]]]),
    node("b", [["c", ["link"]], ["ext", ["link"]]]),
    node("c", [["d", ["link"]]]),
    node("d"),
    node("r", [["rd", ["link"]]]),
    node("rd"),
    node("rr"),
    node("t"),
    node("ext", [], true),
  ];
  const dag: SpecDag = {
    root: "root",
    nodes: new Map(nodes.map((n) => [n.hash, n])),
    formatVersion: 5,
    raw: {},
  };
  assert.deepEqual(specsToRelocate(dag, "root").map((n) => n.hash), [
    "root",
    "a",
    "b",
    "c",
    "d",
    "r",
  ]);
  assert.deepEqual(specsToRelocate(dag, "a").map((n) => n.hash), ["a", "c", "d", "rr"]);
});
