/**
 * Store path rules shared by every backend.
 *
 * @module
 */
import { UsageError } from "../errors.ts";

/**
 * Checks a store path (relative, "/"-separated, no empty, "." or ".." segment) and returns
 * its segments; UsageError otherwise.
 */
export function checkStorePath(path: string): string[] {
  const parts = path.split("/");
  if (
    path === "" || path.startsWith("/") || parts.some((p) => p === ".." || p === "." || p === "")
  ) {
    throw new UsageError(`Invalid store path "${path}": must be relative, without "." or ".."`);
  }
  return parts;
}
