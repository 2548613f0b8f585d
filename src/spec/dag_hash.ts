/**
 * The DAG hash (FORMAT.md section 4.4, Spack's `Spec.spec_hash` with `hash_types.dag_hash`):
 * the node dict without its own hash fields, serialised as the Spack version that wrote it did,
 * SHA-1, lowercase base32. Spack never recomputes hashes on read, so a mismatch is something
 * to report, never a reason to refuse a spec.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { base32Encode } from "../core/base32.ts";
import { pyJsonDumps, scalarText } from "../core/json.ts";
import type { SpecNode } from "./types.ts";

type Obj = Record<string, unknown>;

/**
 * Which serialisation a node's hash was computed with:
 * - `compact`: Spack >= 0.21 (spec formats 4 and 5, DB versions 7 and 8); key `hash` left out.
 *   (Spack 0.20 also wrote format 4, hashed with `pretty`; `checkDagHash` tries both.)
 * - `pretty`: Spack 0.18 - 0.20 (format 3, DB version 6); `indent=2`, key `hash` left out.
 * - `pretty-v2`: Spack 0.17 (format 2); pretty, and `hash`, `full_hash`, `build_hash`,
 *   `package_hash` left out; only link and run edges, by DAG hash (needs a `SpecNode`).
 * - `yaml`: Spack <= 0.16 (format 1): YAML flow style, not reproduced.
 */
export type DagHashRule = "compact" | "pretty" | "pretty-v2" | "yaml";

/** The rule for a spec-file format version (1 to 5). */
export function ruleForFormat(formatVersion: number): DagHashRule {
  if (formatVersion >= 4) return "compact";
  if (formatVersion === 3) return "pretty";
  if (formatVersion === 2) return "pretty-v2";
  return "yaml";
}

/** The rule for a node dict whose file format is unknown (guessed from its keys). */
export function guessRule(raw: Obj): DagHashRule {
  if ("full_hash" in raw || "build_hash" in raw) return "pretty-v2";
  const deps = raw.dependencies;
  if (Array.isArray(deps) && deps.length > 0) {
    const e = deps[0] as Obj;
    return e && typeof e === "object" && "type" in e && !("parameters" in e) ? "pretty" : "compact";
  }
  if (deps && typeof deps === "object" && !Array.isArray(deps)) return "yaml";
  return "compact";
}

const EXCLUDED: Record<Exclude<DagHashRule, "yaml">, string[]> = {
  compact: ["hash"],
  pretty: ["hash"],
  "pretty-v2": ["hash", "full_hash", "build_hash", "package_hash"],
};

/** The exact text Spack hashed for a node dict under `rule` (not for `yaml`). */
export function dagHashText(raw: Obj, rule: Exclude<DagHashRule, "yaml"> = "compact"): string {
  const drop = EXCLUDED[rule];
  const input: Obj = {};
  for (const k in raw) if (!drop.includes(k)) input[k] = raw[k];
  return rule === "compact" ? pyJsonDumps(input) : pyJsonDumps(input, { indent: 2 });
}

/**
 * A node converted by Spack >= 1.0 from an older spec format (`annotations` with
 * `original_specfile_version` < 5, as in migrated indexes) turned back into the dict its
 * creator hashed: `compiler` as an attribute after `arch`, no `annotations`, no `direct` on
 * edges. Only format-4 originals are known to round-trip this way. Other nodes are
 * returned as they are. `format` is the original format (undefined when not converted).
 */
export function unconvertedNode(raw: Obj): { raw: Obj; format?: number } {
  const ann = raw.annotations as Obj | undefined;
  const orig = ann && typeof ann === "object" ? ann.original_specfile_version : undefined;
  if (typeof orig !== "number" || orig >= 5) return { raw };
  const m = typeof ann!.compiler === "string" ? /^([^@]+)@=?(.*)$/.exec(ann!.compiler) : null;
  const out: Obj = {};
  for (const k in raw) {
    if (k === "annotations") continue;
    out[k] = k === "dependencies" && Array.isArray(raw[k])
      ? (raw[k] as Obj[]).map(undirect)
      : raw[k];
    if (k === "arch" && m) out.compiler = { name: m[1], version: m[2] };
  }
  return { raw: out, format: orig };
}

/** An edge without the `direct` flag format 5 added (format-4 edges never had it). */
function undirect(edge: Obj): Obj {
  const p = edge?.parameters as Obj | undefined;
  if (!p || typeof p !== "object" || !("direct" in p)) return edge;
  const { direct: _, ...rest } = p;
  return { ...edge, parameters: rest };
}

