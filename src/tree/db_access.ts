/**
 * Every read and write of an install tree's Spack database (`ROOT/.spack-db/index.json`) that
 * the tree operations (find, uninstall, gc, load, view) make goes through the few functions
 * here: `openInstallTree` (read), `updateInstallDb` (read-modify-write under Spack's exclusive
 * database lock) and `installDbPath`, all on `index/install_db.ts`, the one module that reads
 * and writes install databases.
 *
 * @module
 */
import { resolve } from "node:path";
import { NotFoundError } from "../errors.ts";
import type { IndexDb } from "../index/db.ts";
import { InstallDatabase, type InstallRecord } from "../index/install_db.ts";
import type { SpecDag, SpecNode } from "../spec/types.ts";

/** One record of an install database (Spack's spelling). */
export type DbRecord = InstallRecord;

/** One record of an install tree. */
export interface TreeRecord {
  name: string;
  version: string;
  hash: string;
  /** The install prefix (the external's path for externals), or null. */
  path: string | null;
  installed: boolean;
  explicit: boolean;
  external: boolean;
  /** Seconds since the epoch. */
  installationTime: number;
  node: SpecNode;
}

/** An install tree as its database describes it (read once, no lock held). */
export interface InstallTree {
  root: string;
  records: TreeRecord[];
  get(hash: string): TreeRecord | undefined;
  /** The DAG of `hash` with its dependencies resolved from the database. */
  spec(hash: string): SpecDag;
  /** The parsed database (queries). */
  db: IndexDb;
}

/** The database file of an install tree. */
export function installDbPath(root: string): string {
  return new InstallDatabase(root).indexPath;
}

/** Reads the install tree at `root`; a tree without a database is a NotFoundError. */
export function openInstallTree(root: string): InstallTree {
  root = resolve(root);
  const idb = new InstallDatabase(root);
  // Unlocked, but always a whole file: writers replace it by rename.
  const view = idb.peek();
  if (!view.exists) {
    throw new NotFoundError(`Cannot read the install tree "${root}": it has no "${idb.indexPath}"`);
  }
  const db = view.index();
  const installs = view.data.installs;
  const records: TreeRecord[] = [];
  const byHash = new Map<string, TreeRecord>();
  for (const [hash, r] of Object.entries(installs)) {
    const node = db.node(hash);
    if (!node) continue;
    const rec: TreeRecord = {
      name: node.name,
      version: node.version,
      hash,
      path: r.path ?? null,
      installed: r.installed !== false,
      explicit: r.explicit === true,
      external: !!node.external,
      installationTime: r.installation_time ?? 0,
      node,
    };
    records.push(rec);
    byHash.set(hash, rec);
  }
  return { root, records, get: (h) => byHash.get(h), spec: (h) => db.spec(h), db };
}

/**
 * Changes the database of `root` under Spack's exclusive database lock: `fn` gets the records
 * as stored (Spack's spelling) and edits them in place; the database is written back (with a
 * new `index_verifier`) when `fn` returns true. Returns what `fn` returned.
 */
export async function updateInstallDb(
  root: string,
  signal: AbortSignal | undefined,
  fn: (installs: Record<string, DbRecord>) => boolean,
): Promise<boolean> {
  const unchanged = Symbol("unchanged");
  try {
    return await new InstallDatabase(root, { signal }).update((view) => {
      if (!fn(view.data.installs)) throw unchanged; // nothing to write
      return true;
    }, signal);
  } catch (e) {
    if (e === unchanged) return false;
    throw e;
  }
}
