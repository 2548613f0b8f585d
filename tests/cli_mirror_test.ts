/** `spackle mirror add|list|remove` and configured names given to `-m`, as a user runs them. */
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fixture, HAVE_FIXTURES } from "./_fixtures.ts";
import { runCli } from "./_cli.ts";

/** Runs the CLI with `home` as its home and working directory, nothing else from the host. */
function spackle(home: string, ...args: string[]) {
  return runCli(args, {
    env: { HOME: home, XDG_CONFIG_HOME: join(home, "xdg") },
    clearEnv: true,
    cwd: home,
  });
}

Deno.test({
  name: "mirror add, list and remove edit the config file; -m NAME resolves through it",
  ignore: !HAVE_FIXTURES,
  fn: async () => {
    const home = await Deno.makeTempDir({ prefix: "spackle-mirror-" });
    let r = await spackle(home, "mirror", "add", "fx", fixture("v3-unsigned"), "--unsigned");
    assert.equal(r.code, 0, r.stderr);
    const cfg = join(home, "xdg/spackle/config.yaml");
    writeFileSync(cfg, "# kept\n" + readFileSync(cfg, "utf8"));
    r = await spackle(home, "mirror", "list", "--names");
    assert.equal(r.stdout, "fx\n");
    r = await spackle(home, "list", "-m", "fx");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^fooapp\s+3\.0\s+iicodpd/m);
    // signed: false implies --allow-unsigned for that mirror, as in Spack.
    r = await spackle(home, "show", "-m", "fx", "libzz");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /signature:\s+unsigned/);
    r = await spackle(home, "show", "libzz");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^libzz@1\.2\.3\/irttwv2/m);
    r = await spackle(home, "mirror", "add", "strict", fixture("v3-unsigned"));
    // A strict mirror: shown (reading is not trusting), but not fetched for use.
    r = await spackle(home, "show", "-m", "strict", "libzz");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /signature:\s+unsigned/);
    r = await spackle(home, "download", "-m", "strict", "libzz", "--to", join(home, "dl"));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /not signed and signatures are required/);
    r = await spackle(home, "mirror", "remove", "strict");
    r = await spackle(home, "--json", "mirror", "list");
    const j = JSON.parse(r.stdout);
    assert.equal(j.mirrors[0].signed, false);
    assert.equal(j.mirrors[0].fetch.url, `file://${fixture("v3-unsigned")}`);
    r = await spackle(home, "mirror", "add", "fx", "/elsewhere");
    assert.equal(r.code, 2);
    assert.match(r.stderr, /already configured/);
    r = await spackle(home, "mirror", "remove", "fx");
    assert.equal(r.code, 0, r.stderr);
    assert.match(readFileSync(cfg, "utf8"), /# kept/);
    r = await spackle(home, "list", "-m", "fx");
    assert.equal(r.code, 2);
    assert.match(r.stderr, /Unknown mirror "fx"/);
  },
});

Deno.test({
  name: "Spack's mirrors.yaml (user scope and --mirrors-file) names mirrors for -m",
  ignore: !HAVE_FIXTURES,
  fn: async () => {
    const home = await Deno.makeTempDir({ prefix: "spackle-mirror-" });
    Deno.mkdirSync(join(home, ".spack"));
    writeFileSync(
      join(home, ".spack/mirrors.yaml"),
      `mirrors:\n  spackside:\n    url: ${fixture("v2-unsigned")}\n    signed: false\n`,
    );
    const extra = join(home, "extra.yaml");
    writeFileSync(extra, `mirrors:\n  flagged: ${fixture("v3-unsigned")}\n`);
    let r = await spackle(home, "--mirrors-file", extra, "mirror", "list");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /flagged\s+command_line\s+yes/);
    assert.match(r.stdout, /spackside\s+user\s+no/);
    r = await spackle(home, "--mirrors-file", extra, "list", "-m", "flagged", "libzz");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^libzz\s+1\.2\.3/m);
    r = await spackle(home, "list", "-m", "spackside");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /libzz/);
  },
});

