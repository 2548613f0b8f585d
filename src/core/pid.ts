/**
 * Telling whether the process that left a working directory behind still runs: directories
 * named `<prefix><host>-<pid>-<random>` belong to a live process when the host is this one and
 * the pid answers signal 0.
 *
 * @module
 */
import { readdirSync, rmSync } from "node:fs";
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
    if (!name.startsWith(prefix)) continue;
    const m = /^(.+)-(\d+)-[A-Za-z0-9]+$/.exec(name.slice(prefix.length));
    if (!m || m[1] !== hostname() || pidAlive(Number(m[2]))) continue;
    rmSync(join(dir, name), { recursive: true, force: true });
    deleted.push(name);
  }
  return deleted;
}
