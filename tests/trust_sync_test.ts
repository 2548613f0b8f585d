/**
 * `sync` and `bundle` enforce trust as install and download do: signatures verified against
 * the keyring and -k; unsigned entries and keys not trusted left (exit 3) unless
 * --allow-unsigned, which admits them with one warning per entry (kept in --json); a signature
 * that fails is never copied, whatever the flags.
 */
import assert from "node:assert/strict";
import { cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fixture, HAVE_FIXTURES } from "./_fixtures.ts";
import { runCli } from "./_cli.ts";
import { GpgHome, HAVE_GPG } from "./_gpg.ts";

const KEY = () => fixture("keys/oracle-test.pub.asc");

async function withTmp(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "spackle-trust-sync-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const spackle = (dir: string, ...args: string[]) =>
  runCli(args, {
    env: {
      SPACKLE_KEYRING: join(dir, "keyring"),
      SPACKLE_CONFIG: join(dir, "config.yaml"),
      XDG_CONFIG_HOME: join(dir, "xdg"),
    },
  });

/** The spec manifests a v3 mirror holds, as file names. */
function specManifests(mirror: string): string[] {
  const d = join(mirror, "v3", "manifests", "spec");
  if (!existsSync(d)) return [];
  return readdirSync(d).flatMap((n) => readdirSync(join(d, n))).sort();
}

const t = (name: string, fn: () => Promise<void>, ignore = !HAVE_FIXTURES) =>
  Deno.test({ name, ignore, fn });

t(
  "sync: an unsigned source is refused by default and admitted with a warning per entry by --allow-unsigned",
  async () => {
    await withTmp(async (dir) => {
      const dst = join(dir, "dst");
      // No trusted key at all: nothing could be verified, refused before anything is written.
      let r = await spackle(dir, "sync", fixture("v3-unsigned"), dst);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /no trusted keys are available.*--allow-unsigned/s);
      assert.equal(existsSync(dst), false);
      // With a trusted key, every unsigned entry is left (exit 3) and listed.
      r = await spackle(dir, "sync", fixture("v3-unsigned"), dst, "-k", KEY());
      assert.equal(r.code, 3, r.stderr);
      assert.equal(r.stderr.match(/left .*not signed and signatures are required/g)?.length, 4);
      assert.deepEqual(specManifests(dst), []);
      // --allow-unsigned: copied, one warning line per entry, in --json too.
      r = await spackle(dir, "sync", fixture("v3-unsigned"), dst, "--allow-unsigned");
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr.match(/: unsigned, admitted by --allow-unsigned/g)?.length, 4);
      assert.equal(specManifests(dst).length, 4);
      r = await spackle(
        dir,
        "--json",
        "sync",
        fixture("v3-unsigned"),
        join(dir, "dst2"),
        "--allow-unsigned",
      );
      assert.equal(r.code, 0, r.stderr);
      const doc = JSON.parse(r.stdout);
      assert.equal(doc.warnings.length, 4);
      for (const w of doc.warnings) assert.match(w, /unsigned, admitted by --allow-unsigned/);
      assert.equal(doc.entries.filter((e: { warning?: string }) => e.warning).length, 4);
    });
  },
);

t("sync: a v2 source being migrated follows the same rule", async () => {
  await withTmp(async (dir) => {
    const dst = join(dir, "dst");
    let r = await spackle(dir, "sync", fixture("v2-unsigned"), dst, "-k", KEY());
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stderr.match(/left .*signatures are required/g)?.length, 4, r.stderr);
    assert.deepEqual(specManifests(dst), []);
    r = await spackle(dir, "--json", "sync", fixture("v2-unsigned"), dst, "--allow-unsigned");
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.entries.filter((e: { status: string }) => e.status === "migrated").length, 4);
    assert.equal(doc.warnings.length, 4);
    assert.equal(specManifests(dst).length, 4);
    // A signed v2 source with its key migrates without warnings.
    r = await spackle(dir, "--json", "sync", fixture("v2-signed"), join(dir, "v2s"), "-k", KEY());
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout).warnings, []);
  });
});

t(
  "bundle: an unsigned source is refused by default and admitted with warnings by --allow-unsigned",
  async () => {
    await withTmp(async (dir) => {
      const out = join(dir, "f.bundle");
      let r = await spackle(dir, "bundle", "fooapp", "-m", fixture("v3-unsigned"), "-o", out);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /no trusted keys are available/);
      r = await spackle(
        dir,
        "bundle",
        "fooapp",
        "-m",
        fixture("v3-unsigned"),
        "-o",
        out,
        "-k",
        KEY(),
      );
      assert.notEqual(r.code, 0, r.stderr);
      assert.match(r.stderr, /no entries were copied.*not signed and signatures are required/s);
      assert.equal(existsSync(out), false, "no bundle is written");
      r = await spackle(
        dir,
        "--json",
        "bundle",
        "fooapp",
        "-m",
        fixture("v3-unsigned"),
        "-o",
        out,
        "--allow-unsigned",
      );
      assert.equal(r.code, 0, r.stderr);
      const doc = JSON.parse(r.stdout);
      assert.equal(doc.specs, 4);
      assert.equal(doc.warnings.length, 4);
      for (const w of doc.warnings) assert.match(w, /unsigned, admitted by --allow-unsigned/);
    });
  },
);

