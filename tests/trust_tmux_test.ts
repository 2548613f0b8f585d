/**
 * `keys fetch --trust` in a real terminal (tmux): each key a mirror publishes is shown with its
 * fingerprint and user ids (a look-alike spelled out) and trusted only when the user says yes.
 */
import assert from "node:assert/strict";
import { cpSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fixture, HAVE_FIXTURES, REPO_ROOT } from "./_fixtures.ts";
import { GpgHome, HAVE_GPG } from "./_gpg.ts";
import { TMUX, tmux, waitFor } from "./_tmux.ts";

Deno.test({
  name: "keys fetch --trust asks for each key on the terminal and trusts only those confirmed",
  ignore: !TMUX || !HAVE_FIXTURES || !HAVE_GPG,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "spackle-fetch-tty-" });
    const g = new GpgHome();
    const session = `spackle-fetch-${Deno.pid}`;
    try {
      const real = readFileSync(fixture("keys/FINGERPRINT"), "utf8").trim();
      const evil = g.createKey("Sp\u0430ck Oracle Test Key <oracle-test@example.invalid>", {
        time: Math.floor(Date.now() / 1000) - 3600,
      });
      const m = join(dir, "mirror");
      cpSync(fixture("v2-signed"), m, { recursive: true });
      const pgp = join(m, "build_cache", "_pgp");
      writeFileSync(join(pgp, `${evil}.pub`), g.exportPublic(evil));
      writeFileSync(join(pgp, "index.json"), JSON.stringify({ keys: { [real]: {}, [evil]: {} } }));
      const ring = join(dir, "keyring");
      const cmd = `NO_COLOR=1 SPACKLE_KEYRING='${ring}' '${Deno.execPath()}' run -A '${
        join(REPO_ROOT, "cli.ts")
      }' keys fetch -m '${m}' --trust; echo EXIT=$?`;
      tmux("new-session", "-d", "-s", session, "-x", "200", "-y", "50", "bash", "--norc");
      tmux("send-keys", "-t", session, "clear", "Enter");
      tmux("send-keys", "-t", session, cmd, "Enter");
      let screen = await waitFor(
        session,
        /Trust this key for signatures on build caches\? \[y\/N\]/,
      );
      assert.match(
        screen,
        /fingerprint: 4D78 2899 AF51 B814 967A C6DE 6EE8 7675 E657 CA38/,
      );
      tmux("send-keys", "-t", session, "y", "Enter");
      screen = await waitFor(session, /Sp\\u\{430\}ck Oracle Test Key[\s\S]*\[y\/N\] $/m);
      tmux("send-keys", "-t", session, "n", "Enter");
      screen = await waitFor(session, /EXIT=\d+/);
      assert.match(screen, /EXIT=0/);
      assert.match(screen, new RegExp(`Trusted ${real}`));
      const trusted = readdirSync(ring).filter((n) => n.endsWith(".asc"));
      assert.deepEqual(trusted, [`${real}.asc`]);
    } finally {
      try {
        tmux("kill-session", "-t", session);
      } catch { /* already gone */ }
      g.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
