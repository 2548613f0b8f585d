/**
 * `--lockfile FILE`, `-e/--env DIR` (a Spack environment holding spack.lock) and `--all`: a
 * Spack environment lock file as the source of the specs a command acts on.
 *
 * @module
 */
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { UsageError } from "../errors.ts";
import type { Lockfile } from "../../mod.ts";

/** The options `addLockfileOptions` defines. */
export interface LockfileCliOptions {
  lockfile?: string;
  env?: string;
  all?: boolean;
}

/** A lock file read from the command line, with the label its errors use. */
export interface CliLock {
  lock: Lockfile;
  path: string;
  label: string;
  all: boolean;
}

/** Adds `--lockfile`, `-e/--env` and (with `all`) `--all` to `cmd`. */
export function addLockfileOptions(cmd: Command, opts: { all?: boolean } = {}): Command {
  cmd
    .option(
      "--lockfile <file>",
      "act on the roots of this Spack environment lock file (spack.lock)",
    )
    .option("-e, --env <dir>", "act on the roots of the Spack environment in DIR (its spack.lock)");
  if (opts.all !== false) {
    cmd.option("--all", "with --lockfile/-e: every concrete spec of the lock, not only its roots");
  }
  return cmd;
}

/** The lock file `--lockfile`/`-e` name (undefined when neither is given). */
export async function readCliLock(o: LockfileCliOptions): Promise<CliLock | undefined> {
  if (o.lockfile && o.env) throw new UsageError("Give --lockfile or -e/--env, not both");
  if (o.all && !o.lockfile && !o.env) throw new UsageError("--all needs --lockfile or -e/--env");
  let path = o.lockfile;
  if (o.env) {
    let isDir = false;
    try {
      isDir = statSync(o.env).isDirectory();
    } catch (e) {
      throw new UsageError(`Cannot read the environment "${o.env}": ${(e as Error).message}`);
    }
    if (!isDir) throw new UsageError(`Cannot read the environment "${o.env}": not a directory`);
    path = join(o.env, "spack.lock");
  }
  if (!path) return undefined;
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    const why = (e as { code?: string }).code === "ENOENT"
      ? o.env ? "no spack.lock (concretize the environment with Spack first)" : "no such file"
      : (e as Error).message;
    throw new UsageError(`Cannot read the lock file "${path}": ${why}`);
  }
  const { parseLockfile } = await import("../../mod.ts");
  const label = `the lock file "${path}"`;
  return { lock: parseLockfile(text, label), path, label, all: !!o.all };
}

/**
 * The spec queries of a command: those given on the command line, then `/HASH` for each root
 * (or, with `--all`, each concrete spec that is not external) of the lock.
 */
export function lockQueries(specs: string[], l: CliLock | undefined): string[] {
  if (!l) return specs;
  const nodes = l.all
    ? [...l.lock.dag.nodes.values()]
    : l.lock.roots.map((r) => l.lock.dag.nodes.get(r.hash)!);
  return [...specs, ...nodes.filter((n) => !n.external).map((n) => `/${n.hash}`)];
}
