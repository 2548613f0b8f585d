/**
 * Spec JSON (formats 1 to 5) into the spec model: the one place where the wire shapes of
 * `schema.ts` become `SpecNode`/`SpecDag`. Also the runtime closure install and push walk.
 *
 * @module
 */
import type { z } from "zod";
import { InvalidDataError, NotFoundError } from "../errors.ts";
import type { SpecDag, SpecNode } from "./types.ts";
import { checkNodeIdentity, nodeFromDict } from "./node.ts";
import { onFirstUse } from "../core/lazy_require.ts";
import { isNodeDict, isSpecDoc } from "./check.ts";

declare const require: ((id: string) => unknown) | undefined;

/**
 * The zod schemas (`schema.ts`), loaded on the first value the fast check (`check.ts`) cannot
 * accept: zod and the schemas cost more to evaluate than listing a mirror takes, and importing
 * the library must not pay for them. zod is asked only then, to name what is wrong: checking a
 * valid document through it builds a copy of the document.
 */
const schemas = onFirstUse(() =>
  (eagerSchemas ?? require!("./schema.ts")) as typeof import("./schema.ts")
);
/** Where modules have no `require` (Deno, browsers), the schemas are imported with the module. */
const eagerSchemas = typeof require === "function" ? undefined : await import("./schema.ts");

export { archOf, archString, compilerOf, namingCompiler, nodeFromDict } from "./node.ts";

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return !!v && typeof v === "object" && !Array.isArray(v);
}

/** A zod issue path as `spec.nodes[2].dependencies[0].name`. */
function pathText(base: string, path: readonly PropertyKey[]): string {
  let s = base;
  for (const p of path) {
    s += typeof p === "number" ? `[${p}]` : s ? `.${String(p)}` : String(p);
  }
  return s;
}

type Issue = { path: PropertyKey[]; message: string; code?: string; errors?: Issue[][] };

/** The most specific issue: inside a union, the branch issue that got deepest. */
function deepest(issue: Issue): Issue {
  if (issue.code !== "invalid_union" || !issue.errors?.length) return issue;
  let best: Issue | undefined;
  for (const branch of issue.errors) {
    for (const sub of branch) {
      const d = deepest(sub);
      if (!best || d.path.length > best.path.length) best = d;
    }
  }
  if (!best || best.path.length === 0) return issue;
  return { ...best, path: [...issue.path, ...best.path] };
}

function zodFailure(label: string, base: string, err: z.ZodError): InvalidDataError {
  const first = err.issues[0] as unknown as Issue | undefined;
  const issue = first ? deepest(first) : undefined;
  const where = pathText(base, issue?.path ?? []);
  return new InvalidDataError(
    `Cannot read ${label}: invalid value at "${where}": ${issue?.message ?? "unknown problem"}`,
    { cause: err },
  );
}

/**
 * Checks one node dict (an index record's `spec`, say) and maps it; `label` and `where` name it
 * in errors.
 */
export function parseNodeJson(raw: unknown, label = "spec node", where = "spec"): SpecNode {
  // The schema is asked only when the fast check cannot say yes (it names what is wrong).
  if (!isNodeDict(raw)) {
    const r = schemas().NodeJson.safeParse(raw);
    if (!r.success) throw zodFailure(label, where, r.error);
  }
  const node = nodeFromDict(raw as Obj);
  if (!node.hash) {
    throw new InvalidDataError(
      `Cannot read ${label}: node "${node.name}" at "${where}" has no hash`,
    );
  }
  checkNodeIdentity(node, `${label} at "${where}"`);
  return node;
}

/**
 * Parses a spec document: a v2 `.spec.json`, a v3 spec blob, a `.spack/spec.json`, or a bare
 * `spec` value (`{"_meta":..., "nodes": [...]}` or format 1's list). `input` is JSON text or an
 * already parsed value. Errors are `InvalidDataError`s naming `label` and the JSON path.
 */
