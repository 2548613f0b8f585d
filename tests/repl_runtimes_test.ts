/**
 * `spackle repl` from source under Deno and under Bun (the compiled executable is covered by
 * repl_tmux_test.ts): in a real terminal (tmux), `ls` lists, Tab completes, Ctrl-D exits 0.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fixture, HAVE_FIXTURES, REPO_ROOT } from "./_fixtures.ts";
import { TMUX, tmux, waitFor } from "./_tmux.ts";

const BUN = join(REPO_ROOT, "node_modules/.bin/bun");
const DENO = join(REPO_ROOT, "node_modules/.bin/deno");

for (
  const [runtime, cmd] of [
    ["Deno", `${DENO} run -A ${join(REPO_ROOT, "cli.ts")}`],
    ["Bun", `${BUN} ${join(REPO_ROOT, "cli.ts")}`],
  ] as const
) {
  Deno.test({
    name: `repl under ${runtime} in a terminal: ls, Tab completion, Ctrl-D exits 0`,
    ignore: !TMUX || !HAVE_FIXTURES || (runtime === "Bun" && !existsSync(BUN)),
    async fn() {
      const dir = await Deno.makeTempDir({ prefix: "spackle-repl-rt-" });
      const session = `spackle-repl-${runtime}-${Deno.pid}`;
      tmux(
        "new-session",
        "-d",
        "-s",
        session,
        "-x",
        "160",
        "-y",
        "50",
        `env XDG_STATE_HOME=${dir} XDG_CONFIG_HOME=${dir} NO_COLOR=1 ${cmd} repl -m ${
          fixture("v3-unsigned")
        } --allow-unsigned; echo REPL-EXITED $?; sleep 60`,
      );
      try {
        await waitFor(session, /4 packages.*\n.*spackle> $/m);
        tmux("send-keys", "-t", session, "ls libzz", "Enter");
        const s = await waitFor(session, /1 spec\b/);
        assert.match(s, /^1\s+libzz\s+1\.2\.3\s+irttwv2/m);
        tmux("send-keys", "-t", session, "show libf");
        tmux("send-keys", "-t", session, "Tab");
        await waitFor(session, /spackle> show libfoo $/m);
        tmux("send-keys", "-t", session, "C-u");
        tmux("send-keys", "-t", session, "C-d");
        await waitFor(session, /REPL-EXITED 0/);
        // The history went to $XDG_STATE_HOME/spackle/.
        const hist = [join(dir, "spackle", "repl_history"), join(dir, "spackle", "history")]
          .find((p) => existsSync(p));
        assert.ok(hist, "a history file under $XDG_STATE_HOME/spackle");
        assert.match(Deno.readTextFileSync(hist), /^ls libzz$/m);
      } finally {
        try {
          tmux("kill-session", "-t", session);
        } catch { /* already gone */ }
      }
    },
  });
}
