/**
 * Presentation shared by the commands and the REPL: an entry's signature status and a spec's
 * dependency tree as text.
 *
 * @module
 */
import type { Entry, SpecDag } from "../../mod.ts";

/** Lines of the dependency tree of a spec DAG, with dependency types and virtuals. */
export function treeLines(spec: SpecDag, inCache?: Map<string, boolean>): string[] {
  const lines: string[] = [];
  const shown = new Set<string>();
  const walk = (hash: string, prefix: string, label: string) => {
    const n = spec.nodes.get(hash);
    const head = n
      ? `${n.name}@${n.version}/${hash.slice(0, 7)}${
        n.external ? " [external]" : inCache?.get(hash) === false ? " [not in the mirrors]" : ""
      }`
      : `${hash.slice(0, 7)} [not in spec]`;
    const again = shown.has(hash) && !!n?.dependencies.length;
    lines.push(`${label}${head}${again ? " (see above)" : ""}`);
    if (!n || again) return;
    shown.add(hash);
    n.dependencies.forEach((d, i) => {
      const last = i === n.dependencies.length - 1;
      const types = `[${d.depTypes.join(",")}]`;
      const virt = d.virtuals.length ? ` virtuals=${d.virtuals.join(",")}` : "";
      const branch = prefix + (last ? "`-- " : "|-- ");
      walk(d.hash, prefix + (last ? "    " : "|   "), `${branch}${types}${virt} `);
    });
  };
  walk(spec.root, "", "");
  return lines;
}

/**
 * An entry's signature status as shown by inspection commands: `verified by KEY`, `signed by
 * KEY, not trusted`, `unsigned`, or `BAD SIGNATURE` (red).
 */
export function signatureText(e: Entry, red: (s: string) => string = (s) => s): string {
  if (e.signedBy) return `verified by ${e.signedBy}`;
  if (e.signatureStatus === "bad") {
    return red(`BAD SIGNATURE${e.signatureError ? `: ${e.signatureError}` : ""}`);
  }
  if (e.signed) {
    const by = e.signerKeyIds?.length ? e.signerKeyIds.join(", ") : "an unknown key";
    return `signed by ${by}, not trusted`;
  }
  return "unsigned";
}
