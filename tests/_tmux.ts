/**
 * Driving a program in a real terminal for tests: tmux sessions, keys sent as typed, the screen
 * read back.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import process from "node:process";

/** The tmux executable, or undefined when tmux is not installed. */
export const TMUX = ["/usr/bin/tmux", "/bin/tmux", "/usr/local/bin/tmux"].find((p) =>
  existsSync(p)
);

/**
 * This test process's own tmux server: test files run in parallel, and on a shared server one
 * file's last `kill-session` makes the server exit under another file's `new-session`.
 */
const SOCKET = `spackle-test-${process.pid}`;

/**
 * Runs tmux with `args` on this process's server; returns what it printed. A session started
 * just as the previous one ended can meet the server on its way out ("server exited
 * unexpectedly"): that start is tried again, a few times.
 */
export function tmux(...args: string[]): string {
  for (let attempt = 1;; attempt++) {
    try {
      return execFileSync(TMUX!, ["-L", SOCKET, ...args], { encoding: "utf8", stdio: "pipe" });
    } catch (e) {
      const why = String((e as { stderr?: unknown }).stderr ?? e);
      if (args[0] !== "new-session" || attempt >= 5 || !/server exited/.test(why)) throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200); // 200 ms
    }
  }
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
