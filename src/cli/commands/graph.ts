/** `graph`: a spec's dependency DAG as DOT, Mermaid or SVG. */
import { Option } from "commander";
import type { Register } from "../context.ts";
import { UsageError } from "../../errors.ts";
import { addMirrorOptions, type MirrorCliOptions, openCliMirrors } from "../mirror_options.ts";
import type { DepType } from "../../../mod.ts";

const DEP_TYPES = ["build", "link", "run", "test"] as const;

function depTypes(v: string): DepType[] {
  const out = v.split(",").map((s) => s.trim()).filter(Boolean);
  for (const t of out) {
    if (!(DEP_TYPES as readonly string[]).includes(t)) {
      throw new UsageError(
        `--deptype takes a comma-separated list of ${DEP_TYPES.join(", ")}, not "${t}"`,
      );
    }
  }
  if (!out.length) throw new UsageError("--deptype needs at least one dependency type");
  return out as DepType[];
}

const register: Register = (program, act) => {
  const graph = program
    .command("graph")
    .description(
      "draw a spec's dependency DAG with edge types and virtuals: DOT, Mermaid, or SVG (no Graphviz needed)",
    )
    .argument("<spec>", "NAME, NAME@VERSION, /HASH or NAME/HASH")
    .addOption(new Option("--dot", "Graphviz DOT (the default)").conflicts(["mermaid", "svg"]))
    .addOption(new Option("--mermaid", "a Mermaid flowchart").conflicts(["svg"]))
    .addOption(new Option("--svg", "an SVG image, laid out by spackle"))
    .addOption(
      new Option("--deptype <types>", "keep only edges of these types (comma-separated)")
        .argParser(depTypes),
    )
    .addHelpText(
      "after",
      "\nEdges are labelled with their dependency types and the virtuals they provide; link " +
        "edges are solid red, run dashed green, build dotted blue, test dotted grey.\n\n" +
        "Examples:\n  spackle graph -m ./mirror fooapp | dot -Tpng > fooapp.png\n" +
        "  spackle graph -m ./mirror --svg fooapp > fooapp.svg\n" +
        "  spackle graph -m ./mirror --mermaid --deptype link,run /iicodpd",
    );
  addMirrorOptions(graph);
  graph.action(act(async (
    ctx,
    query: string,
    o: MirrorCliOptions & {
      dot?: boolean;
      mermaid?: boolean;
      svg?: boolean;
      deptype?: DepType[];
    },
  ) => {
    // Drawing reads metadata only; its signature status is not needed to draw it.
    const { mirrors } = await openCliMirrors(
      { ...o, allowUnsigned: true },
      ctx.globals,
      ctx.signal,
      ctx.out,
    );
    const ref = await mirrors.resolve(query, { signal: ctx.signal });
    const e = await mirrors.entry(ref.hash, { requireSignature: false, signal: ctx.signal });
    const { specGraph, toDot, toMermaid, toSvg } = await import("../../../mod.ts");
    const g = specGraph(e.spec, { depTypes: o.deptype });
    const title = `${ref.name}@${ref.version}/${ref.hash.slice(0, 7)}`;
    if (ctx.out.json) {
      ctx.out.data({ root: ref.hash, ...g });
      return;
    }
    const text = o.svg ? toSvg(g, { title }) : o.mermaid ? toMermaid(g) : toDot(g, title);
    ctx.out.out(text.trimEnd());
  }));
};
export default register;
