/**
 * `spackle repl` as a person uses it: the compiled executable in a real terminal (tmux), keys
 * sent one at a time (Tab as its own keystroke), the screen read back.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fixture, HAVE_FIXTURES, REPO_ROOT } from "./_fixtures.ts";
import { sleep, TMUX, tmux, waitFor } from "./_tmux.ts";

function keys(session: string, ...k: string[]) {
  for (const key of k) tmux("send-keys", "-t", session, key);
}

Deno.test({
  name:
    "repl in a terminal: ls numbers rows, show N, Tab completes, Ctrl-C keeps it, Ctrl-D exits, history persists",
  ignore: !TMUX || !HAVE_FIXTURES,
  async fn() {
    execFileSync("bash", [join(REPO_ROOT, "scripts/compile")], { stdio: "ignore" });
    const bin = join(REPO_ROOT, "dist/spackle");
    const dir = await Deno.makeTempDir({ prefix: "spackle-repl-" });
    const hist = join(dir, "history");
    const session = `spackle-repl-${Deno.pid}`;
    // A server that accepts connections and never answers.
    const hanging: Deno.Conn[] = [];
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    (async () => {
      for await (const c of listener) hanging.push(c);
    })();
    const start = () =>
      tmux(
        "new-session",
        "-d",
        "-s",
        session,
        "-x",
        "160",
        "-y",
        "50",
        `env SPACKLE_HISTORY=${hist} XDG_CONFIG_HOME=${dir} NO_COLOR=1 ${bin} repl -m ${
          fixture("v3-unsigned")
        } --allow-unsigned; echo REPL-EXITED $?; sleep 60`,
      );
    start();
    try {
      await waitFor(session, /4 packages.*\n.*spackle> $/m);
      keys(session, "ls", "Enter");
      let s = await waitFor(session, /4 specs/);
      assert.match(s, /^1\s+fooapp\s+3\.0\s+iicodpd/m);
      assert.match(s, /^4\s+libzz\s+1\.2\.3\s+irttwv2/m);
      keys(session, "show 4", "Enter");
      s = await waitFor(session, /libzz@1\.2\.3\/irttwv2\w+/);
      // Tab completes a command word, then a package name, as separate keystrokes.
      keys(session, "de");
      keys(session, "Tab");
      keys(session, "fooa");
      keys(session, "Tab");
      s = await waitFor(session, /spackle> deps fooapp/);
      keys(session, "Enter");
      s = await waitFor(session, /`-- \[build,link\] libzz@1\.2\.3\/irttwv2/);
      // A hash prefix completes to the package's hash.
      keys(session, "cat /ddk");
      keys(session, "Tab");
      await waitFor(session, /spackle> cat \/ddk74w2/);
      keys(session, "Enter");
      await waitFor(session, /"mediaType": "application\/vnd\.spack\.spec\.v5\+json"/);
      keys(session, "cat --spec 4", "Enter");
      await waitFor(session, /"name": "libzz",\n\s+"version": "1\.2\.3"/);
      // Ctrl-C cancels a running command (a mirror that never answers) and keeps the shell.
      keys(session, `ls -m http://127.0.0.1:${port}/hang`, "Enter");
      await sleep(1000);
      keys(session, "C-c");
      s = await waitFor(session, /cancelled\n.*spackle> $/m, 5000);
      // Ctrl-C at the prompt drops the line and keeps the shell.
      keys(session, "show something-half-typed");
      keys(session, "C-c");
      keys(session, "help", "Enter");
      s = await waitFor(session, /Every spackle command works too/);
      assert.match(s, /something-half-typed\^C/);
      keys(session, "C-d");
      await waitFor(session, /REPL-EXITED 0/);
      const lines = readFileSync(hist, "utf8").trim().split("\n");
      assert.deepEqual(lines, [
        "ls",
        "show 4",
        "deps fooapp",
        "cat /ddk74w2",
        "cat --spec 4",
        `ls -m http://127.0.0.1:${port}/hang`,
        "help",
      ]);
      // A new session recalls the history with the Up arrow.
      tmux("kill-session", "-t", session);
      start();
      await waitFor(session, /spackle> $/m);
      keys(session, "Up");
      await waitFor(session, /spackle> help$/m);
    } finally {
      listener.close();
      for (const c of hanging) c.close();
      try {
        tmux("kill-session", "-t", session);
      } catch { /* already gone */ }
    }
  },
});
