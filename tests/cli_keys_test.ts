/** `spackle keys ...` as a user runs it, in a temporary keyring. */
import assert from "node:assert/strict";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fixture, HAVE_FIXTURES } from "./_fixtures.ts";
import { runCli } from "./_cli.ts";

function spackle(env: Record<string, string>, ...args: string[]) {
  return runCli(args, { env });
}

async function withKeyring(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const FPR = () => readFileSync(fixture("keys/FINGERPRINT"), "utf8").trim();
const t = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, ignore: !HAVE_FIXTURES, fn });

t(
  "keys trust, list --json and untrust by key id work on the SPACKLE_KEYRING directory",
  async () => {
    await withKeyring(async (dir) => {
      const env = { SPACKLE_KEYRING: join(dir, "ring") };
      let r = await spackle(env, "keys", "trust", fixture("keys/oracle-test.pub.asc"));
      assert.equal(r.code, 0, r.stderr);
      assert.ok(existsSync(join(dir, "ring", `${FPR()}.asc`)));
      r = await spackle(env, "--json", "keys", "list");
      assert.equal(r.code, 0, r.stderr);
      const doc = JSON.parse(r.stdout);
      assert.equal(doc.keyring, join(dir, "ring"));
      assert.deepEqual(doc.keys.map((k: { fingerprint: string }) => k.fingerprint), [FPR()]);
      assert.equal(doc.keys[0].algorithm, "rsa4096");
      r = await spackle(env, "keys", "trust", fixture("keys/oracle-test.sec.asc"));
      assert.equal(r.code, 2);
      assert.match(r.stderr, /secret key/);
      r = await spackle(env, "keys", "remove", FPR().slice(-16));
      assert.equal(r.code, 0, r.stderr);
      r = await spackle(env, "--json", "keys", "list");
      assert.deepEqual(JSON.parse(r.stdout).keys, []);
      r = await spackle(env, "keys", "untrust", FPR());
      assert.equal(r.code, 1);
      assert.match(r.stderr, /No trusted key/);
    });
  },
);

t("keys fetch prints a mirror's keys and trusts them only with --trust (v2 and v3)", async () => {
  await withKeyring(async (dir) => {
    for (const m of ["v2-signed", "v3-signed"]) {
      const ring = join(dir, m);
      let r = await spackle({}, "keys", "--keyring", ring, "fetch", "-m", fixture(m));
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /-----BEGIN PGP PUBLIC KEY BLOCK-----/);
      assert.ok(r.stdout.includes(FPR()));
      assert.ok(!existsSync(join(ring, `${FPR()}.asc`)), "fetched key trusted without --trust");
      r = await spackle({}, "--json", "keys", "list", "--keyring", ring, "-m", fixture(m));
      assert.equal(JSON.parse(r.stdout).keys[0].trusted, false);
      r = await spackle({}, "keys", "fetch", "--keyring", ring, "-m", fixture(m), "-o", ring + "o");
      assert.equal(r.code, 0, r.stderr);
      assert.ok(existsSync(join(ring + "o", `${FPR()}.pub`)));
      // No terminal to confirm on: --trust alone is refused, --fingerprint names the key.
      r = await spackle({}, "keys", "fetch", "--keyring", ring, "-m", fixture(m), "--trust");
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /no terminal to ask on.*--fingerprint FPR/);
      assert.ok(!existsSync(join(ring, `${FPR()}.asc`)));
      r = await spackle(
        {},
        ..."keys fetch --keyring".split(" "),
        ring,
        "-m",
        fixture(m),
        "--trust",
        "--fingerprint",
        FPR(),
      );
      assert.equal(r.code, 0, r.stderr);
      assert.ok(existsSync(join(ring, `${FPR()}.asc`)));
      r = await spackle({}, "--json", "keys", "list", "--keyring", ring, "-m", fixture(m));
      assert.equal(JSON.parse(r.stdout).keys[0].trusted, true);
    }
    const r = await spackle({}, "keys", "fetch", "--keyring", dir, "-m", fixture("v3-unsigned"));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /publishes no keys/);
  });
});

t(
  "keys create keeps a secret key (0600) that export --secret returns; --no-trust needs a file",
  async () => {
    await withKeyring(async (dir) => {
      const ring = join(dir, "ring");
      let r = await spackle(
        {},
        "--json",
        "keys",
        "create",
        "--keyring",
        ring,
        "--name",
        "CI",
        "--email",
        "ci@example.invalid",
        "--export",
        join(dir, "ci.pub"),
      );
      assert.equal(r.code, 0, r.stderr);
      const { fingerprint } = JSON.parse(r.stdout);
      assert.match(fingerprint, /^[0-9A-F]{40}$/);
      assert.equal(statSync(join(ring, "secret", `${fingerprint}.asc`)).mode & 0o777, 0o600);
      assert.match(readFileSync(join(dir, "ci.pub"), "utf8"), /PUBLIC KEY BLOCK/);
      r = await spackle({}, "keys", "export", "--keyring", ring, fingerprint, "--secret");
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /-----BEGIN PGP PRIVATE KEY BLOCK-----/);
      r = await spackle({}, "keys", "export", "--keyring", ring, fingerprint);
      assert.match(r.stdout, /-----BEGIN PGP PUBLIC KEY BLOCK-----/);
      r = await spackle({}, "keys", "list", "--keyring", ring);
      assert.match(
        r.stdout,
        new RegExp(`${fingerprint}\\s+ed25519 .*CI <ci@example.invalid> \\[secret\\]`),
      );
      r = await spackle(
        {},
        "keys",
        "create",
        "--keyring",
        ring,
        "--name",
        "x",
        "--email",
        "x@y.z",
        "--no-trust",
      );
      assert.equal(r.code, 2);
      assert.match(r.stderr, /--secret-out/);
    });
  },
);

t(
  "keys create --protect takes SPACKLE_SIGNING_PASSPHRASE, refuses without it off a terminal",
  async () => {
    await withKeyring(async (dir) => {
      const args = [
        "keys",
        "create",
        "--keyring",
        dir,
        "--name",
        "P",
        "--email",
        "p@example.invalid",
      ];
      let r = await spackle({ SPACKLE_SIGNING_PASSPHRASE: "" }, ...args, "--protect");
      assert.equal(r.code, 2);
      assert.match(r.stderr, /--protect needs SPACKLE_SIGNING_PASSPHRASE/);
      r = await spackle({ SPACKLE_SIGNING_PASSPHRASE: "pw" }, "--json", ...args, "--protect");
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout);
      assert.equal(out.protected, true);
      const { signerFromArmored } = await import("../src/sign/sign.ts");
      const sec = readFileSync(join(dir, "secret", `${out.fingerprint}.asc`), "utf8");
      await assert.rejects(signerFromArmored(sec), /protected by a passphrase/);
      assert.equal((await signerFromArmored(sec, "pw")).fingerprint, out.fingerprint);
    });
  },
);

Deno.test("the keys commands name the library's passphrase variable", async () => {
  const { PASSPHRASE_ENV } = await import("../mod.ts");
  const cli = await import("../src/cli/commands/keys.ts");
  assert.equal(cli.PASSPHRASE_ENV, PASSPHRASE_ENV);
});
