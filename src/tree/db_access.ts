/**
 * Every read and write of an install tree's Spack database (`ROOT/.spack-db/index.json`) that
 * the tree operations (find, uninstall, gc, load, view) make goes through the few functions
 * here: `openInstallTree` (read), `updateInstallDb` (read-modify-write under the tree's write
 * lock) and `installDbPath`. They are built on the install module's database functions, so
 * that one switch here moves them all to another database module.
 *
 * @module
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { randomUUID } from "node:crypto";
import { join, resolve } from "node:path";
import { NotFoundError } from "../errors.ts";
import { type IndexDb, parseIndexDb } from "../index/db.ts";
import { type Db, type DbRecord, readDb, withLock, writeDb } from "../install/install.ts";
import type { SpecDag, SpecNode } from "../spec/types.ts";

export type { DbRecord };

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
  return join(resolve(root), ".spack-db", "index.json");
}

/** Reads the install tree at `root`; a tree without a database is a NotFoundError. */
export function openInstallTree(root: string): InstallTree {
  root = resolve(root);
  const path = installDbPath(root);
  if (!existsSync(path)) {
    throw new NotFoundError(`Cannot read the install tree "${root}": it has no "${path}"`);
  }
  const raw = readFileSync(path, "utf8");
  const db = parseIndexDb(raw, `the install database "${path}"`);
  const installs = (JSON.parse(raw) as Db).database.installs;
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
 * Changes the database of `root` under the tree's write lock: `fn` gets the records as stored
 * (Spack's spelling) and edits them in place; the database is written back when `fn` returns
 * true. Returns what `fn` returned.
 */
export async function updateInstallDb(
  root: string,
  signal: AbortSignal | undefined,
  fn: (installs: Record<string, DbRecord>) => boolean,
): Promise<boolean> {
  root = resolve(root);
  return await withLock(root, signal, () => {
    const db = readDb(root);
    const changed = fn(db.database.installs);
    if (changed) {
      writeDb(root, db);
      // As Spack after each write: a new verifier tells running Spack processes to re-read.
      writeFileSync(join(root, ".spack-db", "index_verifier"), randomUUID());
    }
    return changed;
  });
}
