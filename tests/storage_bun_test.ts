/** The https store under Bun (the executable's runtime): CA bundle and CONNECT proxy. */
import assert from "node:assert/strict";
import { statSync } from "node:fs";
import { fixture, HAVE_FIXTURES } from "./_fixtures.ts";
import { HAVE_BUN, runBunCheck } from "./_bun.ts";

const HTTPS_URL = Deno.env.get("SPACKLE_TEST_HTTPS_URL");
const CA_FILE = Deno.env.get("SPACKLE_TEST_CA_FILE");

Deno.test({
  name:
    "under Bun, https needs the CA bundle, accepts it by option and SSL_CERT_FILE, and tunnels through HTTPS_PROXY",
  ignore: !HTTPS_URL || !CA_FILE || !HAVE_BUN,
  async fn() {
    const r = await runBunCheck("_bun_https_check.ts");
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
  ignore: !HAVE_BUN || !HAVE_FIXTURES,
  async fn() {
    const r = await runBunCheck("_bun_file_check.ts", fixture("v3-signed"));
    assert.equal(r.runtime, "bun");
    assert.deepEqual(r.errors, []);
    assert.equal(r.reads, r.files * 3);
    assert.ok(r.files > 10);
  },
});
