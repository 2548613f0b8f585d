/**
 * Bun, the executable's runtime, for tests that run a check script under it: the script does
 * its work and prints one JSON line last, which `runBunCheck` returns.
 *
 * @module
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "./_fixtures.ts";

/** The project's Bun. */
export const BUN: string = join(REPO_ROOT, "node_modules/.bin/bun");
/** True when the project's Bun is installed. */
export const HAVE_BUN: boolean = existsSync(BUN);

/**
 * Runs `tests/<script>` under Bun with `args` (from the repository root), asserts that it
 * exits 0 (its stderr as the message) and gives the JSON of the last line it printed.
 */
// deno-lint-ignore no-explicit-any
export async function runBunCheck(script: string, ...args: string[]): Promise<any> {
  const p = await new Deno.Command(BUN, {
    args: ["run", join(REPO_ROOT, "tests", script), ...args],
    cwd: REPO_ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(p.code, 0, new TextDecoder().decode(p.stderr));
  return JSON.parse(new TextDecoder().decode(p.stdout).trim().split("\n").pop()!);
}
