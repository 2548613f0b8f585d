/**
 * The buildcache index (a Spack database JSON file, versions 6 to 8) into entry references,
 * keeping each record's node dict for dependency walks.
 *
 * @module
 */
import { InvalidDataError, UnsupportedError } from "../errors.ts";
import type { SpecNode } from "../spec/types.ts";
import type { EntryRef } from "./types.ts";
import { archString, namingCompiler, nodeFromDict } from "./_spec.ts";

/** A parsed index: references in file order and nodes by hash. */
export interface ParsedIndex {
  refs: EntryRef[];
  nodes: Map<string, SpecNode>;
  /** The database version string. */
  dbVersion: string;
}

/** Parses index text; `label` names it in errors. */
export function parseIndex(text: string, layout: 2 | 3, label = "index"): ParsedIndex {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new InvalidDataError(`Cannot parse ${label}: ${(e as Error).message}`, { cause: e });
  }
  const db = (doc as { database?: { version?: unknown; installs?: unknown } })?.database;
  if (!db || typeof db !== "object" || !db.installs || typeof db.installs !== "object") {
    throw new InvalidDataError(`Cannot read ${label}: no "database.installs" object`);
  }
  const dbVersion = String(db.version ?? "");
  const v = Number(dbVersion);
  if (!(v >= 6)) {
    throw new UnsupportedError(
      `Cannot read ${label}: database version "${dbVersion}" is older than 6 (Spack cannot read it either)`,
    );
  }
  if (v > 8) {
    throw new UnsupportedError(
      `Cannot read ${label}: database version "${dbVersion}" is newer than 8, the newest spackle knows`,
    );
  }
  const nodes = new Map<string, SpecNode>();
  const inCache = new Map<string, boolean>();
  for (const [hash, rec] of Object.entries(db.installs as Record<string, unknown>)) {
    const r = rec as { spec?: Record<string, unknown>; in_buildcache?: unknown };
    if (!r?.spec || typeof r.spec !== "object") {
      throw new InvalidDataError(`Cannot read ${label}: record "${hash}" has no spec`);
    }
    const node = nodeFromDict({ hash, ...r.spec });
    node.hash = hash;
    nodes.set(hash, node);
    inCache.set(hash, r.in_buildcache === true);
  }
  const refs: EntryRef[] = [];
  for (const node of nodes.values()) {
    const c = namingCompiler(node, (h) => nodes.get(h));
    refs.push({
      name: node.name,
      version: node.version,
      hash: node.hash,
      arch: archString(node.arch),
      compiler: c ? `${c.name}@${c.version}` : undefined,
      inBuildcache: inCache.get(node.hash)! && !node.external,
      layout,
    });
  }
  return { refs, nodes, dbVersion };
}
