/**
 * The install tree as a managed thing: `find` (installed specs, explicit or not, with their
 * prefixes), `uninstall` (refusing specs installed dependents still need, unless their
 * dependents go too) and `gc` (installed specs no explicit one needs over link/run edges),
 * as Spack's `find`, `uninstall` and `gc` do on the same database.
 *
 * @module
 */
import { existsSync, readdirSync, rmdirSync, rmSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { NotFoundError, UsageError } from "../errors.ts";
import { matchesAnyQuery, parseSpecQuery } from "../index/query.ts";
import { archString } from "../spec/node.ts";
import {
  type InstallTree,
  openInstallTree,
  type TreeRecord,
  updateInstallDb,
} from "./db_access.ts";

/** An installed spec as `find` reports it. */
export interface FoundSpec {
  name: string;
  version: string;
  hash: string;
  arch?: string;
  prefix: string | null;
  explicit: boolean;
  external: boolean;
  /** Seconds since the epoch. */
  installationTime: number;
}

/** The `find` view of one record. */
export function found(r: TreeRecord): FoundSpec {
  return {
    name: r.name,
    version: r.version,
    hash: r.hash,
    arch: archString(r.node.arch),
    prefix: r.path,
    explicit: r.explicit,
    external: r.external,
    installationTime: r.installationTime,
  };
}

/**
 * The installed specs of `tree` matching `query` (Spack's query syntax, several specs; all
 * when empty), sorted by name, version, hash. `explicit`/`implicit` filter as `find -x/-X`.
 */
export function findInstalled(
  tree: InstallTree,
  query: string[] = [],
  opts: { explicit?: boolean; implicit?: boolean } = {},
): FoundSpec[] {
  const specs = parseSpecQuery(query);
  return tree.records
    .filter((r) => r.installed && matchesAnyQuery(r, specs))
    .filter((r) => (!opts.explicit || r.explicit) && (!opts.implicit || !r.explicit))
    .map(found)
    .sort((a, b) =>
      a.name.localeCompare(b.name) || a.version.localeCompare(b.version, undefined, {
        numeric: true,
      }) || a.hash.localeCompare(b.hash)
    );
}

/** Installed records whose link/run dependencies include `hash` (direct dependents). */
function dependentsOf(tree: InstallTree, hash: string): TreeRecord[] {
  return tree.records.filter((r) =>
    r.installed &&
    r.node.dependencies.some((d) =>
      d.hash === hash && (d.depTypes.includes("link") || d.depTypes.includes("run"))
    )
  );
}

/** The one installed record each query names (UsageError when ambiguous, NotFound when none). */
export function resolveInstalled(tree: InstallTree, queries: string[]): TreeRecord[] {
  const out: TreeRecord[] = [];
  for (const q of queries) {
    // A full hash (what lock files give) is looked up, not matched against every record.
    const exact = /^\/([a-z2-7]{32})$/.exec(q.trim());
    const rec = exact ? tree.get(exact[1]) : undefined;
    const hits = rec?.installed
      ? [rec]
      : tree.records.filter((r) => r.installed && matchesAnyQuery(r, parseSpecQuery(q)));
    if (hits.length === 0) {
      throw new NotFoundError(`No installed spec matches "${q}" in ${tree.root}`);
    }
    if (hits.length > 1) {
      throw new UsageError(
        `"${q}" matches ${hits.length} installed specs: ` +
          hits.map((h) => `${h.name}@${h.version}/${h.hash.slice(0, 7)}`).join(", ") +
          " (name one by /HASH)",
      );
    }
    if (!out.includes(hits[0])) out.push(hits[0]);
  }
  return out;
}

/** What an uninstall removes, dependents before their dependencies. */
export interface UninstallPlan {
  remove: FoundSpec[];
}

/**
 * Plans removing `targets`: installed dependents (over link/run, transitively) that are not
 * themselves removed refuse the plan, unless `dependents` adds them to it (as Spack's
 * `uninstall --dependents`).
 */
export function planUninstall(
  tree: InstallTree,
  targets: TreeRecord[],
  opts: { dependents?: boolean } = {},
): UninstallPlan {
  const chosen = new Map(targets.map((t) => [t.hash, t]));
  const blocking: string[] = [];
  const queue = [...targets];
  while (queue.length) {
    const t = queue.shift()!;
    for (const d of dependentsOf(tree, t.hash)) {
      if (chosen.has(d.hash)) continue;
      if (opts.dependents) {
        chosen.set(d.hash, d);
        queue.push(d);
      } else {
        blocking.push(
          `${t.name}@${t.version}/${t.hash.slice(0, 7)} is needed by ${d.name}@${d.version}/${
            d.hash.slice(0, 7)
          }`,
        );
      }
    }
  }
  if (blocking.length) {
    throw new UsageError(
      `Cannot uninstall: installed specs depend on it (${
        blocking.join("; ")
      }); uninstall them too with --dependents`,
    );
  }
  // Dependents first: reverse topological order over the chosen records.
  const order: TreeRecord[] = [];
  const seen = new Set<string>();
  const visit = (r: TreeRecord) => {
    if (seen.has(r.hash)) return;
    seen.add(r.hash);
    for (const d of dependentsOf(tree, r.hash)) if (chosen.has(d.hash)) visit(d);
    order.push(r);
  };
  for (const r of chosen.values()) visit(r);
  return { remove: order.map(found) };
}

/**
 * Removes the planned specs from the database (under the tree's lock) and deletes their
 * prefixes (never an external's), then the empty directories above them up to the root.
 * A record other records still reference is kept as not installed, as Spack keeps it.
 */
export async function uninstall(
  root: string,
  plan: UninstallPlan,
  signal?: AbortSignal,
): Promise<FoundSpec[]> {
  root = resolve(root);
  const gone = new Set(plan.remove.map((r) => r.hash));
  const prefixes: string[] = [];
  await updateInstallDb(root, signal, (installs) => {
    for (const h of gone) {
      const rec = installs[h];
      if (!rec) continue;
      const node = rec.spec as { external?: unknown };
      if (!node.external && rec.path && rec.installed) prefixes.push(rec.path);
      rec.installed = false;
    }
    // Records not installed that nothing references any more leave the database.
    for (let changed = true; changed;) {
      changed = false;
      const referenced = new Set<string>();
      for (const r of Object.values(installs)) {
        for (const d of (r.spec.dependencies ?? []) as { hash?: string }[]) {
          if (d.hash) referenced.add(d.hash);
        }
      }
      for (const [h, r] of Object.entries(installs)) {
        if (!r.installed && !referenced.has(h)) {
          delete installs[h];
          changed = true;
        }
      }
    }
    // Prefixes go while the lock is held, so no install sees a half-removed one as present.
    for (const p of prefixes) {
      if (!p.startsWith(root + "/")) continue; // never outside the tree
      rmSync(p, { recursive: true, force: true });
      for (let d = dirname(p); d.startsWith(root + "/") && d !== root; d = dirname(d)) {
        try {
          if (existsSync(d) && readdirSync(d).length === 0) rmdirSync(d);
          else break;
        } catch {
          break;
        }
      }
    }
    return true;
  });
  return plan.remove;
}

/**
 * Spack's `gc`: installed specs that no explicit spec needs over link/run edges (externals
 * included, as Spack's `unused_specs`), dependents first.
 */
export function unusedSpecs(tree: InstallTree): FoundSpec[] {
  const needed = new Set<string>();
  const visit = (h: string) => {
    if (needed.has(h)) return;
    needed.add(h);
    for (const d of tree.get(h)?.node.dependencies ?? []) {
      if (d.depTypes.includes("link") || d.depTypes.includes("run")) visit(d.hash);
    }
  };
  for (const r of tree.records) if (r.explicit && r.installed) visit(r.hash);
  const unused = tree.records.filter((r) => r.installed && !needed.has(r.hash));
  return planUninstall(tree, unused, { dependents: false }).remove;
}

export { openInstallTree };
