/**
 * A small file system for tests of full disks: a tmpfs of a given size, mounted where the test
 * runs as root (as CI does); elsewhere the caller skips.
 *
 * @module
 */
import { mkdirSync } from "node:fs";

/** Mounts a tmpfs of `size` at `dir`; false where mounting is not allowed. */
export async function mountTmpfs(dir: string, size: string): Promise<boolean> {
  mkdirSync(dir, { recursive: true });
  try {
    const p = await new Deno.Command("mount", {
      args: ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir],
      stdout: "null",
      stderr: "null",
    }).output();
    return p.success;
  } catch {
    return false;
  }
}
