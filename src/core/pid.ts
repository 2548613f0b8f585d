/**
 * Telling whether the process that left a working directory behind still runs: directories
 * named `<prefix><host>-<pid>-<random>` belong to a live process when the host is this one and
 * the pid answers signal 0.
 *
 * @module
 */
import { readdirSync, rmSync, statSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import process from "node:process";

/** True when a process with this pid runs on this host (or exists but is not ours). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code === "EPERM";
  }
}

/** The name part that marks a working directory as this process's: `<host>-<pid>-`. */
export function ownerTag(): string {
  return `${hostname()}-${process.pid}-`;
}

/**
 * Deletes the entries of `dir` named `<prefix><host>-<pid>-<random>` whose process, on this
 * host, no longer runs. Entries of other hosts (a shared file system) and of live processes are
 * kept. Returns the names deleted.
 */
export function removeDeadOwners(dir: string, prefix: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const deleted: string[] = [];
  for (const name of names) {
    if (!name.startsWith(prefix) || ownerState(name, prefix) !== "dead") continue;
    rmSync(join(dir, name), { recursive: true, force: true });
    deleted.push(name);
  }
  return deleted;
}

/** Name prefixes of the temporary files and directories spackle's writers leave while working. */
export const TEMP_PREFIXES = [
  ".spackle-tmp-",
  ".spackle-push-",
  ".spackle-index-",
  ".spackle-bundle-",
];

/** A temporary file or directory found under a tree, and whether its owner still runs. */
export interface TempEntry {
  /** Path relative to the root searched ("/"-separated). */
  path: string;
  /**
   * `dead`: its process, on this host, is gone; `live`: it runs; `other-host`: made on
   * another host; `unknown`: a name without an owner (older spackle).
   */
  owner: "dead" | "live" | "other-host" | "unknown";
  mtimeMs: number;
  dir: boolean;
}

/** The owner state of an entry named `<prefix><host>-<pid>-<random>`. */
export function ownerState(name: string, prefix: string): TempEntry["owner"] {
  const m = /^(.+)-(\d+)-[A-Za-z0-9]+$/.exec(name.slice(prefix.length));
  if (!m) return "unknown";
  if (m[1] !== hostname()) return "other-host";
  return pidAlive(Number(m[2])) ? "live" : "dead";
}

/**
 * Every temporary entry of spackle's writers (`TEMP_PREFIXES`) under `root`, at any depth
 * (a temporary directory is reported, not entered).
 */
export function findTemporaries(root: string): TempEntry[] {
  const out: TempEntry[] = [];
  const walk = (dir: string, rel: string) => {
    let ents;
    try {
      ents = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of ents) {
      const prefix = TEMP_PREFIXES.find((p) => e.name.startsWith(p));
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (prefix) {
        let mtimeMs = 0;
        try {
          mtimeMs = statSync(join(dir, e.name)).mtimeMs;
        } catch { /* gone meanwhile */ }
        out.push({ path: r, owner: ownerState(e.name, prefix), mtimeMs, dir: e.isDirectory() });
      } else if (e.isDirectory()) walk(join(dir, e.name), r);
    }
  };
  walk(root, "");
  return out.sort((a, b) => a.path < b.path ? -1 : 1);
}
