/**
 * The compiled executable's JIT for the commands that move bulk data. JavaScriptCore's top
 * tier (FTL) compiles the hottest functions again on background threads; in a run of seconds
 * on a machine of few cores, that compilation takes the cores the work itself needs and is not
 * paid back. Measured on 2 cores with it off (`BUN_JSC_useFTLJIT=0`), alternating runs: the
 * 331 MB benchmark package installs in 2.19 s instead of 2.61 s (CPU 3.3 s instead of 4.1 s),
 * 300 Spack-built packages in 1.74 s instead of 2.21 s; 1,000 or 2,000 packages take between
 * as long and 14% longer, with 4 to 6 MB less peak; a push of the same package is even.
 *
 * The engine reads its options once, from the environment, before any code runs: for the
 * commands in {@link BULK_COMMANDS} the executable starts itself again, once, with the option
 * set (about 11 ms, won back by a small install already). Not done when the variable is set
 * already (the user's choice, and the restarted process), outside the compiled executable
 * (`deno`, `bun cli.ts`, the library), or where the runtime cannot replace the process.
 *
 * @module
 */
import { firstWord } from "./argv.ts";

/** The commands whose runs move bulk data (installs, uploads, index rebuilds, copies, checks). */
export const BULK_COMMANDS: ReadonlySet<string> = new Set([
  "install",
  "download",
  "push",
  "update-index",
  "migrate",
  "verify",
  "sync",
  "bundle",
  "prune",
]);

/**
 * The program's own options that take no value (any other option is taken to have one: the
 * program is not built yet; a test checks this list against it).
 */
export const GLOBAL_FLAGS: ReadonlySet<string> = new Set([
  "--json",
  "-q",
  "--quiet",
  "-v",
  "--verbose",
  "--no-color",
  "-V",
  "--version",
]);

/**
 * The command `argv` names: its first word that is not an option or an option's value, or
 * undefined (nothing, or `--` first).
 */
export function commandWord(argv: readonly string[]): string | undefined {
  return firstWord(argv, (flag) => flag === "--" ? undefined : !GLOBAL_FLAGS.has(flag));
}

/** The environment variable that turns the top tier off. */
export const FTL_VARIABLE = "BUN_JSC_useFTLJIT";

export type Execve = (
  file: string,
  args: string[],
  env: Record<string, string | undefined>,
) => never;

/** What {@link restartWithoutFtl} looks at: the process's command line and environment. */
export interface RestartContext {
  argv: readonly string[];
  env: Record<string, string | undefined>;
  /** The executable to start again. */
  execPath: string;
  /** True in the compiled executable. */
  compiled: boolean;
  execve?: Execve;
}

/**
 * Replaces the process with the same command line and the top tier off, for a bulk command of
 * the compiled executable (see the module). Returns only when it does not: false when not
 * wanted, the error when the runtime could not start it (the command then runs here).
 */
export function restartWithoutFtl(c: RestartContext): false | Error {
  const word = commandWord(c.argv);
  if (
    !c.compiled || c.env[FTL_VARIABLE] !== undefined || typeof c.execve !== "function" ||
    word === undefined || !BULK_COMMANDS.has(word)
  ) return false;
  try {
    c.execve(c.execPath, [c.execPath, ...c.argv], { ...c.env, [FTL_VARIABLE]: "0" });
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e));
  }
  return false; // (an execve that returns: nothing replaced)
}