export function parseSpecJson(input: string | unknown, label = "spec"): SpecDag {
  let doc: unknown = input;
  if (typeof input === "string") {
    try {
      doc = JSON.parse(input);
    } catch (e) {
      throw new InvalidDataError(`Cannot parse ${label}: ${(e as Error).message}`, { cause: e });
    }
  }
  if (!isObj(doc) && !Array.isArray(doc)) {
    throw new InvalidDataError(`Cannot read ${label}: not a JSON object`);
  }
  // A bare spec value is accepted too.
  const wrapped: Obj = isObj(doc) && "spec" in doc ? doc : { spec: doc };
  // The schema is asked only when the fast check cannot say yes (it names what is wrong).
  const checked = isSpecDoc(wrapped) ? undefined : schemas().SpecDocJson.safeParse(wrapped);
  if (checked && !checked.success) {
    const spec = wrapped.spec;
    // Name the precise failure of the form the document looks like.
    if (isObj(spec) && "nodes" in spec) {
      const r = schemas().SpecNodesJson.safeParse(spec);
      if (!r.success) throw zodFailure(label, "spec", r.error);
    } else if (Array.isArray(spec)) {
      const r = schemas().SpecListV1Json.safeParse(spec);
      if (!r.success) throw zodFailure(label, "spec", r.error);
    }
    throw zodFailure(label, "", checked.error);
  }
  const spec = wrapped.spec;
  let nodes: SpecNode[];
  let formatVersion = 1;
  if (Array.isArray(spec)) {
    nodes = spec.map((m, i) => {
      const entries = Object.entries(m as Obj);
      if (entries.length !== 1) {
        throw new InvalidDataError(
          `Cannot read ${label}: "spec[${i}]" has ${entries.length} keys, expected one package name`,
        );
      }
      const [name, body] = entries[0];
      return nodeFromDict({ name, ...(body as Obj) });
    });
  } else {
    const s = spec as Obj;
    const meta = isObj(s._meta) ? s._meta : {};
    formatVersion = typeof meta.version === "number" ? meta.version : 1;
    nodes = (s.nodes as Obj[]).map((n) => nodeFromDict(n));
  }
  const byHash = new Map<string, SpecNode>();
  const alias = new Map<string, string>();
  nodes.forEach((n, i) => {
    if (!n.hash) {
      throw new InvalidDataError(
        `Cannot read ${label}: node "${n.name}" (spec.nodes[${i}]) has no hash`,
      );
    }
    checkNodeIdentity(n, `${label} (spec.nodes[${i}])`);
    if (!byHash.has(n.hash)) byHash.set(n.hash, n);
    for (const k of ["full_hash", "build_hash"]) {
      const v = n.raw[k];
      if (typeof v === "string" && !alias.has(v)) alias.set(v, n.hash);
    }
  });
  // Old files may link dependencies by full_hash or build_hash: point edges at DAG hashes.
  if (alias.size > 0) {
    for (const n of nodes) {
      for (const d of n.dependencies) {
        if (!byHash.has(d.hash) && alias.has(d.hash)) d.hash = alias.get(d.hash)!;
      }
    }
  }
  const blv = wrapped.buildcache_layout_version;
  return {
    root: nodes[0].hash,
    nodes: byHash,
    formatVersion,
    buildcacheLayoutVersion: typeof blv === "number" ? blv : undefined,
    raw: wrapped,
  };
}

/** Options of `runtimeClosure`. */
export interface ClosureOptions {
  /** Include external nodes (default false: they are never installed or pushed). */
  includeExternals?: boolean;
  /** Resolve a hash the DAG lacks (an index, say); without it a missing node is an error. */
  lookup?: (hash: string) => SpecNode | undefined;
}

/**
 * The runtime closure of `rootHash`: the root and every node reachable over `link` and `run`
 * edges (never over build-only or test-only edges), dependencies before dependents, each once.
 * Externals are left out (and not walked through) unless `includeExternals` is set.
 * A dependency the DAG (and `lookup`) lacks is a `NotFoundError`.
 */
export function runtimeClosure(
  dag: SpecDag,
  rootHash: string = dag.root,
  opts: ClosureOptions = {},
): SpecNode[] {
  const get = (h: string) => dag.nodes.get(h) ?? opts.lookup?.(h);
  const out: SpecNode[] = [];
  const state = new Map<string, 1 | 2>();
  const visit = (h: string, parent?: SpecNode): void => {
    const s = state.get(h);
    if (s === 2) return;
    if (s === 1) {
      throw new InvalidDataError(`Cannot order spec "${h}": its dependencies form a cycle`);
    }
    const node = get(h);
    if (!node) {
      throw new NotFoundError(
        `Cannot find spec "${h}"${
          parent ? ` (a dependency of ${parent.name}/${parent.hash})` : ""
        } in the spec DAG`,
      );
    }
    state.set(h, 1);
    if (!node.external) {
      for (const d of node.dependencies) {
        if (d.depTypes.includes("link") || d.depTypes.includes("run")) visit(d.hash, node);
      }
    }
    state.set(h, 2);
    if (!node.external || opts.includeExternals) out.push(node);
  };
  visit(rootHash);
  return out;
}