/** libzz's signed manifest edited to name foodata's tarball, with its digest and size. */
function tamper(mirror: string): string {
  const dir = (n: string) => join(mirror, "v3", "manifests", "spec", n);
  const file = (n: string) => join(dir(n), readdirSync(dir(n))[0]);
  const rec = (n: string) => {
    const text = readFileSync(file(n), "utf8");
    const body = text.slice(text.indexOf("{"), text.indexOf("-----BEGIN PGP SIGNATURE"));
    return (JSON.parse(body) as {
      data: { mediaType: string; checksum: string; contentLength: number }[];
    }).data.find((r) => r.mediaType.includes("install"))!;
  };
  const own = rec("libzz"), other = rec("foodata");
  const text = readFileSync(file("libzz"), "utf8");
  const edited = text.replace(own.checksum, other.checksum)
    .replace(`"contentLength":${own.contentLength}`, `"contentLength":${other.contentLength}`);
  assert.notEqual(edited, text);
  writeFileSync(file("libzz"), edited);
  return readdirSync(dir("libzz"))[0];
}

t(
  "a tampered signed manifest is never copied, even with --allow-unsigned (sync and bundle)",
  async () => {
    await withTmp(async (dir) => {
      const m = join(dir, "mirror");
      cpSync(fixture("v3-signed"), m, { recursive: true });
      const libzz = tamper(m);
      for (const flags of [[], ["--allow-unsigned"]]) {
        const dst = join(dir, `dst${flags.length}`);
        const r = await spackle(dir, "--json", "sync", m, dst, "-k", KEY(), ...flags);
        assert.equal(r.code, 3, r.stderr);
        const doc = JSON.parse(r.stdout);
        const left = doc.entries.filter((e: { status: string }) => e.status === "left");
        assert.equal(left.length, 1);
        assert.ok(left[0].path.endsWith(libzz));
        assert.match(left[0].reason, /signature/i);
        assert.deepEqual(doc.warnings, []);
        assert.ok(!specManifests(dst).includes(libzz), "the tampered manifest is not copied");
        assert.equal(specManifests(dst).length, 3);
      }
      const out = join(dir, "f.bundle");
      let r = await spackle(
        dir,
        "bundle",
        "fooapp",
        "-m",
        m,
        "-o",
        out,
        "-k",
        KEY(),
        "--allow-unsigned",
      );
      assert.equal(r.code, 3, r.stderr);
      assert.match(r.stderr, /left .*libzz.*signature/i);
      r = await spackle(dir, "list", "-m", out);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(!/libzz/.test(r.stdout), r.stdout);
    });
  },
);

t(
  "an entry signed by a key not in the keyring is left by default, admitted with a warning by --allow-unsigned",
  async () => {
    await withTmp(async (dir) => {
      // The keyring trusts another key than the one that signed the mirror.
      const g = new GpgHome();
      let other: string;
      try {
        const fpr = g.createKey("Other <other@example.org>", {
          time: Math.floor(Date.now() / 1000) - 60,
          noSubkey: true,
        });
        other = join(dir, "other.pub.asc");
        writeFileSync(other, g.exportPublic(fpr));
      } finally {
        g.close();
      }
      const dst = join(dir, "dst");
      let r = await spackle(dir, "sync", fixture("v3-signed"), dst, "-k", other);
      assert.equal(r.code, 3, r.stderr);
      assert.equal(r.stderr.match(/left .*not trusted/g)?.length, 4, r.stderr);
      assert.deepEqual(specManifests(dst), []);
      r = await spackle(
        dir,
        "--json",
        "sync",
        fixture("v3-signed"),
        dst,
        "-k",
        other,
        "--allow-unsigned",
      );
      assert.equal(r.code, 0, r.stderr);
      const doc = JSON.parse(r.stdout);
      assert.equal(doc.warnings.length, 4);
      const fp = readFileSync(fixture("keys/FINGERPRINT"), "utf8").trim();
      for (const w of doc.warnings) {
        assert.match(w, /signed by key .*which is not trusted, admitted by --allow-unsigned/);
        assert.ok(w.includes(fp.slice(-16)), w);
      }
      // bundle: left by default.
      r = await spackle(
        dir,
        "bundle",
        "fooapp",
        "-m",
        fixture("v3-signed"),
        "-o",
        join(dir, "f.bundle"),
        "-k",
        other,
      );
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /not trusted/);
      assert.equal(existsSync(join(dir, "f.bundle")), false);
    });
  },
  !HAVE_FIXTURES || !HAVE_GPG,
);
