/**
 * Walks over a spec DAG that Spack's rules need in several places.
 *
 * @module
 */
import type { SpecDag, SpecNode } from "./types.ts";

/**
 * The specs whose prefixes a spec's files may mention (Spack's `specs_to_relocate`): the root,
 * its transitive link dependencies (breadth-first) and its direct run dependencies, externals
 * excluded, each once.
 */
export function specsToRelocate(dag: SpecDag, rootHash: string): SpecNode[] {
  const out: SpecNode[] = [];
  const seen = new Set<string>();
  const add = (n: SpecNode | undefined) => {
    if (!n || seen.has(n.hash)) return;
    seen.add(n.hash);
    if (!n.external) out.push(n);
  };
  const queue = [rootHash];
  const visited = new Set<string>([rootHash]);
  while (queue.length) {
    const h = queue.shift()!;
    const n = dag.nodes.get(h);
    if (!n) continue;
    add(n);
    for (const d of n.dependencies) {
      if (d.depTypes.includes("link") && !visited.has(d.hash)) {
        visited.add(d.hash);
        queue.push(d.hash);
      }
    }
  }
  const root = dag.nodes.get(rootHash);
  for (const d of root?.dependencies ?? []) {
    if (d.depTypes.includes("run")) add(dag.nodes.get(d.hash));
  }
  return out;
}
