/** The layout readers over http (a store that cannot list): paths come from the indexes. */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { fixture, HAVE_FIXTURES } from "./_fixtures.ts";
import { serveDir } from "./_http_server.ts";
import { drain } from "../src/core/streams.ts";
import { openMirror, openMirrors } from "../src/layout/mod.ts";
import { verifierFromKeys } from "../src/mirror/trusted_keys.ts";

const t = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, ignore: !HAVE_FIXTURES, sanitizeResources: false, sanitizeOps: false, fn });

t("v3, v2 and migrated mirrors read over http: listed, verified, keys, closure", async () => {
  const server = await serveDir(fixture("."));
  try {
    const verifier = await verifierFromKeys([
      await readFile(fixture("keys/oracle-test.pub.asc"), "utf8"),
    ]);
    for (const name of ["v3-signed", "v2-signed", "v2-migrated-signed"]) {
      const mirror = await openMirror(`${server.url}${name}/`, {
        verifier,
        store: { retry: { retries: 0 } },
      });
      assert.equal(mirror.layout.primary, name === "v2-signed" ? 2 : 3);
      const refs = (await mirror.list()).filter((r) => r.inBuildcache);
      assert.equal(refs.length, 4);
      for (const r of refs) {
        const e = await mirror.entry(r.hash);
        assert.equal(e.signedBy, "4D782899AF51B814967AC6DE6EE87675E657CA38");
        assert.equal(await drain(await e.openTarball()), e.tarball.size);
      }
      assert.equal((await mirror.keys()).length, 1);
    }
    const set = await openMirrors([`${server.url}v2-unsigned/`], {
      store: { retry: { retries: 0 } },
    });
    const c = await set.closure((await set.resolve("fooapp")).hash);
    assert.deepEqual(c.map((r) => r.name).sort(), ["fooapp", "foodata", "libfoo", "libzz"]);
    // Nothing was listed: every request named a file.
    assert.ok(server.requests.every((r) => !r.url.endsWith("/")));
  } finally {
    await server.close();
  }
});
