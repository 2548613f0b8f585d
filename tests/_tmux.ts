/**
 * Driving a program in a real terminal for tests: tmux sessions, keys sent as typed, the screen
 * read back.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";

/** The tmux executable, or undefined when tmux is not installed. */
export const TMUX = ["/usr/bin/tmux", "/bin/tmux", "/usr/local/bin/tmux"].find((p) =>
  existsSync(p)
);

/** Runs tmux with `args`; returns what it printed. */
export function tmux(...args: string[]): string {
  return execFileSync(TMUX!, args, { encoding: "utf8" });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until the pane of `session` shows `re` (or fails with the screen). */
export async function waitFor(session: string, re: RegExp, ms = 15000): Promise<string> {
  let screen = "";
  for (const end = Date.now() + ms; Date.now() < end;) {
    screen = tmux("capture-pane", "-p", "-J", "-S", "-200", "-t", session);
    if (re.test(screen)) return screen;
    await sleep(100);
  }
  assert.fail(`the screen never showed ${re}:\n${screen}`);
}
