/**
 * An install tree's database, `ROOT/.spack-db/index.json`, read and written as Spack does and
 * under Spack's own locks, so that spackle and Spack can work on one install tree at once:
 *
 * - reading holds a shared POSIX record lock on `.spack-db/lock` (start 0, length 0), writing
 *   an exclusive one; the database is rewritten by rename and `.spack-db/index_verifier` gets a
 *   new UUID after each write (Spack re-reads the database when it changes);
 * - a prefix being created is locked by the 1-byte record of `.spack-db/prefix_lock` at the
 *   spec's `dag_hash_bit_prefix(63)`.
 *
 * Every reader and writer of an install database goes through this module.
 *
 * @module
 */
import { scalarText } from "../core/json.ts";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";
import { InvalidDataError } from "../errors.ts";
import { MemoryPacer } from "../core/memory_pacer.ts";
import { dagHashBitPrefix, type HeldLock, lockRange } from "../core/posix_lock.ts";
import { type IndexDb, parseIndexDb } from "./db.ts";
import { buildIndexJson, type IndexWriteRecord } from "./writer.ts";

/** The database directory of an install tree. */
export const INSTALL_DB_DIR = ".spack-db";

/** Spack's default `config:db_lock_timeout` (seconds). */
export const DEFAULT_DB_LOCK_TIMEOUT = 60;

/** One record of `database.installs`, as Spack writes it. */
export interface InstallRecord {
  spec: Record<string, unknown>;
  ref_count: number;
  path: string | null;
  installed: boolean;
  explicit: boolean;
  installation_time: number;
  deprecated_for: string | null;
  /** Written by Spack only when set. */
  origin?: string | null;
}

/** The contents of an install database. */
export interface InstallDbData {
  version: string;
  installs: Record<string, InstallRecord>;
}

/** Options of {@link InstallDatabase}. */
export interface InstallDbOptions {
  /** Seconds to wait for a lock (default {@link DEFAULT_DB_LOCK_TIMEOUT}; 0: forever). */
  lockTimeout?: number;
  signal?: AbortSignal;
  /** Told when a lock is busy and spackle waits (the message names the holder when known). */
  onWait?: (message: string) => void;
  /** Told once when locks cannot be taken here. */
  onWarning?: (message: string) => void;
}

/** A read view: the raw records and, on demand, the parsed index (spec nodes, queries). */
export interface InstallDbView {
  data: InstallDbData;
  /** True when `index.json` exists. */
  exists: boolean;
  /** The records parsed as an {@link IndexDb} (built on first use). */
  index(): IndexDb;
}

/** Parses the text of an install database (a clear error naming `path` when it is not one). */
export function parseInstallDb(text: string, path: string): InstallDbData {
  let db: { database?: { version?: unknown; installs?: unknown } };
  try {
    db = JSON.parse(text);
  } catch (e) {
    throw new InvalidDataError(
      `Cannot read the install database "${path}": ${(e as Error).message}; ` +
        `restore it from a backup or run "spack reindex"`,
    );
  }
  const installs = db?.database?.installs;
  if (!installs || typeof installs !== "object" || Array.isArray(installs)) {
    throw new InvalidDataError(
      `Cannot read the install database "${path}": it has no "database.installs"; ` +
        `restore it from a backup or run "spack reindex"`,
    );
  }
  return {
    version: scalarText(db.database?.version, "8"),
    installs: installs as Record<string, InstallRecord>,
  };
}

/** The install database of one install tree root. */
export class InstallDatabase {
  readonly root: string;
  readonly dir: string;
  readonly indexPath: string;
  readonly lockPath: string;
  readonly verifierPath: string;
  readonly prefixLockPath: string;
  #opts: InstallDbOptions;

  constructor(root: string, opts: InstallDbOptions = {}) {
    this.root = resolve(root);
    this.dir = join(this.root, INSTALL_DB_DIR);
    this.indexPath = join(this.dir, "index.json");
    this.lockPath = join(this.dir, "lock");
    this.verifierPath = join(this.dir, "index_verifier");
    this.prefixLockPath = join(this.dir, "prefix_lock");
    this.#opts = opts;
  }

  /** True when the tree has a database file. */
  exists(): boolean {
    return existsSync(this.indexPath);
  }

