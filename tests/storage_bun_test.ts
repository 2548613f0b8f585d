/** The https store under Bun (the executable's runtime): CA bundle and CONNECT proxy. */
import assert from "node:assert/strict";
import { statSync } from "node:fs";
import { join } from "node:path";
import { fixture, HAVE_FIXTURES, REPO_ROOT } from "./_fixtures.ts";

const HTTPS_URL = Deno.env.get("SPACKLE_TEST_HTTPS_URL");
const CA_FILE = Deno.env.get("SPACKLE_TEST_CA_FILE");
const BUN = join(REPO_ROOT, "node_modules/.bin/bun");
const haveBun = (() => {
  try {
    return statSync(BUN).isFile();
  } catch {
    return false;
  }
})();

Deno.test({
  name:
    "under Bun, https needs the CA bundle, accepts it by option and SSL_CERT_FILE, and tunnels through HTTPS_PROXY",
  ignore: !HTTPS_URL || !CA_FILE || !haveBun,
  async fn() {
    const p = await new Deno.Command(BUN, {
      args: ["run", join(REPO_ROOT, "tests/_bun_https_check.ts")],
      cwd: REPO_ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(p.stderr);
    assert.equal(p.code, 0, err);
    const r = JSON.parse(new TextDecoder().decode(p.stdout).trim().split("\n").pop()!);
    const size = statSync(fixture("fixtures.json")).size;
    assert.equal(r.runtime, "bun");
    assert.match(r.withoutCa, /certificate.*--ca-file/);
    assert.equal(r.withCa, size);
    assert.equal(r.withEnvCa, size);
    assert.equal(r.viaProxy, size);
    assert.deepEqual(r.proxySaw, [`CONNECT ${new URL(HTTPS_URL!).host}`]);
    assert.equal(r.viaAuthProxy, "ok");
    assert.deepEqual(r.proxyAuth, ["Basic " + btoa("alice:s@cret")]);
  },
});

Deno.test({
  name: "under Bun, FileStore streams stay readable across garbage collections",
  ignore: !haveBun || !HAVE_FIXTURES,
  async fn() {
    const p = await new Deno.Command(BUN, {
      args: ["run", join(REPO_ROOT, "tests/_bun_file_check.ts"), fixture("v3-signed")],
      cwd: REPO_ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(p.stderr);
    assert.equal(p.code, 0, err);
    const r = JSON.parse(new TextDecoder().decode(p.stdout).trim().split("\n").pop()!);
    assert.equal(r.runtime, "bun");
    assert.deepEqual(r.errors, []);
    assert.equal(r.reads, r.files * 3);
    assert.ok(r.files > 10);
  },
});
