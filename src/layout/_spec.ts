/**
 * Spec documents for the layout readers. `parseSpec` is the spec model's own parser
 * (`spec/parse.ts`, zod-checked, loaded on first use so that listing never loads it);
 * `parseSpecDoc` is a small unchecked mapping into the same model (node dicts through
 * `spec/node.ts`), for the hot paths that read many documents (update-index). The node helpers
 * (arch, compiler, naming compiler) live in `spec/node.ts`.
 *
 * @module
 */
import { InvalidDataError } from "../errors.ts";
import { checkNodeIdentity, nodeFromDict } from "../spec/node.ts";
import type { SpecDag, SpecNode } from "../spec/types.ts";

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return !!v && typeof v === "object" && !Array.isArray(v);
}

/**
 * A spec document checked and mapped by the spec model's parser (`parseSpecJson`), loaded on
 * first use. `label` names the document in errors.
 */
export async function parseSpec(doc: unknown, label = "spec"): Promise<SpecDag> {
  const { parseSpecJson } = await import("../spec/parse.ts");
  return parseSpecJson(doc, label);
}

/**
 * A spec document (`{"spec": {...}, ...}` of a v2 spec file or v3 spec blob, or a bare spec
 * dict) into the spec model without schema checks. `label` names the document in errors.
 */
export function parseSpecDoc(doc: unknown, label = "spec"): SpecDag {
  if (!isObj(doc)) throw new InvalidDataError(`Cannot read ${label}: not a JSON object`);
  const spec = doc.spec ?? doc;
  let nodes: SpecNode[];
  let formatVersion = 1;
  if (Array.isArray(spec)) {
    // Format 1: a list of single-key maps {"<name>": {...}}.
    nodes = spec.filter(isObj).map((m) => {
      const [name, body] = Object.entries(m)[0] ?? [];
      if (!name || !isObj(body)) throw new InvalidDataError(`Cannot read ${label}: bad node`);
      return nodeFromDict({ name, ...body });
    });
  } else if (isObj(spec) && Array.isArray(spec.nodes)) {
    const meta = isObj(spec._meta) ? spec._meta : {};
    formatVersion = typeof meta.version === "number" ? meta.version : 1;
    nodes = spec.nodes.filter(isObj).map((n) => nodeFromDict(n));
  } else {
    throw new InvalidDataError(`Cannot read ${label}: no "spec.nodes" list`);
  }
  if (nodes.length === 0) throw new InvalidDataError(`Cannot read ${label}: the spec has no nodes`);
  for (const n of nodes) {
    if (!n.name || !n.hash) {
      throw new InvalidDataError(`Cannot read ${label}: a node has no name or no hash`);
    }
    checkNodeIdentity(n, label);
  }
  const blv = doc.buildcache_layout_version;
  return {
    root: nodes[0].hash,
    nodes: new Map(nodes.map((n) => [n.hash, n])),
    formatVersion,
    buildcacheLayoutVersion: typeof blv === "number" ? blv : undefined,
    raw: doc,
  };
}
