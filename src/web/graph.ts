/**
 * Dependency graphs of a spec DAG: Graphviz DOT, Mermaid, and SVG drawn here (a layered
 * layout, no Graphviz needed). Edges carry their dependency types (build, link, run, test) and
 * the virtuals they provide. Every name comes from a mirror and is untrusted: each format
 * escapes what it embeds.
 *
 * @module
 */
import type { DepType, SpecDag } from "../spec/types.ts";

/** A node of the drawn graph. */
export interface GraphNode {
  hash: string;
  name: string;
  version: string;
  external: boolean;
  root: boolean;
  /** Set when the node's spec is absent from the DAG (a dangling edge). */
  missing?: boolean;
}

/** An edge: `from` depends on `to`. */
export interface GraphEdge {
  from: string;
  to: string;
  depTypes: DepType[];
  virtuals: string[];
}

/** The DAG as nodes and edges (nodes in a stable order: the root first, then file order). */
export interface Graph {
  nodes: GraphNode[];
  edges: GraphEdge[];
}

/** Options choosing what a graph shows. */
export interface GraphOptions {
  /** Keep only edges with one of these types (default: all); nodes no longer reached go too. */
  depTypes?: DepType[];
}

/** The graph of a spec DAG, from its root. */
export function specGraph(spec: SpecDag, opts: GraphOptions = {}): Graph {
  const keep = opts.depTypes ? new Set(opts.depTypes) : undefined;
  const nodes: GraphNode[] = [];
  const edges: GraphEdge[] = [];
  const seen = new Set<string>();
  const queue = [spec.root];
  seen.add(spec.root);
  while (queue.length) {
    const hash = queue.shift()!;
    const n = spec.nodes.get(hash);
    nodes.push(
      n
        ? {
          hash,
          name: n.name,
          version: n.version,
          external: !!n.external,
          root: hash === spec.root,
        }
        : { hash, name: "?", version: "?", external: false, root: false, missing: true },
    );
    for (const d of n?.dependencies ?? []) {
      if (keep && !d.depTypes.some((t) => keep.has(t))) continue;
      edges.push({ from: hash, to: d.hash, depTypes: [...d.depTypes], virtuals: [...d.virtuals] });
      if (!seen.has(d.hash)) {
        seen.add(d.hash);
        queue.push(d.hash);
      }
    }
  }
  return { nodes, edges };
}

/** Colours and dash patterns of the edge types (shared by DOT and SVG; the legend shows them). */
export const EDGE_STYLE: Record<DepType, { color: string; dash?: string; dot: string }> = {
  link: { color: "#c0392b", dot: "solid" },
  run: { color: "#2e8b57", dash: "6 3", dot: "dashed" },
  build: { color: "#2f6fb5", dash: "2 3", dot: "dotted" },
  test: { color: "#8a8a8a", dash: "1 4", dot: "dotted" },
};

/** The style an edge is drawn with: its strongest type (link, run, build, test). */
export function edgeKind(e: GraphEdge): DepType {
  for (const t of ["link", "run", "build", "test"] as const) {
    if (e.depTypes.includes(t)) return t;
  }
  return "build";
}

/** The label of an edge: its types, then the virtuals it provides. */
export function edgeLabel(e: GraphEdge): string {
  return e.depTypes.join(",") + (e.virtuals.length ? ` (${e.virtuals.join(",")})` : "");
}

function nodeLabel(n: GraphNode): string {
  return n.missing ? `${n.hash.slice(0, 7)} (not in spec)` : `${n.name}@${n.version}`;
}

function dotString(s: string): string {
  return `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\r?\n/g, "\\n")}"`;
}

