/**
 * The keyring cannot be subverted, tried from the command line: created 0700 under umask 000,
 * entries that are symbolic links or belong to another user and keyrings others can write
 * refused, secret keys never written into a file or link someone prepared, `keys fetch
 * --trust` never trusting an attacker's key unasked (look-alike user ids spelled out), and
 * `verify --key` agreeing with install on a key whose signing subkey expired.
 */
import assert from "node:assert/strict";
import {
  chownSync,
  cpSync,
  existsSync,
  lstatSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { fixture, HAVE_FIXTURES, REPO_ROOT } from "./_fixtures.ts";
import { GpgHome, HAVE_GPG } from "./_gpg.ts";

const IS_ROOT = process.getuid?.() === 0;
const NOW = Math.floor(Date.now() / 1000);
const T0 = NOW - 10 * 86400;
const KEY = () => fixture("keys/oracle-test.pub.asc");
const FPR = () => readFileSync(fixture("keys/FINGERPRINT"), "utf8").trim();

async function withTmp(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "spackle-keyring-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Runs the CLI through `sh` so that the umask can be set (`umask` given). */
async function spackle(dir: string, args: string[], opts: { umask?: string } = {}) {
  const cli = [Deno.execPath(), "run", "-A", join(REPO_ROOT, "cli.ts"), ...args];
  const quoted = cli.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(" ");
  const p = await new Deno.Command("sh", {
    args: ["-c", `umask ${opts.umask ?? "022"}; exec ${quoted}`],
    env: {
      NO_COLOR: "1",
      SPACKLE_KEYRING: join(dir, "keyring"),
      SPACKLE_CONFIG: join(dir, "config.yaml"),
      XDG_CONFIG_HOME: join(dir, "xdg"),
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: p.code, stdout: dec.decode(p.stdout), stderr: dec.decode(p.stderr) };
}

const mode = (p: string) => (statSync(p).mode & 0o777).toString(8);

Deno.test({
  name: "keys trust under umask 000 creates the keyring 0700",
  ignore: !HAVE_FIXTURES,
  async fn() {
    await withTmp(async (dir) => {
      const r = await spackle(dir, ["keys", "trust", KEY()], { umask: "000" });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(mode(join(dir, "keyring")), "700");
      assert.equal(mode(join(dir, "keyring", `${FPR()}.asc`)), "644");
    });
  },
});

Deno.test("under umask 000 the keyring is 0700, its secret keys 0600", async () => {
  await withTmp(async (dir) => {
    const r = await spackle(dir, [
      "keys",
      "create",
      "--name",
      "Umask",
      "--email",
      "u@example.invalid",
      "--secret-out",
      join(dir, "out.sec"),
    ], { umask: "000" });
    assert.equal(r.code, 0, r.stderr);
    const ring = join(dir, "keyring");
    assert.equal(mode(ring), "700");
    assert.equal(mode(join(ring, "secret")), "700");
    const fpr = r.stdout.trim();
    assert.equal(mode(join(ring, "secret", `${fpr}.asc`)), "600");
    assert.equal(mode(join(ring, `${fpr}.asc`)), "644");
    assert.equal(mode(join(dir, "out.sec")), "600");
  });
});

Deno.test("a secret key is never written into an existing file or through a link; --force replaces atomically", async () => {
  await withTmp(async (dir) => {
    const victim = join(dir, "victim");
    writeFileSync(victim, "someone else's file\n", { mode: 0o644 });
    const link = join(dir, "link.sec");
    symlinkSync(victim, link);
    const create = (out: string, ...more: string[]) =>
      spackle(dir, [
        "keys",
        "create",
        "--name",
        "S",
        "--email",
        "s@example.invalid",
        "--secret-out",
        out,
        ...more,
      ]);
    for (const out of [link, victim]) {
      const r = await create(out);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /already exists.*--force/);
    }
    assert.equal(readFileSync(victim, "utf8"), "someone else's file\n");
    assert.ok(!existsSync(join(dir, "keyring")), "nothing half-done: no key kept");
    const made = await create(join(dir, "fresh.sec"));
    assert.equal(made.code, 0, made.stderr);
    const fpr = made.stdout.trim();
    // keys export --secret -o: same rules.
    const prepared = join(dir, "prepared.sec");
    writeFileSync(prepared, "", { mode: 0o644 });
    let r = await spackle(dir, ["keys", "export", fpr, "--secret", "-o", prepared]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(readFileSync(prepared, "utf8"), "");
    r = await spackle(dir, ["keys", "export", fpr, "--secret", "-o", prepared, "--force"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(mode(prepared), "600");
    assert.match(readFileSync(prepared, "utf8"), /BEGIN PGP PRIVATE KEY BLOCK/);
    // --force replaces the link itself, never what it points to.
    r = await create(link, "--force");
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!lstatSync(link).isSymbolicLink());
    assert.equal(mode(link), "600");
    assert.equal(readFileSync(victim, "utf8"), "someone else's file\n");
  });
});

Deno.test({
  name:
    "keyring entries that are links or belong to another user, and writable keyrings, are refused",
  ignore: !HAVE_FIXTURES,
  async fn() {
    await withTmp(async (dir) => {
      const ring = join(dir, "keyring");
      let r = await spackle(dir, ["keys", "trust", KEY()]);
      assert.equal(r.code, 0, r.stderr);
      const entry = join(ring, `${FPR()}.asc`);
      const install = () =>
        spackle(dir, [
          "install",
          "-m",
          fixture("v3-signed"),
          "--root",
          join(dir, "root"),
          "libzz",
        ]);
      // A key file that is a link to a file elsewhere.
      cpSync(entry, join(dir, "elsewhere.asc"));
      Deno.removeSync(entry);
      symlinkSync(join(dir, "elsewhere.asc"), entry);
      r = await spackle(dir, ["keys", "list"]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /Refusing the keyring entry ".*\.asc": it is a symbolic link/);
      r = await install();
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /symbolic link/);
      Deno.removeSync(entry);
      cpSync(join(dir, "elsewhere.asc"), entry);
      // A keyring others can write into.
      Deno.chmodSync(ring, 0o777);
      r = await spackle(dir, ["keys", "list"]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /unsafe permissions \(mode 777\)/);
      r = await install();
      assert.notEqual(r.code, 0);
      Deno.chmodSync(ring, 0o700);
      r = await install();
      assert.equal(r.code, 0, r.stderr);
      if (IS_ROOT) {
        // A key dropped there by another user.
        chownSync(entry, 65534, 65534);
        r = await spackle(dir, ["keys", "list"]);
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, /belongs to user 65534/);
      }
    });
  },
});

/** A copy of v2-signed that also publishes `extra` armored keys. */
function publishing(dir: string, extra: Record<string, string>): string {
  const m = join(dir, "mirror");
  cpSync(fixture("v2-signed"), m, { recursive: true });
  const pgp = join(m, "build_cache", "_pgp");
  const index = JSON.parse(readFileSync(join(pgp, "index.json"), "utf8"));
  for (const [fpr, armored] of Object.entries(extra)) {
    writeFileSync(join(pgp, `${fpr}.pub`), armored);
    index.keys[fpr] = {};
  }
  writeFileSync(join(pgp, "index.json"), JSON.stringify(index));
  return m;
}

Deno.test({
  name:
    "keys fetch --trust never trusts a mirror's attacker key unasked; look-alike ids are spelled out",
  ignore: !HAVE_FIXTURES || !HAVE_GPG,
  async fn() {
    const g = new GpgHome();
    try {
      await withTmp(async (dir) => {
        // "Spаck" with a Cyrillic а (U+0430): looks like the real key's owner.
        const evil = g.createKey("Sp\u0430ck Build Cache <maintainers@spack.io>", { time: T0 });
        const m = publishing(dir, { [evil]: g.exportPublic(evil) });
        let r = await spackle(dir, ["keys", "fetch", "-m", m]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, new RegExp(`# ${evil} Sp\\\\u\\{430\\}ck Build Cache`));
        r = await spackle(dir, ["keys", "list", "-m", m]);
        assert.match(r.stdout, /Sp\\u\{430\}ck/);
        // No terminal: nothing is trusted without --fingerprint or --yes.
        r = await spackle(dir, ["keys", "fetch", "-m", m, "--trust"]);
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, /--fingerprint FPR.*--yes/);
        assert.ok(
          !existsSync(join(dir, "keyring")) || readdirSync(join(dir, "keyring")).length === 0,
        );
        // A key id is not enough (it can be forged); the full fingerprint is.
        r = await spackle(dir, [
          "keys",
          "fetch",
          "-m",
          m,
          "--trust",
          "--fingerprint",
          FPR().slice(-16),
        ]);
        assert.equal(r.code, 2, r.stderr);
        r = await spackle(dir, ["keys", "fetch", "-m", m, "--trust", "--fingerprint", FPR()]);
        assert.equal(r.code, 0, r.stderr);
        const ring = readdirSync(join(dir, "keyring")).filter((n) => n.endsWith(".asc"));
        assert.deepEqual(ring, [`${FPR()}.asc`]);
        r = await spackle(dir, [
          "keys",
          "fetch",
          "-m",
          m,
          "--trust",
          "--fingerprint",
          "0".repeat(40),
        ]);
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, /does not publish the key 0{40}/);
      });
    } finally {
      g.close();
    }
  },
});

Deno.test({
  name: "verify --key and install agree: a mirror signed by an expired subkey is refused by both",
  ignore: !HAVE_FIXTURES || !HAVE_GPG,
  async fn() {
    const g = new GpgHome();
    try {
      await withTmp(async (dir) => {
        const fpr = g.createKey("Short Lived <short@example.invalid>", {
          time: T0,
          subExpire: "1d",
        });
        const m = join(dir, "mirror");
        cpSync(fixture("v3-unsigned"), m, { recursive: true });
        const d = join(m, "v3", "manifests", "spec");
        for (const name of readdirSync(d)) {
          for (const f of readdirSync(join(d, name))) {
            const p = join(d, name, f);
            writeFileSync(p, g.clearsign(readFileSync(p, "utf8"), fpr, T0 + 3600));
          }
        }
        const pub = join(dir, "short.pub");
        writeFileSync(pub, g.exportPublic(fpr));
        const v = await spackle(dir, ["--json", "verify", m, "--key", pub]);
        assert.notEqual(v.code, 0, v.stdout);
        assert.match(v.stdout, /subkey [0-9A-F]{16} of key [0-9A-F]{40}, which expired/);
        const i = await spackle(dir, [
          "install",
          "-m",
          m,
          "--root",
          join(dir, "root"),
          "-k",
          pub,
          "libzz",
        ]);
        assert.equal(i.code, 1, i.stderr);
        assert.match(i.stderr, /which expired/);
        // Reading is not trusting: show displays it, refused signature and all, exit 0.
        const s = await spackle(dir, ["show", "-m", m, "-k", pub, "libzz"]);
        assert.equal(s.code, 0, s.stderr);
        assert.match(s.stdout, /BAD SIGNATURE: .*which expired/);
      });
    } finally {
      g.close();
    }
  },
});
