/**
 * Where the test fixtures (real mirrors written by real Spack) are: `../shared/fixtures`
 * beside the repository, or `SPACKLE_FIXTURES`.
 *
 * @module
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root. */
export const REPO_ROOT: string = resolve(fileURLToPath(new URL("..", import.meta.url)));

/** The fixtures directory. */
export const FIXTURES: string = Deno.env.get("SPACKLE_FIXTURES") ??
  resolve(REPO_ROOT, "../shared/fixtures");

/** The oracle scripts directory (runs the real Spack). */
export const ORACLE: string = resolve(FIXTURES, "../oracle");

/** True when the fixtures are present (tests that need them are skipped otherwise). */
export const HAVE_FIXTURES: boolean = existsSync(resolve(FIXTURES, "fixtures.json"));

/** Path of one fixture file or directory. */
export function fixture(...parts: string[]): string {
  return resolve(FIXTURES, ...parts);
}