/**
 * The DAG hash of a node (a `SpecNode` or a raw node dict) under `rule` (default: guessed
 * from the dict). Spliced nodes (with `build_spec`) end in the build spec's last 7 characters.
 * Returns undefined for `yaml`-era nodes, whose hash text is not reproduced.
 */
export function dagHash(node: SpecNode | Obj, rule?: DagHashRule): string | undefined {
  let raw = isSpecNode(node) ? node.raw : node;
  const r = rule ?? guessRule(raw);
  if (r === "yaml") return undefined;
  if (r === "pretty-v2" && isSpecNode(node)) raw = v2HashInput(node);
  const digest = createHash("sha1").update(dagHashText(raw, r), "utf8").digest();
  let hash = base32Encode(new Uint8Array(digest)).slice(0, 32);
  const bs = raw.build_spec as Obj | undefined;
  if (bs && typeof bs.hash === "string" && bs.hash.length >= 7) {
    hash = hash.slice(0, -7) + bs.hash.slice(-7);
  }
  return hash;
}

/**
 * The dict Spack 0.17 hashed for a format-2 node: its DAG hash covered only link and run
 * dependencies, each referenced by the dependency's DAG hash (`{"name", "hash", "type"}`), while
 * the file links dependencies by `build_hash`. The resolved edges of the `SpecNode` (see
 * `parseSpecJson`) supply the DAG hashes.
 */
function v2HashInput(node: SpecNode): Obj {
  const edges = node.raw.dependencies;
  if (!Array.isArray(edges)) return node.raw;
  const deps: Obj[] = [];
  edges.forEach((e: Obj, i) => {
    const types = Array.isArray(e?.type)
      ? e.type as string[]
      : typeof e?.type === "string"
      ? [e.type]
      : [];
    if (!types.includes("link") && !types.includes("run")) return;
    deps.push({ name: e.name, hash: node.dependencies[i]?.hash ?? e.hash, type: e.type });
  });
  const out: Obj = {};
  for (const k in node.raw) {
    if (k !== "dependencies") out[k] = node.raw[k];
    else if (deps.length) out[k] = deps;
  }
  return out;
}

/** Outcome of `checkDagHash`. */
export interface DagHashCheck {
  /** True when the recomputed hash equals the stored one. */
  ok: boolean;
  /** The recomputed hash (undefined when the node's era cannot be reproduced). */
  computed?: string;
  /** The stored hash. */
  stored: string;
  rule: DagHashRule;
}

/**
 * Recomputes a node's DAG hash and compares it with the stored one. Never throws on a
 * mismatch: Spack trusts stored hashes, so callers report the result.
 * `formatVersion` (the spec file's `_meta.version`) picks the rule; without it it is guessed.
 * Nodes that Spack >= 1.0 converted from an older format are checked in their original form
 * (see `unconvertedNode`); format-4 nodes are also tried with the pretty rule (Spack 0.20);
 * format-2 nodes need a `SpecNode` from `parseSpecJson` (its edges resolved to DAG hashes).
 */
export function checkDagHash(node: SpecNode | Obj, formatVersion?: number): DagHashCheck {
  const given = isSpecNode(node) ? node.raw : node;
  const stored = isSpecNode(node) ? node.hash : scalarText(given.hash);
  // A converted node keeps the hash of its original format: hash that dict.
  const un = unconvertedNode(given);
  const raw = un.raw;
  const fmt = un.format ?? formatVersion;
  const rule = fmt === undefined ? guessRule(raw) : ruleForFormat(fmt);
  // Keep the SpecNode (its resolved edges) when the dict was not rewritten.
  const subject = raw === given ? node : raw;
  const computed = dagHash(subject, rule);
  if (computed !== stored && fmt === 4) {
    // Spack 0.20 wrote format 4 but still hashed pretty JSON (compact came with 0.21).
    const pretty = dagHash(subject, "pretty");
    if (pretty === stored) return { ok: true, computed: pretty, stored, rule: "pretty" };
  }
  return { ok: computed !== undefined && computed === stored, computed, stored, rule };
}

function isSpecNode(n: SpecNode | Obj): n is SpecNode {
  return typeof (n as SpecNode).raw === "object" && Array.isArray((n as SpecNode).dependencies) &&
    typeof (n as SpecNode).hash === "string" && (n as SpecNode).raw !== null &&
    !("raw" in ((n as SpecNode).raw as Obj));
}
