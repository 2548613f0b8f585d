/**
 * Spliced specs, as Spack's `relocate_package` installs them: a node whose `build_spec` is
 * another node is installed from the build spec's tarball, and relocation maps the prefix of
 * each node of the spliced DAG that the build spec's DAG does not contain to the prefix of its
 * analog there (the node it replaced: same name, or one providing at least the same virtuals;
 * same name first, then the highest version), besides the usual mapping by hash.
 *
 * @module
 */
import { compareVersions } from "../index/query.ts";
import type { SpecDag, SpecNode } from "../spec/types.ts";

/** The hash of a node's build spec when the node is spliced (the build spec is another node). */
export function buildSpecHash(node: SpecNode): string | undefined {
  const bs = node.raw.build_spec as { hash?: unknown } | undefined;
  return bs && typeof bs.hash === "string" && bs.hash !== node.hash ? bs.hash : undefined;
}

/** Nodes reached from `root` over the edges whose types pass `edge` (pre-order, root first). */
function traverse(dag: SpecDag, root: string, edge: (types: string[]) => boolean): SpecNode[] {
  const out: SpecNode[] = [];
  const seen = new Set<string>();
  const visit = (h: string) => {
    if (seen.has(h)) return;
    seen.add(h);
    const n = dag.nodes.get(h);
    if (!n) return;
    out.push(n);
    for (const d of n.dependencies) if (edge(d.depTypes)) visit(d.hash);
  };
  visit(root);
  return out;
}

const NOT_BUILD_ONLY = (t: string[]) => t.some((x) => x !== "build");

/** Spack's `_virtuals_provided(root)` for a node that is not the root: its in-edges' virtuals. */
function virtualsIn(dag: SpecDag, root: string, hash: string): Set<string> {
  const out = new Set<string>();
  for (const p of traverse(dag, root, () => true)) {
    for (const d of p.dependencies) if (d.hash === hash) d.virtuals.forEach((v) => out.add(v));
  }
  return out;
}

/**
 * For a spliced node `rootHash` (in `dag`, which also holds its build spec's nodes), the hash
 * under which each spec to relocate finds its old prefix in the buildinfo: its own hash when
 * the build spec's DAG holds it, else its analog's (a spec without analog keeps its own hash,
 * which the buildinfo does not know: Spack maps nothing for it either).
 */
export function spliceLookup(
  dag: SpecDag,
  rootHash: string,
  buildHash: string,
  specs: SpecNode[],
): Map<string, string> {
  const build = traverse(dag, buildHash, NOT_BUILD_ONLY);
  const inBuild = new Set(build.map((n) => n.hash));
  const out = new Map<string, string>();
  for (const s of specs) {
    if (inBuild.has(s.hash)) {
      out.set(s.hash, s.hash);
      continue;
    }
    // The root's own virtuals come from its package class, which a spec file does not carry:
    // it matches by name only (as it always does, being the build spec's root's splice).
    const mine = s.hash === rootHash ? new Set<string>() : virtualsIn(dag, rootHash, s.hash);
    const analogs = build.filter((d) => {
      if (d.name === s.name) return true;
      if (mine.size === 0 || d.hash === buildHash) return false;
      const theirs = virtualsIn(dag, buildHash, d.hash);
      return [...mine].every((v) => theirs.has(v));
    });
    let best: SpecNode | undefined;
    for (const a of analogs) {
      if (
        !best || (a.name === s.name && best.name !== s.name) ||
        ((a.name === s.name) === (best.name === s.name) &&
          compareVersions(a.version, best.version) > 0)
      ) best = a;
    }
    out.set(s.hash, best?.hash ?? s.hash);
  }
  return out;
}