/** Graphviz DOT text of a graph. */
export function toDot(g: Graph, title = "spec"): string {
  const out = [
    `digraph ${dotString(title)} {`,
    "  rankdir=TB;",
    '  node [shape=box, style="rounded", fontname="monospace", fontsize=11];',
    "  edge [fontname=monospace, fontsize=9];",
  ];
  for (const n of g.nodes) {
    const attrs = [`label=${dotString(`${nodeLabel(n)}\n/${n.hash.slice(0, 7)}`)}`];
    if (n.root) attrs.push("penwidth=2");
    if (n.external) attrs.push('style="rounded,dashed"', "fontcolor=gray40");
    if (n.missing) attrs.push('color="red"');
    out.push(`  ${dotString(n.hash)} [${attrs.join(", ")}];`);
  }
  for (const e of g.edges) {
    const s = EDGE_STYLE[edgeKind(e)];
    out.push(
      `  ${dotString(e.from)} -> ${dotString(e.to)} [label=${dotString(edgeLabel(e))}, color=${
        dotString(s.color)
      }, fontcolor=${dotString(s.color)}, style=${s.dot}];`,
    );
  }
  out.push("}");
  return out.join("\n") + "\n";
}

/** Mermaid text: characters outside a safe set become `#code;` entities. */
function mermaidText(s: string): string {
  return s.replace(/[^A-Za-z0-9 @._/=,+:()-]/g, (c) => `#${c.codePointAt(0)};`);
}

/** Mermaid flowchart text of a graph. */
export function toMermaid(g: Graph): string {
  const id = new Map(g.nodes.map((n, i) => [n.hash, `n${i}`]));
  const out = ["flowchart TD"];
  for (const n of g.nodes) {
    const label = mermaidText(`${nodeLabel(n)} /${n.hash.slice(0, 7)}`);
    out.push(`  ${id.get(n.hash)}${n.external ? `(["${label}"])` : `["${label}"]`}`);
  }
  g.edges.forEach((e) => {
    const arrow = edgeKind(e) === "link" ? "-->" : "-.->";
    out.push(`  ${id.get(e.from)} ${arrow}|"${mermaidText(edgeLabel(e))}"| ${id.get(e.to)}`);
  });
  g.edges.forEach((e, i) => {
    out.push(`  linkStyle ${i} stroke:${EDGE_STYLE[edgeKind(e)].color}`);
  });
  g.nodes.forEach((n) => {
    if (n.root) out.push(`  style ${id.get(n.hash)} stroke-width:3px`);
  });
  return out.join("\n") + "\n";
}

/** Escapes text for HTML and XML (element content and quoted attributes). */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A node's box in a layout. */
export interface PlacedNode extends GraphNode {
  x: number;
  y: number;
  width: number;
  height: number;
  layer: number;
}

/** A laid-out graph: node boxes, and for each edge the points its line passes through. */
export interface GraphLayout {
  nodes: PlacedNode[];
  /** Per edge of the graph (same order): start, bend points (one per layer crossed), end. */
  routes: { x: number; y: number }[][];
  width: number;
  height: number;
}

/**
 * A layered layout (Sugiyama style): each node one layer below its deepest dependent, edges
 * that cross layers get a bend point in each (so they pass between boxes, not through them),
 * and rows are ordered by the mean position of their parents.
 */
