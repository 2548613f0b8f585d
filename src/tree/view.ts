/**
 * Filesystem views, as Spack's `spack view symlink|hardlink|copy` builds them (its
 * `YamlFilesystemView` with the default projection): every file of each spec's prefix (its
 * top-level `.spack` metadata excluded) linked (or copied) to the same relative path under the
 * view root, directories created, and the spec's metadata linked to `VIEW/.spack/<name>/`,
 * which is how Spack recognises the specs of a view (`spack view status`, `spack view
 * remove`). Copies are relocated as Spack relocates copy views: symlinks pointing into a
 * prefix, text files (prefixes and the install root) and C strings in binaries are rewritten
 * to the view root.
 *
 * Unlike Spack, everything is checked before the view is touched: two packages of one name,
 * two files at one path, a file where a directory goes (and foreign files: a non-empty
 * directory that is not a view) are reported together and nothing is made. The view is
 * changed under a lock (`VIEW/.spack/spackle.lock`) and a failure half-way removes what the
 * run added.
 *
 * @module
 */
import {
  chmodSync,
  copyFileSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmdirSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { hostname } from "node:os";
import { join, relative, resolve } from "node:path";
import process from "node:process";
import { SpackleError, UsageError } from "../errors.ts";
import { pidAlive } from "../core/pid.ts";
import { parseSpecJson } from "../spec/parse.ts";
import { applyPatches, BinaryReplacer, TextReplacer } from "../install/relocate_text.ts";
import type { InstallTree, TreeRecord } from "./db_access.ts";

/** How files get into a view. */
export type LinkType = "symlink" | "hardlink" | "copy";

/** Spack's metadata directory in a prefix (and per package in a view). */
const META = ".spack";
const LOCK = "spackle.lock";

/** A spec a view holds (from `VIEW/.spack/<name>/spec.json`). */
export interface ViewSpec {
  name: string;
  version: string;
  hash: string;
  /** The prefix it was linked from (from its install manifest), when known. */
  prefix?: string;
}

/** What `addToView` did. */
export interface ViewAddResult {
  view: string;
  added: ViewSpec[];
  /** Specs already in the view (same hash). */
  present: ViewSpec[];
  /** Externals are never linked (as Spack skips them). */
  skipped: ViewSpec[];
  files: number;
}

function lexists(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** The specs a view holds, by name. */
export function viewSpecs(view: string): Map<string, ViewSpec> {
  const out = new Map<string, ViewSpec>();
  const meta = join(view, META);
  if (!isDir(meta)) return out;
  for (const name of readdirSync(meta).sort()) {
    const f = join(meta, name, "spec.json");
    if (!existsSync(f)) continue;
    try {
      const dag = parseSpecJson(readFileSync(f, "utf8"), `"${f}"`);
      const n = dag.nodes.get(dag.root)!;
      out.set(name, {
        name: n.name,
        version: n.version,
        hash: n.hash,
        prefix: manifestPrefix(view, name),
      });
    } catch { /* not a spec: not ours to judge */ }
  }
  return out;
}

/** The install manifest of a spec in the view: absolute prefix paths -> entries. */
function manifestOf(view: string, name: string): Record<string, { mode?: number }> | undefined {
  const f = join(view, META, name, "install_manifest.json");
  try {
    return JSON.parse(readFileSync(f, "utf8"));
  } catch {
    return undefined;
  }
}

function manifestPrefix(view: string, name: string): string | undefined {
  const m = manifestOf(view, name);
  if (!m) return undefined;
  let best: string | undefined;
  for (const k of Object.keys(m)) if (best === undefined || k.length < best.length) best = k;
  return best;
}

/**
 * Checks the view directory: absent, an empty directory, or a view. A file, or a directory
 * holding files but no view metadata, is refused.
 */
function checkViewDir(view: string): { exists: boolean } {
  if (!lexists(view)) return { exists: false };
  if (!isDir(view)) {
    throw new UsageError(`Cannot use "${view}" as a view: it is a file, not a directory`);
  }
  const names = readdirSync(view);
  if (names.length === 0) return { exists: true };
  if (!names.includes(META) || !isDir(join(view, META))) {
    throw new UsageError(
      `Cannot use "${view}" as a view: it holds files that are not a view's (${
        names.slice(0, 5).map((n) => `"${n}"`).join(", ")
      }${names.length > 5 ? ", ..." : ""}); give an empty or new directory`,
    );
  }
  const proj = join(view, META, "projections.yaml");
  if (
    existsSync(proj) &&
    /\S/.test(readFileSync(proj, "utf8").replace(/^projections:\s*\{\}\s*$/m, ""))
  ) {
    throw new UsageError(
      `Cannot use the view "${view}": it has projections (${proj}); only views with the default ` +
        "projection are supported",
    );
  }
  return { exists: true };
}

/** Holds `VIEW/.spack/spackle.lock` (a directory with its owner) while `fn` runs. */
async function withViewLock<T>(view: string, signal: AbortSignal | undefined, fn: () => T) {
  const lock = join(view, META, LOCK);
  mkdirSync(join(view, META), { recursive: true });
  const me = `${hostname()}:${process.pid}`;
  for (let i = 0;; i++) {
    signal?.throwIfAborted();
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, "owner"), me);
      break;
    } catch (e) {
      if ((e as { code?: string }).code !== "EEXIST") throw e;
      let owner = "";
      try {
        owner = readFileSync(join(lock, "owner"), "utf8");
      } catch { /* being made or removed */ }
      const [host, pid] = owner.split(":");
      if (owner && host === hostname() && !pidAlive(Number(pid))) {
        rmSync(lock, { recursive: true, force: true });
        continue;
      }
      if (i > 6000) {
        throw new SpackleError(
          "conflict",
          `Cannot lock the view "${view}": held by ${owner || "?"}`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** One item of a prefix to place in the view. */
interface Item {
  src: string;
  dst: string;
  dir: boolean;
  spec: TreeRecord;
}

/** The prefix walked as Spack's LinkTree does: `.spack` at the top left out, links not followed. */
function walkPrefix(spec: TreeRecord, view: string): Item[] {
  const out: Item[] = [];
  const prefix = spec.path!;
  const walk = (rel: string) => {
    for (const name of readdirSync(join(prefix, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      if (r === META) continue;
      const src = join(prefix, r);
      const st = lstatSync(src);
      // A symlink to a directory is a directory here (not descended), as Spack's os.path.isdir.
      const dir = st.isDirectory() || (st.isSymbolicLink() && isDir(src));
      out.push({ src, dst: join(view, r), dir, spec });
      if (st.isDirectory()) walk(r);
    }
  };
  walk("");
  return out;
}

/**
 * The specs to put in a view for `roots`: the roots and (unless `noDeps`) every installed
 * dependency, of every type, as Spack's `add_specs(with_dependencies=True)`.
 */
export function viewClosure(tree: InstallTree, roots: TreeRecord[], noDeps = false): TreeRecord[] {
  const out = new Map<string, TreeRecord>();
  const visit = (r: TreeRecord) => {
    if (out.has(r.hash)) return;
    out.set(r.hash, r);
    if (noDeps) return;
    for (const d of r.node.dependencies) {
      const dep = tree.get(d.hash);
      if (dep && dep.installed) visit(dep);
    }
  };
  for (const r of roots) visit(r);
  return [...out.values()];
}

/** The relocation a copy view makes for one spec's files (Spack's `view_copy`). */
function copyPairs(tree: InstallTree, spec: TreeRecord, view: string): [string, string][] {
  const pairs: [string, string][] = [];
  const seen = new Set<string>();
  const queue = [spec];
  while (queue.length) {
    const s = queue.shift()!;
    if (seen.has(s.hash)) continue;
    seen.add(s.hash);
    if (!s.external && s.path) pairs.push([s.path, view]);
    for (const d of s.node.dependencies) {
      const dep = tree.get(d.hash);
      if (dep) queue.push(dep);
    }
  }
  return pairs;
}

function copyInto(
  tree: InstallTree,
  item: Item,
  view: string,
  text: Map<string, TextReplacer>,
  bin: Map<string, BinaryReplacer>,
): void {
  const st = lstatSync(item.src);
  const spec = item.spec;
  if (!text.has(spec.hash)) {
    const pairs = copyPairs(tree, spec, view);
    bin.set(spec.hash, new BinaryReplacer(pairs));
    text.set(spec.hash, new TextReplacer([...pairs, [tree.root, view]]));
  }
  if (st.isSymbolicLink()) {
    let target = readlinkSync(item.src);
    if (target.startsWith("/")) {
      for (const [o, n] of copyPairs(tree, spec, view)) {
        if (target.startsWith(o)) {
          target = n + target.slice(o.length);
          break;
        }
      }
    }
    symlinkSync(target, item.dst);
    return;
  }
  copyFileSync(item.src, item.dst);
  chmodSync(item.dst, (st.mode & 0o7777) | 0o600); // writable while relocated
  const data = readFileSync(item.dst);
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const magic = bytes.subarray(0, 4);
  const elf = magic[0] === 0x7f && magic[1] === 0x45 && magic[2] === 0x4c && magic[3] === 0x46;
  const macho = [0xfeedface, 0xfeedfacf, 0xcefaedfe, 0xcffaedfe, 0xcafebabe].includes(
    ((magic[0] << 24) | (magic[1] << 16) | (magic[2] << 8) | magic[3]) >>> 0,
  );
  if (elf || macho) {
    const { patches, problems } = bin.get(spec.hash)!.plan(bytes);
    if (problems.length) {
      throw new UsageError(
        `Cannot copy "${item.src}" into the view: ${problems.length} prefix string(s) cannot ` +
          `be rewritten to the view root "${view}" (${problems[0].kind}: "${problems[0].old}"` +
          ` -> "${problems[0].new}"); use a shorter view path or a symlink view`,
      );
    }
    if (patches.length) {
      applyPatches(bytes, patches);
      writeFileSync(item.dst, bytes);
    }
  } else {
    const out = text.get(spec.hash)!.apply(bytes);
    if (out) writeFileSync(item.dst, out);
  }
  chmodSync(item.dst, st.mode & 0o7777);
  utimesSync(item.dst, st.atime, st.mtime);
}

/**
 * Adds `specs` (already expanded with `viewClosure`) to the view at `view`, linked as
 * `linkType`. Conflicts are reported all at once before anything is made, unless
 * `ignoreConflicts` (then the first file at a path wins, as Spack's `-i`).
 */
export async function addToView(
  tree: InstallTree,
  view: string,
  specs: TreeRecord[],
  opts: { linkType?: LinkType; ignoreConflicts?: boolean; signal?: AbortSignal } = {},
): Promise<ViewAddResult> {
  view = resolve(view);
  const linkType = opts.linkType ?? "symlink";
  const { exists } = checkViewDir(view);
  const result: ViewAddResult = { view, added: [], present: [], skipped: [], files: 0 };
  const info = (r: TreeRecord): ViewSpec => ({
    name: r.name,
    version: r.version,
    hash: r.hash,
    prefix: r.path ?? undefined,
  });
  if (!exists) mkdirSync(view, { recursive: true });
  try {
    await withViewLock(view, opts.signal, () => {
      const have = viewSpecs(view);
      const todo: TreeRecord[] = [];
      const problems: string[] = [];
      const byName = new Map<string, TreeRecord>();
      for (const s of specs) {
        if (s.external) {
          result.skipped.push(info(s));
          continue;
        }
        const h = have.get(s.name);
        if (h && h.hash === s.hash) {
          result.present.push(info(s));
          continue;
        }
        if (h) {
          problems.push(
            `package conflict: ${s.name}@${s.version}/${s.hash.slice(0, 7)} cannot be added, ` +
              `the view holds ${h.name}@${h.version}/${h.hash.slice(0, 7)}`,
          );
          continue;
        }
        const other = byName.get(s.name);
        if (other) {
          problems.push(
            `package conflict: ${s.name}@${s.version}/${s.hash.slice(0, 7)} and ` +
              `${other.name}@${other.version}/${other.hash.slice(0, 7)} both asked for`,
          );
          continue;
        }
        if (!s.path || !isDir(s.path)) {
          problems.push(`${s.name}/${s.hash.slice(0, 7)}: its prefix "${s.path}" is missing`);
          continue;
        }
        byName.set(s.name, s);
        todo.push(s);
      }
      // Files and directories of every spec, checked against the view and each other.
      const items: Item[] = [];
      const claimed = new Map<string, Item>();
      for (const s of todo) {
        for (const it of walkPrefix(s, view)) {
          const prev = claimed.get(it.dst);
          if (prev) {
            if (prev.dir && it.dir) continue;
            if (prev.dir !== it.dir) {
              problems.push(
                `${prev.dir ? "directory" : "file"} blocks ${
                  it.dir ? "directory" : "file"
                }: ${it.dst} (${prev.spec.name}, ${it.spec.name})`,
              );
            } else if (!opts.ignoreConflicts) {
              problems.push(
                `file conflict: ${
                  relative(view, it.dst)
                } is in ${prev.spec.name} and ${it.spec.name}`,
              );
            }
            continue;
          }
          if (lexists(it.dst)) {
            const there = isDir(it.dst) && !lstatSync(it.dst).isSymbolicLink();
            if (it.dir && there) continue;
            if (it.dir !== there) {
              problems.push(
                `${there ? "directory" : "file"} blocks ${
                  it.dir ? "directory" : "file"
                }: ${it.dst}`,
              );
            } else if (!opts.ignoreConflicts) {
              problems.push(
                `file conflict: ${
                  relative(view, it.dst)
                } of ${it.spec.name} is already in the view`,
              );
            }
            continue;
          }
          claimed.set(it.dst, it);
          items.push(it);
        }
      }
      if (problems.length) {
        throw new SpackleError(
          "conflict",
          `Cannot add to the view "${view}": ${problems.length} conflict(s):\n  ${
            problems.slice(0, 20).join("\n  ")
          }${problems.length > 20 ? `\n  ... and ${problems.length - 20} more` : ""}`,
        );
      }
      // Make it; on failure, remove what this run made (in reverse).
      const made: { path: string; dir: boolean }[] = [];
      const text = new Map<string, TextReplacer>();
      const bin = new Map<string, BinaryReplacer>();
      const place = (src: string, dst: string, it?: Item) => {
        if (linkType === "symlink") symlinkSync(src, dst);
        // link(2) does not follow a symlink: the link itself gets a second name, as in Spack.
        else if (linkType === "hardlink") linkSync(src, dst);
        else if (it) copyInto(tree, it, view, text, bin);
        else {
          const st = lstatSync(src);
          if (st.isSymbolicLink()) symlinkSync(readlinkSync(src), dst);
          else {
            copyFileSync(src, dst);
            chmodSync(dst, st.mode & 0o7777);
          }
        }
        made.push({ path: dst, dir: false });
      };
      try {
        for (const it of items) {
          opts.signal?.throwIfAborted();
          if (it.dir) {
            mkdirSync(it.dst);
            made.push({ path: it.dst, dir: true });
          } else {
            place(it.src, it.dst, it);
            result.files++;
          }
        }
        // The metadata, linked the same way: VIEW/.spack/<name>/...
        for (const s of todo) {
          const src = join(s.path!, META);
          const dst = join(view, META, s.name);
          mkdirSync(dst);
          made.push({ path: dst, dir: true });
          const walk = (rel: string) => {
            for (const name of readdirSync(join(src, rel)).sort()) {
              const r = rel ? `${rel}/${name}` : name;
              const st = lstatSync(join(src, r));
              if (st.isDirectory()) {
                mkdirSync(join(dst, r));
                made.push({ path: join(dst, r), dir: true });
                walk(r);
              } else place(join(src, r), join(dst, r));
            }
          };
          if (isDir(src)) walk("");
          result.added.push(info(s));
        }
      } catch (e) {
        for (const m of made.reverse()) {
          try {
            if (m.dir) rmdirSync(m.path);
            else unlinkSync(m.path);
          } catch { /* best effort */ }
        }
        throw e;
      }
    });
  } catch (e) {
    if (!exists) rmSync(view, { recursive: true, force: true });
    throw e;
  }
  return result;
}

/**
 * Removes specs from the view (by name, `name@version`, `/hash` or `name/hash`; all when
 * none are given) and the specs of the view that depend on them, as Spack's `view remove`:
 * each file is removed unless another spec of the view owns the same path (its install
 * manifest says so), then the directories left empty and the spec's metadata. A view left
 * empty is removed.
 */
export async function removeFromView(
  view: string,
  queries: string[] = [],
  opts: { signal?: AbortSignal } = {},
): Promise<ViewSpec[]> {
  view = resolve(view);
  if (!lexists(view)) throw new UsageError(`Cannot remove from "${view}": no such view`);
  checkViewDir(view);
  const removed: ViewSpec[] = [];
  await withViewLock(view, opts.signal, () => {
    const have = viewSpecs(view);
    let chosen: ViewSpec[];
    if (queries.length === 0) chosen = [...have.values()];
    else {
      chosen = [];
      for (const q of queries) {
        const m = /^([^@/\s]*)(?:@([^/\s]+))?(?:\s*\/([a-z2-7]+))?$/.exec(q.trim());
        const hits = m
          ? [...have.values()].filter((s) =>
            (!m[1] || s.name === m[1]) && (!m[2] || s.version === m[2]) &&
            (!m[3] || s.hash.startsWith(m[3])) && (m[1] || m[3])
          )
          : [];
        if (hits.length === 0) throw new UsageError(`No spec in the view "${view}" matches "${q}"`);
        for (const h of hits) if (!chosen.includes(h)) chosen.push(h);
      }
      // Dependents in the view go too (they would be unusable).
      for (let grew = true; grew;) {
        grew = false;
        for (const s of have.values()) {
          if (chosen.includes(s)) continue;
          const f = join(view, META, s.name, "spec.json");
          const dag = parseSpecJson(readFileSync(f, "utf8"), `"${f}"`);
          const deps = new Set(dag.nodes.get(dag.root)!.dependencies.map((d) => d.hash));
          if (chosen.some((c) => deps.has(c.hash))) {
            chosen.push(s);
            grew = true;
          }
        }
      }
    }
    const manifests = new Map<string, { prefix: string; rels: Set<string> }>();
    for (const s of have.values()) {
      const m = manifestOf(view, s.name);
      if (!m || !s.prefix) continue;
      const rels = new Set(
        Object.keys(m).filter((k) => k.startsWith(s.prefix + "/")).map((k) =>
          k.slice(s.prefix!.length + 1)
        ),
      );
      manifests.set(s.name, { prefix: s.prefix, rels });
    }
    const gone = new Set(chosen.map((c) => c.name));
    for (const s of chosen) {
      const own = manifests.get(s.name);
      if (!own) {
        throw new UsageError(
          `Cannot remove ${s.name}/${s.hash.slice(0, 7)} from the view: it has no install manifest`,
        );
      }
      const files = [...own.rels].filter((r) => r !== META && !r.startsWith(META + "/"));
      const dirs: string[] = [];
      for (const r of files) {
        const p = join(view, r);
        if (!lexists(p)) continue;
        if (isDir(p) && !lstatSync(p).isSymbolicLink()) {
          dirs.push(p);
          continue;
        }
        const others = [...manifests].filter(([n, m]) =>
          n !== s.name && !gone.has(n) && m.rels.has(r)
        );
        if (others.length === 0) unlinkSync(p);
      }
      // Directories deepest first, only when empty.
      for (const d of dirs.sort((a, b) => b.length - a.length)) {
        try {
          if (readdirSync(d).length === 0) rmdirSync(d);
        } catch { /* kept */ }
      }
      rmSync(join(view, META, s.name), { recursive: true, force: true });
      removed.push(s);
    }
  });
  // A view left with nothing is removed.
  const left = readdirSync(view).filter((n) => n !== META);
  const meta = isDir(join(view, META)) ? readdirSync(join(view, META)) : [];
  if (left.length === 0 && meta.length === 0) rmSync(view, { recursive: true, force: true });
  return removed;
}