  #lockOpts(desc: string, signal?: AbortSignal) {
    const t = this.#opts.lockTimeout ?? DEFAULT_DB_LOCK_TIMEOUT;
    return {
      timeout: t > 0 ? t : undefined,
      signal: signal ?? this.#opts.signal,
      desc,
      onWait: (holder: string | undefined) =>
        this.#opts.onWait?.(`waiting for ${desc} lock, held by ${holder ?? "another process"}`),
      onUnsupported: this.#opts.onWarning,
    };
  }

  #readNow(): InstallDbView {
    let text: string | undefined;
    try {
      text = readFileSync(this.indexPath, "utf8");
    } catch (e) {
      if ((e as { code?: string }).code !== "ENOENT") {
        throw new InvalidDataError(
          `Cannot read the install database "${this.indexPath}": ${(e as Error).message}`,
        );
      }
    }
    const data = text === undefined
      ? { version: "8", installs: {} }
      : parseInstallDb(text, this.indexPath);
    let parsed: IndexDb | undefined;
    return {
      data,
      exists: text !== undefined,
      index: () => parsed ??= parseIndexDb({ database: data }, this.indexPath),
    };
  }

  /**
   * Reads the database under a shared lock. A tree without a database reads as empty and is
   * left untouched (no directory or lock file is created).
   */
  async read<T>(fn: (view: InstallDbView) => T | Promise<T>, signal?: AbortSignal): Promise<T> {
    if (!existsSync(this.dir)) return await fn(this.#readNow());
    const lock = await lockRange(
      this.lockPath,
      0n,
      0n,
      "shared",
      this.#lockOpts("the install database", signal),
    );
    try {
      return await fn(this.#readNow());
    } finally {
      lock.release();
    }
  }

  /**
   * The database read without a lock (for synchronous callers): always a whole file, since
   * writers replace it by rename, but it may be older than a write in progress.
   */
  peek(): InstallDbView {
    return this.#readNow();
  }

  /** A snapshot of the database (read under a shared lock, released before returning). */
  snapshot(signal?: AbortSignal): Promise<InstallDbView> {
    return this.read((v) => v, signal);
  }

  /**
   * Reads the database under an exclusive lock, lets `fn` change `view.data`, and writes it
   * back (by rename, with a new `index_verifier`) unless `fn` throws. Creates `.spack-db`
   * when missing.
   */
  async update<T>(
    fn: (view: InstallDbView) => T | Promise<T>,
    signal?: AbortSignal,
  ): Promise<T> {
    mkdirSync(this.dir, { recursive: true });
    const lock = await lockRange(
      this.lockPath,
      0n,
      0n,
      "exclusive",
      this.#lockOpts("the install database", signal),
    );
    try {
      const view = this.#readNow();
      const result = await fn(view);
      this.#write(view.data);
      return result;
    } finally {
      lock.release();
    }
  }

  #write(data: InstallDbData): void {
    const records: IndexWriteRecord[] = Object.entries(data.installs).map(([hash, r]) => ({
      hash,
      spec: r.spec,
      path: r.path,
      installed: r.installed,
      explicit: r.explicit,
      installationTime: r.installation_time,
      deprecatedFor: r.deprecated_for,
      origin: r.origin,
    }));
    // Spack's temporary name: index.json.<host>.<pid>.temp
    const tmp = `${this.indexPath}.${hostname()}.${process.pid}.temp`;
    try {
      // Written while an install holds its packages: collections are asked for with little
      // headroom, so that the database's garbage does not add to the run's peak.
      const pacer = new MemoryPacer({ headroom: 2 << 20 });
      writeFileSync(tmp, buildIndexJson(records, { kind: "install", pacer }), { mode: 0o644 });
      renameSync(tmp, this.indexPath);
    } catch (e) {
      rmSync(tmp, { force: true });
      throw e;
    }
    writeFileSync(this.verifierPath, crypto.randomUUID());
  }

  /**
   * Locks the prefix of the spec `hash` for writing, as Spack does while it creates a prefix.
   * Creates `.spack-db` when missing.
   */
  async lockPrefix(hash: string, name?: string, signal?: AbortSignal): Promise<HeldLock> {
    mkdirSync(this.dir, { recursive: true });
    const desc = `the prefix of ${name ? `${name}/` : "/"}${hash.slice(0, 7)}`;
    return await lockRange(
      this.prefixLockPath,
      dagHashBitPrefix(hash),
      1n,
      "exclusive",
      this.#lockOpts(desc, signal),
    );
  }
}
