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

/**
 * Runs `fn` with a tmpfs of `size` mounted at `dir`, unmounted afterwards; where mounting is not
 * allowed (not root), warns that the test is skipped and runs nothing.
 */
export async function withTmpfs(
  dir: string,
  size: string,
  fn: () => Promise<void> | void,
): Promise<void> {
  if (!await mountTmpfs(dir, size)) {
    console.warn("cannot mount a tmpfs here (not root?): test skipped");
    return;
  }
  try {
    await fn();
  } finally {
    await new Deno.Command("umount", { args: [dir] }).output();
  }
}
