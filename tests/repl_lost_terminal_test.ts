/**
 * The REPL on a terminal that goes away (a window closed, `tmux kill-session`) with a recalled
 * line in its buffer: the process ends, instead of spinning on an unhandled I/O error.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fixture, HAVE_FIXTURES, REPO_ROOT } from "./_fixtures.ts";
import { sleep, TMUX, tmux, waitFor } from "./_tmux.ts";

const BIN = join(REPO_ROOT, "dist/spackle");

Deno.test({
  name: "repl whose terminal goes away ends (no process left behind)",
  ignore: !TMUX || !HAVE_FIXTURES || !existsSync(BIN),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "spackle-repl-lost-" });
    const session = `spackle-repl-lost-${Deno.pid}`;
    try {
      // The executable is the pane's process itself (no shell between), so its pid is known.
      tmux(
        "new-session",
        "-d",
        "-s",
        session,
        "-x",
        "120",
        "-y",
        "30",
        "env",
        `XDG_STATE_HOME=${dir}`,
        `XDG_CONFIG_HOME=${dir}`,
        "NO_COLOR=1",
        BIN,
        "repl",
        "-m",
        fixture("v3-unsigned"),
        "--allow-unsigned",
      );
      await waitFor(session, /spackle> $/m);
      const pid = Number(tmux("display-message", "-p", "-t", session, "#{pane_pid}").trim());
      assert.ok(pid > 0);
      tmux("send-keys", "-t", session, "ls", "Enter");
      await waitFor(session, /4 specs/);
      tmux("send-keys", "-t", session, "Up"); // a recalled line: raw mode and a redraw pending
      await sleep(300);
      tmux("kill-session", "-t", session);
      let alive = true;
      for (let i = 0; i < 50 && alive; i++) {
        await sleep(100);
        alive = existsSync(`/proc/${pid}`) && !isZombie(pid);
      }
      if (alive) Deno.kill(pid, "SIGKILL");
      assert.ok(!alive, `the repl (pid ${pid}) still runs 5 s after its terminal went away`);
    } finally {
      try {
        tmux("kill-session", "-t", session);
      } catch { /* already gone */ }
      await Deno.remove(dir, { recursive: true });
    }
  },
});

function isZombie(pid: number): boolean {
  try {
    return /^\d+ \(.*\) Z/.test(Deno.readTextFileSync(`/proc/${pid}/stat`));
  } catch {
    return true;
  }
}