export function layoutGraph(g: Graph): GraphLayout {
  const CHAR = 7.3, PAD = 14, H = 36, GAP_X = 22, GAP_Y = 58, MARGIN = 12, DUMMY = 8;
  const known = new Set(g.nodes.map((n) => n.hash));
  const edges = g.edges.filter((e) => known.has(e.from) && known.has(e.to) && e.from !== e.to);
  const parents = new Map<string, string[]>(g.nodes.map((n) => [n.hash, []]));
  const children = new Map<string, string[]>(g.nodes.map((n) => [n.hash, []]));
  for (const e of edges) {
    parents.get(e.to)!.push(e.from);
    children.get(e.from)!.push(e.to);
  }
  // Longest path from the roots, in topological order (Kahn); a cycle (never in Spack, but
  // untrusted input) leaves its nodes at layer 0 rather than looping.
  const layer = new Map<string, number>(g.nodes.map((n) => [n.hash, 0]));
  const indeg = new Map(g.nodes.map((n) => [n.hash, parents.get(n.hash)!.length]));
  const ready = g.nodes.filter((n) => indeg.get(n.hash) === 0).map((n) => n.hash);
  while (ready.length) {
    const h = ready.shift()!;
    for (const c of children.get(h)!) {
      layer.set(c, Math.max(layer.get(c)!, layer.get(h)! + 1));
      indeg.set(c, indeg.get(c)! - 1);
      if (indeg.get(c) === 0) ready.push(c);
    }
  }
  // Items of each row: real nodes, and one dummy per layer a long edge crosses.
  const width = new Map<string, number>();
  for (const n of g.nodes) {
    width.set(n.hash, Math.ceil(Math.max(nodeLabel(n).length, 8) * CHAR + 2 * PAD));
  }
  const ups = new Map<string, string[]>(g.nodes.map((n) => [n.hash, []]));
  const layers: string[][] = [];
  for (const n of g.nodes) (layers[layer.get(n.hash)!] ??= []).push(n.hash);
  const chains = edges.map((e, i) => {
    const chain = [e.from];
    const a = layer.get(e.from)!, b = layer.get(e.to)!;
    for (let l = a + 1; l < b; l++) {
      const id = `\0${i}:${l}`;
      width.set(id, DUMMY);
      ups.set(id, [chain[chain.length - 1]]);
      layers[l].push(id);
      chain.push(id);
    }
    if (b > a) ups.get(e.to)!.push(chain[chain.length - 1]);
    chain.push(e.to);
    return chain;
  });
  const pos = new Map<string, number>();
  for (let sweep = 0; sweep < 3; sweep++) {
    layers.forEach((row, li) => {
      if (li > 0) {
        const key = (h: string) => {
          const ps = ups.get(h)!.filter((p) => pos.has(p));
          return ps.length ? ps.reduce((a, p) => a + pos.get(p)!, 0) / ps.length : 0.5;
        };
        const keys = new Map(row.map((h) => [h, key(h)]));
        row.sort((a, b) => keys.get(a)! - keys.get(b)!);
      }
      row.forEach((h, i) => pos.set(h, (i + 0.5) / row.length));
    });
  }
  const rowWidth = (row: string[]) =>
    row.reduce((a, h) => a + width.get(h)!, 0) + GAP_X * (row.length - 1);
  const total = Math.max(...layers.map(rowWidth), 0);
  const box = new Map<string, { x: number; y: number; w: number }>();
  layers.forEach((row, li) => {
    let x = MARGIN + (total - rowWidth(row)) / 2;
    for (const h of row) {
      box.set(h, { x, y: MARGIN + li * (H + GAP_Y), w: width.get(h)! });
      x += width.get(h)! + GAP_X;
    }
  });
  const nodes: PlacedNode[] = g.nodes.map((n) => {
    const b = box.get(n.hash)!;
    return { ...n, x: b.x, y: b.y, width: b.w, height: H, layer: layer.get(n.hash)! };
  });
  const routes = g.edges.map((e) => {
    const i = edges.indexOf(e);
    if (i < 0) return [];
    const chain = chains[i];
    const a = box.get(chain[0])!, b = box.get(chain[chain.length - 1])!;
    if (layer.get(e.to)! <= layer.get(e.from)!) {
      return [{ x: a.x + a.w / 2, y: a.y }, { x: b.x + b.w / 2, y: b.y + H }];
    }
    return [
      { x: a.x + a.w / 2, y: a.y + H },
      ...chain.slice(1, -1).map((d) => {
        const p = box.get(d)!;
        return { x: p.x + p.w / 2, y: p.y + H / 2 };
      }),
      { x: b.x + b.w / 2, y: b.y },
    ];
  });
  return {
    nodes,
    routes,
    // Room on the right for edge labels.
    width: Math.ceil(total + 2 * MARGIN + 110),
    height: MARGIN * 2 + layers.length * H + Math.max(0, layers.length - 1) * GAP_Y,
  };
}

/** A smooth SVG path through points (vertical tangents at each point). */
function pathThrough(pts: { x: number; y: number }[]): string {
  const f = (n: number) => n.toFixed(1);
  let d = `M${f(pts[0].x)},${f(pts[0].y)}`;
  for (let i = 1; i < pts.length; i++) {
    const p = pts[i - 1], q = pts[i];
    const my = (p.y + q.y) / 2;
    d += ` C${f(p.x)},${f(my)} ${f(q.x)},${f(my)} ${f(q.x)},${f(q.y)}`;
  }
  return d;
}