Deno.test({
  name: "settings fill options left unset: install_root (or SPACKLE_ROOT) for install --root",
  ignore: !HAVE_FIXTURES,
  fn: async () => {
    const home = await Deno.makeTempDir({ prefix: "spackle-settings-" });
    Deno.mkdirSync(join(home, "xdg/spackle"), { recursive: true });
    writeFileSync(
      join(home, "xdg/spackle/config.yaml"),
      `# site settings\ninstall_root: ${home}/tree\njobs: 2\nmirrors:\n  fx: ${
        fixture("v3-unsigned")
      }\n`,
    );
    const r = await spackle(home, "install", "-m", "fx", "--allow-unsigned", "libzz");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^libzz@1\\.2\\.3/irttwv2 ${home}/tree/`, "m"));
    // A flag still wins over the setting.
    const r2 = await spackle(
      home,
      "install",
      "-m",
      "fx",
      "--allow-unsigned",
      "--root",
      `${home}/other`,
      "libzz",
    );
    assert.equal(r2.code, 0, r2.stderr);
    assert.match(r2.stdout, new RegExp(`${home}/other/`));
    const c = await spackle(home, "--json", "config");
    assert.equal(c.code, 0, c.stderr);
    const j = JSON.parse(c.stdout);
    assert.equal(j.config, join(home, "xdg/spackle/config.yaml"));
    assert.equal(j.installRoot, join(home, "tree"));
    assert.equal(j.jobs, 2);
    assert.deepEqual(j.mirrors, ["fx"]);
    assert.deepEqual(j.spackScopes.map((s: { name: string }) => s.name), ["user", "system"]);
  },
});

Deno.test({
  name: "a configured name given to a writing command (sync, update-index) writes to its push URL",
  ignore: !HAVE_FIXTURES,
  fn: async () => {
    const home = await Deno.makeTempDir({ prefix: "spackle-mirror-push-" });
    const fetchDir = join(home, "fetch-side"), pushDir = join(home, "push-side");
    let r = await spackle(
      home,
      "mirror",
      "add",
      "site",
      fetchDir,
      "--push-url",
      pushDir,
      "--unsigned",
    );
    assert.equal(r.code, 0, r.stderr);
    r = await spackle(home, "mirror", "add", "fx", fixture("v3-unsigned"), "--unsigned");
    assert.equal(r.code, 0, r.stderr);
    r = await spackle(home, "sync", "fx", "site");
    assert.equal(r.code, 0, r.stderr);
    assert.equal(existsSync(fetchDir), false, "nothing is written to the fetch side");
    r = await spackle(home, "list", "-m", pushDir);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split("\n").map((l) => l.split(/\s+/)[0]), [
      "fooapp",
      "foodata",
      "libfoo",
      "libzz",
    ]);
    r = await spackle(home, "update-index", "site");
    assert.equal(r.code, 0, r.stderr);
    assert.equal(existsSync(fetchDir), false);
    // Reading by that name reads the fetch side, which does not exist.
    r = await spackle(home, "list", "-m", "site");
    assert.notEqual(r.code, 0);
    assert.ok(r.stderr.includes(fetchDir), r.stderr);
  },
});

Deno.test("connect_timeout and read_timeout come from the config file; a bad value is named", async () => {
  const home = await Deno.makeTempDir({ prefix: "spackle-timeouts-" });
  const cfg = join(home, "spackle.yaml");
  writeFileSync(cfg, "connect_timeout: 5\nread_timeout: 0\n");
  let r = await spackle(home, "-C", cfg, "--json", "config");
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.connectTimeout, 5);
  assert.equal(j.readTimeout, 0);
  writeFileSync(cfg, "connect_timeout: soon\n");
  r = await spackle(home, "-C", cfg, "config");
  assert.equal(r.code, 1);
  assert.match(r.stderr, /connect_timeout must be a number of seconds/);
});

Deno.test({
  name: "sync to a bare word that is neither configured nor existing creates that directory; " +
    "trust is enforced by default: no keys is refused, unsigned entries are left (exit 3)",
  ignore: !HAVE_FIXTURES,
  fn: async () => {
    const home = await Deno.makeTempDir({ prefix: "spackle-sync-cli-" });
    const run = (...args: string[]) => spackle(home, ...args);
    const key = fixture("keys/oracle-test.pub.asc");
    let r = await run("sync", fixture("v3-signed"), "newmirror", "-k", key);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(existsSync(join(home, "newmirror", "v3", "layout.json")));
    // Without any trusted key nothing could be verified: refused before anything is copied.
    r = await run("sync", fixture("v3-signed"), "other");
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no trusted keys are available/);
    assert.equal(existsSync(join(home, "other")), false, "nothing is created");
    r = await run("sync", fixture("v3-signed"), "other", "--require-signatures");
    assert.equal(r.code, 2);
    r = await run("sync", fixture("v3-signed"), "checked", "-k", key, "--require-signatures");
    assert.equal(r.code, 0, r.stderr);
    r = await run("sync", fixture("v3-unsigned"), "strict", "-k", key);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /not signed and signatures are required/);
    r = await run("sync", fixture("v3-unsigned"), "strict", "-k", key, "--require-signatures");
    assert.equal(r.code, 3, r.stderr);
    // Reading still needs a name, a path or a URL: an unknown bare word is an error.
    r = await run("list", "-m", "nosuchmirror");
    assert.equal(r.code, 2);
    assert.match(r.stderr, /Unknown mirror "nosuchmirror"/);
    await Deno.remove(home, { recursive: true });
  },
});
