/**
 * The buildcache index for the layout readers: `src/index/db.ts` parses the database (versions
 * 6 to 8); this turns its light records into entry references.
 *
 * @module
 */
import { parseIndexDb } from "../index/db.ts";
import type { SpecNode } from "../spec/types.ts";
import type { EntryRef } from "./types.ts";

/** A parsed index: references in file order; nodes built only when asked for. */
export interface ParsedIndex {
  refs: EntryRef[];
  /** The node of a hash (built on first request), or undefined when the index lacks it. */
  node(hash: string): SpecNode | undefined;
  /** The database version string ("" when the entries came from a listing). */
  dbVersion: string;
}

/**
 * Parses index bytes (or text); `label` names it in errors. Only entry references are built up
 * front; the bytes are kept for the nodes asked for later.
 */
export function parseIndex(
  text: string | Uint8Array,
  layout: 2 | 3,
  label = "index",
): ParsedIndex {
  const db = parseIndexDb(text, label);
  const refs: EntryRef[] = db.records.map((r) => {
    const t = db.raw(r.hash)?.installation_time;
    return {
      name: r.name,
      version: r.version,
      hash: r.hash,
      arch: r.arch,
      compiler: r.compiler,
      inBuildcache: r.inBuildcache,
      layout,
      ...(typeof t === "number" && Number.isFinite(t) ? { installedAt: t } : {}),
    };
  });
  return { refs, dbVersion: db.dbVersion, node: db.node };
}