/** Options of `toSvg`. */
export interface SvgOptions {
  /** A link for each node (for example its page); nodes are plain boxes without. */
  href?: (n: GraphNode) => string | undefined;
  /** Accessible title of the drawing. */
  title?: string;
  /** Omit the XML declaration and namespace prefix lines (for embedding in HTML). */
  inline?: boolean;
}

/**
 * An SVG drawing of a graph. Colours are presentation attributes (no `style` attributes, so a
 * strict Content-Security-Policy allows it inline) and CSS classes (`node`, `edge-link`, ...)
 * a page's stylesheet may restyle.
 */
export function toSvg(g: Graph, opts: SvgOptions = {}): string {
  const L = layoutGraph(g);
  const at = new Map(L.nodes.map((n) => [n.hash, n]));
  const out: string[] = [];
  if (!opts.inline) out.push('<?xml version="1.0" encoding="UTF-8"?>');
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" class="graph" viewBox="0 0 ${L.width} ${L.height}" ` +
      `width="${L.width}" height="${L.height}" role="img" font-family="monospace" font-size="12">`,
  );
  out.push(`<title>${escapeXml(opts.title ?? "dependency graph")}</title>`);
  out.push(
    "<defs>" +
      Object.entries(EDGE_STYLE).map(([t, s]) =>
        `<marker id="arrow-${t}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" ` +
        `markerHeight="7" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="${s.color}"/></marker>`
      ).join("") + "</defs>",
  );
  g.edges.forEach((e, i) => {
    const a = at.get(e.from), b = at.get(e.to);
    const pts = L.routes[i];
    if (!a || !b || pts.length < 2) return;
    const k = edgeKind(e);
    const s = EDGE_STYLE[k];
    // The label sits at the first bend of a long edge, else halfway down the line.
    const [p0, p1] = pts;
    const t = pts.length > 2 ? 1 : 0.5;
    const lx = p0.x + (p1.x - p0.x) * t, ly = p0.y + (p1.y - p0.y) * t;
    const label = edgeLabel(e);
    out.push(
      `<g class="edge edge-${k}"><title>${escapeXml(`${a.name} -> ${b.name}: ${label}`)}</title>` +
        `<path d="${pathThrough(pts)}" fill="none" stroke="${s.color}" stroke-width="1.4"${
          s.dash ? ` stroke-dasharray="${s.dash}"` : ""
        } marker-end="url(#arrow-${k})"/>` +
        `<text x="${(lx + 4).toFixed(1)}" y="${ly.toFixed(1)}" fill="${s.color}" font-size="10" ` +
        `paint-order="stroke" stroke="#ffffff" stroke-width="3" class="label">${
          escapeXml(label)
        }</text></g>`,
    );
  });
  for (const n of L.nodes) {
    const cls = [
      "node",
      n.root ? "root" : "",
      n.external ? "external" : "",
      n.missing ? "missing" : "",
    ]
      .filter(Boolean).join(" ");
    const box = `<rect x="${n.x.toFixed(1)}" y="${n.y}" width="${n.width}" height="${n.height}" ` +
      `rx="6" fill="#ffffff" stroke="${n.missing ? "#c0392b" : "#444444"}" stroke-width="${
        n.root ? 2.5 : 1
      }"${n.external ? ' stroke-dasharray="4 3"' : ""}/>` +
      `<text x="${(n.x + n.width / 2).toFixed(1)}" y="${
        n.y + 15
      }" text-anchor="middle" fill="#111111">${escapeXml(nodeLabel(n))}</text>` +
      `<text class="hash" x="${(n.x + n.width / 2).toFixed(1)}" y="${
        n.y + 29
      }" text-anchor="middle" fill="#666666" font-size="10">/${escapeXml(n.hash.slice(0, 7))}${
        n.external ? " external" : ""
      }</text>`;
    const title = `<title>${escapeXml(`${nodeLabel(n)}/${n.hash}`)}</title>`;
    const href = opts.href?.(n);
    out.push(
      href
        ? `<a class="${cls}" href="${escapeXml(href)}">${title}${box}</a>`
        : `<g class="${cls}">${title}${box}</g>`,
    );
  }
  out.push("</svg>");
  return out.join("\n") + "\n";
}
