/**
 * The buildcache index (a Spack database JSON file, versions 6 to 8) into entry references,
 * keeping each record's node dict for dependency walks.
 *
 * @module
 */
import { InvalidDataError, UnsupportedError } from "../errors.ts";
import type { SpecNode } from "../spec/types.ts";
import type { EntryRef } from "./types.ts";
import { nodeFromDict } from "./_spec.ts";

/** A parsed index: references in file order; nodes built only when asked for. */
export interface ParsedIndex {
  refs: EntryRef[];
  /** The node of a hash (built on first request), or undefined when the index lacks it. */
  node(hash: string): SpecNode | undefined;
  /** The database version string ("" when the entries came from a listing). */
  dbVersion: string;
}

type Obj = Record<string, unknown>;

function archText(a: unknown): string | undefined {
  if (!a || typeof a !== "object") return undefined;
  const x = a as Obj;
  const t = x.target;
  const target = typeof t === "string" ? t : String((t as Obj | undefined)?.name ?? "");
  return `${x.platform}-${x.platform_os}-${target}`;
}

/** The naming compiler of a raw node (see `namingCompiler`) without building nodes. */
function compilerText(spec: Obj, installs: Record<string, { spec?: Obj }>): string | undefined {
  const c = spec.compiler as Obj | undefined;
  if (c && typeof c.name === "string") {
    return `${c.name}@${String(c.version ?? "").replace(/^=/, "")}`;
  }
  const ann = spec.annotations as Obj | undefined;
  if (ann && typeof ann.compiler === "string") return ann.compiler.replace("@=", "@");
  const deps = spec.dependencies;
  if (!Array.isArray(deps)) return undefined;
  for (const lang of ["c", "cxx", "fortran"]) {
    for (const d of deps as Obj[]) {
      const v = (d.parameters as Obj | undefined)?.virtuals;
      if (Array.isArray(v) && v.includes(lang)) {
        const dep = installs[String(d.hash)]?.spec;
        if (dep) return `${dep.name}@${dep.version}`;
      }
    }
  }
  return undefined;
}

/** Parses index text; `label` names it in errors. Only entry references are built up front. */
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
  const installs = db.installs as Record<string, { spec?: Obj; in_buildcache?: unknown }>;
  const refs: EntryRef[] = [];
  for (const hash in installs) {
    const spec = installs[hash]?.spec;
    if (!spec || typeof spec !== "object") {
      throw new InvalidDataError(`Cannot read ${label}: record "${hash}" has no spec`);
    }
    refs.push({
      name: String(spec.name),
      version: String(spec.version),
      hash,
      arch: archText(spec.arch),
      compiler: compilerText(spec, installs),
      inBuildcache: installs[hash].in_buildcache === true && !spec.external,
      layout,
    });
  }
  const built = new Map<string, SpecNode>();
  return {
    refs,
    dbVersion,
    node(hash: string) {
      let n = built.get(hash);
      if (!n) {
        const spec = installs[hash]?.spec;
        if (!spec) return undefined;
        n = nodeFromDict({ ...spec, hash });
        built.set(hash, n);
      }
      return n;
    },
  };
}
