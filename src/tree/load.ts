/**
 * `load`: the environment modifications Spack's `spack load` makes for installed specs, from
 * Spack's default `modules:prefix_inspections` (`bin` -> PATH, `man` and `share/man` ->
 * MANPATH, `share/aclocal` -> ACLOCAL_PATH, `lib/pkgconfig`, `lib64/pkgconfig` and
 * `share/pkgconfig` -> PKG_CONFIG_PATH, the prefix itself -> CMAKE_PREFIX_PATH) over the link/run
 * closure, dependencies prepended first so that the specs asked for come first, system
 * prefixes (externals in /usr) left out, and the loaded hashes in SPACK_LOADED_HASHES.
 *
 * Unlike Spack's, the result is idempotent: a directory already in a variable moves to its new
 * place instead of appearing twice, so evaluating the output twice changes nothing more.
 * `unload` removes what `load` added. A view is loaded by inspecting its root.
 *
 * @module
 */
import { existsSync, statSync } from "node:fs";
import { join, normalize } from "node:path";
import { UsageError } from "../errors.ts";
import type { InstallTree, TreeRecord } from "./db_access.ts";

/** Spack's default `modules:prefix_inspections` (Linux), in Spack's order. */
export const PREFIX_INSPECTIONS: readonly (readonly [string, readonly string[]])[] = [
  ["bin", ["PATH"]],
  ["man", ["MANPATH"]],
  ["share/man", ["MANPATH"]],
  ["share/aclocal", ["ACLOCAL_PATH"]],
  ["lib/pkgconfig", ["PKG_CONFIG_PATH"]],
  ["lib64/pkgconfig", ["PKG_CONFIG_PATH"]],
  ["share/pkgconfig", ["PKG_CONFIG_PATH"]],
  ["", ["CMAKE_PREFIX_PATH"]],
];

/** The variable Spack records loaded specs in. */
export const LOADED_HASHES_VAR = "SPACK_LOADED_HASHES";

/** Spack's system directories: never added to search paths. */
const SYSTEM_DIRS = new Set(["/", "/usr", "/usr/local"]);

/** One modification: `path` prepended to (load) or removed from (unload) variable `name`. */
export interface PathMod {
  name: string;
  path: string;
}

/** The shells `load` writes for. */
export type Shell = "sh" | "csh" | "fish";

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** The inspections of one prefix: existing subdirectories only (unless `always`). */
export function inspectPrefix(prefix: string, always = false): PathMod[] {
  const out: PathMod[] = [];
  if (SYSTEM_DIRS.has(normalize(prefix).replace(/\/$/, "") || "/")) return out;
  for (const [sub, vars] of PREFIX_INSPECTIONS) {
    const dir = sub ? join(prefix, sub) : prefix;
    if (!always && !isDir(dir)) continue;
    for (const name of vars) out.push({ name, path: normalize(dir).replace(/(.)\/$/, "$1") });
  }
  return out;
}

/**
 * The installed specs `roots` need at run time (link and run dependencies) in Spack's
 * topological order (dependents before dependencies, as breadth-first as possible: Kahn's
 * algorithm over the edges met breadth-first), each once; a dependency the tree lacks is an
 * error naming it.
 */
export function runClosure(tree: InstallTree, roots: TreeRecord[]): TreeRecord[] {
  const inCount = new Map<string, number>();
  const children = new Map<string | null, TreeRecord[]>();
  const add = (parent: string | null, child: TreeRecord) => {
    inCount.set(child.hash, (inCount.get(child.hash) ?? 0) + 1);
    const l = children.get(parent) ?? [];
    l.push(child);
    children.set(parent, l);
  };
  // Every unique edge of the sub-DAG, met breadth-first.
  const seen = new Set<string>();
  const queue: TreeRecord[] = [];
  for (const r of roots) {
    add(null, r);
    if (!seen.has(r.hash)) {
      seen.add(r.hash);
      queue.push(r);
    }
  }
  while (queue.length) {
    const r = queue.shift()!;
    const edges = new Set<string>();
    for (const d of r.node.dependencies) {
      if (!d.depTypes.includes("link") && !d.depTypes.includes("run")) continue;
      if (edges.has(d.hash)) continue;
      edges.add(d.hash);
      const dep = tree.get(d.hash);
      if (!dep || !dep.installed) {
        throw new UsageError(
          `Cannot load ${r.name}@${r.version}/${r.hash.slice(0, 7)}: its dependency ${d.name}/${
            d.hash.slice(0, 7)
          } is not installed in ${tree.root}`,
        );
      }
      add(r.hash, dep);
      if (!seen.has(dep.hash)) {
        seen.add(dep.hash);
        queue.push(dep);
      }
    }
  }
  const out: TreeRecord[] = [];
  const ready: (string | null)[] = [null];
  while (ready.length) {
    for (const c of children.get(ready.shift()!) ?? []) {
      const n = inCount.get(c.hash)! - 1;
      inCount.set(c.hash, n);
      if (n === 0) {
        out.push(c);
        ready.push(c.hash);
      }
    }
  }
  return out;
}

