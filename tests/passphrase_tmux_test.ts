/**
 * The passphrase prompt of `spackle push --key FILE` in a real terminal (tmux): what is typed is
 * not echoed, the right passphrase signs, a wrong one fails with a clear message.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fixture, HAVE_FIXTURES, REPO_ROOT } from "./_fixtures.ts";
import { TMUX, tmux, waitFor } from "./_tmux.ts";

const PASS = "s3cret-Pass-4711";

/** Every spec manifest under a v3 mirror directory. */
function manifests(mirror: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.name.endsWith(".spec.manifest.json")) out.push(join(d, e.name));
    }
  };
  walk(join(mirror, "v3/manifests/spec"));
  return out;
}

Deno.test({
  name: "push --key with a protected key asks for the passphrase on the terminal without echo",
  ignore: !TMUX || !HAVE_FIXTURES,
  async fn() {
    execFileSync("bash", [join(REPO_ROOT, "scripts/compile")], { stdio: "ignore" });
    const bin = join(REPO_ROOT, "dist/spackle");
    const dir = await Deno.makeTempDir({ prefix: "spackle-pass-" });
    const session = `spackle-pass-${Deno.pid}`;
    const env = { ...Deno.env.toObject(), NO_COLOR: "1", SPACKLE_KEYRING: join(dir, "keyring") };
    delete (env as Record<string, string>).SPACKLE_SIGNING_PASSPHRASE;
    try {
      const key = join(dir, "signing.sec.asc");
      execFileSync(bin, [
        "keys",
        "create",
        "--name",
        "Test Signer",
        "--email",
        "signer@example.org",
        "--secret-out",
        key,
        "--no-trust",
        "--protect",
      ], { env: { ...env, SPACKLE_SIGNING_PASSPHRASE: PASS }, stdio: "ignore" });
      assert.match(readFileSync(key, "utf8"), /BEGIN PGP PRIVATE KEY BLOCK/);
      const root = join(dir, "root");
      execFileSync(bin, [
        "install",
        "-m",
        fixture("v3-unsigned"),
        "--allow-unsigned",
        "--root",
        root,
        "libzz",
      ], { env, stdio: "ignore" });

      const run = (mirror: string, typed: string) => {
        const cmd = `'${bin}' push --root '${root}' --key '${key}' '${mirror}' libzz; echo EXIT=$?`;
        tmux("new-session", "-d", "-s", session, "-x", "200", "-y", "50", "bash", "--norc");
        for (const [k, v] of Object.entries(env)) {
          if (["NO_COLOR", "SPACKLE_KEYRING", "PATH", "HOME"].includes(k)) {
            tmux("send-keys", "-t", session, `export ${k}='${v}'`, "Enter");
          }
        }
        tmux("send-keys", "-t", session, "unset SPACKLE_SIGNING_PASSPHRASE; clear", "Enter");
        tmux("send-keys", "-t", session, cmd, "Enter");
        return async () => {
          await waitFor(session, /Passphrase for the signing key .*signing\.sec\.asc: /);
          tmux("send-keys", "-t", session, "-l", typed);
          tmux("send-keys", "-t", session, "Enter");
          const screen = await waitFor(session, /EXIT=\d+/);
          tmux("kill-session", "-t", session);
          return screen;
        };
      };

      const good = await run(join(dir, "m1"), PASS)();
      assert.match(good, /EXIT=0/, good);
      assert.ok(!good.includes(PASS), `the passphrase was echoed:\n${good}`);
      const ms = manifests(join(dir, "m1"));
      assert.equal(ms.length, 1);
      assert.match(readFileSync(ms[0], "utf8"), /^-----BEGIN PGP SIGNED MESSAGE-----/);

      const bad = await run(join(dir, "m2"), "not-the-passphrase")();
      assert.match(bad, /EXIT=[12]/, bad);
      assert.match(bad, /passphrase/i);
      assert.ok(!bad.includes("not-the-passphrase"), bad);
      assert.equal(existsSync(join(dir, "m2", "v3", "manifests")), false);
    } finally {
      try {
        tmux("kill-session", "-t", session);
      } catch { /* not running */ }
      await Deno.remove(dir, { recursive: true });
    }
  },
});
