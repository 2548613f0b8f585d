/**
 * The mirror commands on an https:// source (nginx serving the fixtures over TLS with the test
 * CA), as a user runs them: sync to a directory, bundle, then install from the bundle. Ignored
 * when the https test service is not running (SPACKLE_TEST_HTTPS_URL, SPACKLE_TEST_CA_FILE).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fixture, HAVE_FIXTURES } from "./_fixtures.ts";
import { runCli } from "./_cli.ts";
import { runProgram } from "./_run.ts";

const HTTPS_URL = Deno.env.get("SPACKLE_TEST_HTTPS_URL");
const CA_FILE = Deno.env.get("SPACKLE_TEST_CA_FILE");
const ignore = !HAVE_FIXTURES || !HTTPS_URL || !CA_FILE;
const KEY = () => fixture("keys/oracle-test.pub.asc");

function spackle(...args: string[]) {
  return runCli(["--ca-file", CA_FILE!, ...args], {
    env: { NO_PROXY: "127.0.0.1,localhost", SPACKLE_KEYRING: "/nonexistent" },
  });
}

const MANIFEST =
  "v3/manifests/spec/fooapp/fooapp-3.0-iicodpd5dtmh5ijlchcoay25frkfkyuv.spec.manifest.json";

Deno.test({
  name: "sync from an https v3 mirror copies it verbatim; bundle from https installs",
  ignore,
  async fn() {
    const d = await Deno.makeTempDir({ prefix: "spackle-https-cmd-" });
    try {
      const src = `${HTTPS_URL}v3-signed/`;
      let r = await spackle("--json", "sync", src, join(d, "copy"), "--key", KEY());
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).indexSpecs, 4);
      assert.deepEqual(
        readFileSync(join(d, "copy", MANIFEST)),
        readFileSync(fixture("v3-signed", MANIFEST)),
      );
      r = await spackle("verify", join(d, "copy"), "--key", KEY(), "--require-signatures");
      assert.equal(r.code, 0, r.stdout + r.stderr);

      const bundle = join(d, "fooapp.bundle");
      r = await spackle("bundle", "fooapp", "-m", src, "-o", bundle, "--key", KEY());
      assert.equal(r.code, 0, r.stderr);
      r = await spackle(
        "install",
        "-m",
        bundle,
        "--key",
        KEY(),
        "--root",
        join(d, "root"),
        "fooapp",
      );
      assert.equal(r.code, 0, r.stderr);
      const app = join(d, "root", "linux-x86_64", "fooapp-3.0-iicodpd5dtmh5ijlchcoay25frkfkyuv");
      const out = runProgram(join(app, "bin", "fooapp"));
      assert.equal(out.code, 0, out.stderr);
      assert.ok(out.stdout.includes(app));
    } finally {
      await Deno.remove(d, { recursive: true });
    }
  },
});

Deno.test({
  name: "sync from an https v2 mirror migrates it to v3",
  ignore,
  async fn() {
    const d = await Deno.makeTempDir({ prefix: "spackle-https-v2-" });
    try {
      const r = await spackle(
        "--json",
        "sync",
        `${HTTPS_URL}v2-signed/`,
        join(d, "v3"),
        "--key",
        KEY(),
      );
      assert.equal(r.code, 0, r.stderr);
      const l = await spackle("list", "-m", join(d, "v3"));
      assert.equal(l.code, 0, l.stderr);
      assert.deepEqual(l.stdout.trim().split("\n").map((x) => x.split(/\s+/)[0]), [
        "fooapp",
        "foodata",
        "libfoo",
        "libzz",
      ]);
    } finally {
      await Deno.remove(d, { recursive: true });
    }
  },
});