/** The modifications loading `roots` makes (dependencies first), as Spack's `load`. */
export function loadModifications(tree: InstallTree, roots: TreeRecord[]): PathMod[] {
  const mods: PathMod[] = [];
  // Dependencies are prepended first, so that dependents come first in the variables.
  for (const r of runClosure(tree, roots).reverse()) {
    if (!r.path || (!r.external && !existsSync(r.path))) continue;
    mods.push(...inspectPrefix(r.path));
  }
  for (const r of roots) mods.push({ name: LOADED_HASHES_VAR, path: r.hash });
  return mods;
}

/** The modifications activating a view at `root` (Spack's unconditional ones for views). */
export function viewModifications(root: string): PathMod[] {
  return inspectPrefix(root, true);
}

/**
 * The new values of the variables `mods` touch, given the current environment `env`: on load
 * each path is put in front once (moved there when already present); on unload each is
 * removed. A variable left empty is `undefined` (unset).
 */
export function applyModifications(
  mods: PathMod[],
  env: Record<string, string | undefined>,
  opts: { unload?: boolean } = {},
): Map<string, string | undefined> {
  const byName = new Map<string, string[]>();
  for (const m of mods) {
    const l = byName.get(m.name) ?? [];
    l.push(m.path);
    byName.set(m.name, l);
  }
  const out = new Map<string, string | undefined>();
  for (const [name, paths] of [...byName].sort(([a], [b]) => a.localeCompare(b))) {
    const old = env[name] ? env[name]!.split(":") : [];
    const mine = new Set(paths);
    const rest = old.filter((p) => !mine.has(p) && !(p !== "" && mine.has(normalize(p))));
    let next: string[];
    if (opts.unload) next = rest;
    else {
      // Prepending one by one: the last prepended comes first.
      const front: string[] = [];
      for (const p of paths) {
        const i = front.indexOf(p);
        if (i >= 0) front.splice(i, 1);
        front.unshift(p);
      }
      next = [...front, ...rest];
    }
    let value: string | undefined = next.join(":");
    if (next.every((p) => p === "")) value = undefined;
    // MANPATH keeps a trailing ":" so that man still searches its default path (as Spack).
    if (name === "MANPATH" && value !== undefined && !value.endsWith(":")) value += ":";
    if (value !== (env[name] ?? undefined)) out.set(name, value);
  }
  return out;
}

/** Python's `shlex.quote`. */
function quote(s: string): string {
  if (s === "") return "''";
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(s)) return s;
  return `'${s.replaceAll("'", `'"'"'`)}'`;
}

/** Shell code setting (or unsetting) the variables, as Spack writes it for each shell. */
export function shellCode(changes: Map<string, string | undefined>, shell: Shell): string {
  let out = "";
  for (const [name, value] of changes) {
    if (value === undefined) {
      out += shell === "sh"
        ? `unset ${name};\n`
        : shell === "csh"
        ? `unsetenv ${name};\n`
        : `set -e ${name};\n`;
    } else {
      out += shell === "sh"
        ? `export ${name}=${quote(value)};\n`
        : shell === "csh"
        ? `setenv ${name} ${quote(value)};\n`
        : `set -gx ${name} ${quote(value)};\n`;
    }
  }
  return out;
}
