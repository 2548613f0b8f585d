/**
 * `spackle completion bash|zsh|fish`: the scripts are loaded into the real shells and asked for
 * completions (commands, nested verbs, flags, configured mirror names).
 */
import assert from "node:assert/strict";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "./_fixtures.ts";
import { CLI, runCli } from "./_cli.ts";

const has = (tool: string) =>
  ["/usr/bin", "/bin", "/usr/local/bin"].some((d) => existsSync(join(d, tool)));

async function run(cmd: string, args: string[], env: Record<string, string> = {}) {
  const p = await new Deno.Command(cmd, {
    args,
    cwd: REPO_ROOT,
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: p.code, stdout: dec.decode(p.stdout), stderr: dec.decode(p.stderr) };
}

const deno = Deno.execPath();
const cli = CLI;

/** A config dir with one configured mirror, and the generated scripts. */
async function setup() {
  const dir = await Deno.makeTempDir({ prefix: "spackle-completion-" });
  const env = { XDG_CONFIG_HOME: dir, HOME: dir };
  const add = await runCli(["mirror", "add", "sitecache", "/srv/m"], { env, cwd: REPO_ROOT });
  assert.equal(add.code, 0, add.stderr);
  for (const sh of ["bash", "zsh", "fish"]) {
    const r = await runCli(["completion", sh], { env, cwd: REPO_ROOT });
    assert.equal(r.code, 0, r.stderr);
    writeFileSync(join(dir, `c.${sh}`), r.stdout);
  }
  return { dir, env };
}

Deno.test({
  name: "bash: commands, nested verbs, flags and configured mirror names complete",
  ignore: !has("bash"),
  fn: async () => {
    const { dir, env } = await setup();
    const script = `
source ${dir}/c.bash
spackle() { ${deno} run -A ${cli} "$@"; }
c() { COMP_WORDS=("$@"); COMP_CWORD=$(( \${#COMP_WORDS[@]} - 1 )); COMPREPLY=(); _spackle; echo "\${COMPREPLY[*]}"; }
complete -p spackle
c spackle ""
c spackle ke
c spackle --json keys tr
c spackle list --lo
c spackle list -m site
c spackle show -m sitecache --allow-u
`;
    const r = await run("bash", ["-c", script], env);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split("\n");
    assert.equal(lines[0], "complete -o filenames -F _spackle spackle");
    for (const verb of ["list", "show", "install", "keys", "mirror", "completion", "repl"]) {
      assert.ok(lines[1].split(" ").includes(verb), `${verb} in ${lines[1]}`);
    }
    assert.equal(lines[2], "keys");
    assert.equal(lines[3], "trust");
    assert.equal(lines[4], "--long");
    assert.equal(lines[5], "sitecache");
    assert.equal(lines[6], "--allow-unsigned");
  },
});

Deno.test({
  name: "fish: commands, nested verbs, flags and configured mirror names complete",
  ignore: !has("fish"),
  fn: async () => {
    const { dir, env } = await setup();
    const script = `function spackle; ${deno} run -A ${cli} $argv; end
source ${dir}/c.fish
complete -C "spackle ke"; echo ---
complete -C "spackle keys tr"; echo ---
complete -C "spackle list --lo"; echo ---
complete -C "spackle list -m site"`;
    const r = await run("fish", ["-c", script], env);
    assert.equal(r.code, 0, r.stderr);
    const parts = r.stdout.split("---\n").map((p) =>
      p.trim().split("\n").map((l) => l.split("\t")[0])
    );
    assert.deepEqual(parts[0], ["keys"]);
    assert.deepEqual(parts[1], ["trust"]);
    assert.deepEqual(parts[2], ["--long"]);
    assert.deepEqual(parts[3], ["sitecache"]);
  },
});

Deno.test({
  name: "zsh: the script completes verbs and mirror names in an interactive zsh (tmux, Tab key)",
  ignore: !has("zsh") || !has("tmux"),
  fn: async () => {
    const { dir, env } = await setup();
    const session = `spackle-zsh-${Deno.pid}`;
    const tmux = (...a: string[]) => run("tmux", a, env);
    await tmux("new-session", "-d", "-s", session, "-x", "150", "-y", "20", "zsh -f");
    try {
      await tmux(
        "send-keys",
        "-t",
        session,
        `spackle() { ${deno} run -A ${cli} "$@"; }; source ${dir}/c.zsh; clear`,
        "Enter",
      );
      await new Promise((r) => setTimeout(r, 1500));
      await tmux("send-keys", "-t", session, "spackle keys tr");
      await tmux("send-keys", "-t", session, "Tab");
      await new Promise((r) => setTimeout(r, 1000));
      await tmux("send-keys", "-t", session, " ; spackle list -m site");
      await tmux("send-keys", "-t", session, "Tab");
      let screen = "";
      for (let i = 0; i < 30; i++) {
        await new Promise((r) => setTimeout(r, 300));
        screen = (await tmux("capture-pane", "-p", "-t", session)).stdout;
        if (screen.includes("sitecache")) break;
      }
      assert.match(screen, /spackle keys trust/);
      assert.match(screen, /spackle list -m sitecache/);
    } finally {
      await tmux("kill-session", "-t", session);
    }
  },
});
