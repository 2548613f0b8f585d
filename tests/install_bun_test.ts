/**
 * Installs under Bun, the runtime of the executable: there gunzipReader() drives the zlib
 * binding directly (decompressing on the thread pool into reused buffers), a path `deno test`
 * never takes. The trees must be what Spack installed, and a corrupted tarball must fail
 * cleanly.
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { fixture, HAVE_FIXTURES } from "./_fixtures.ts";
import { HAVE_BUN, runBunCheck } from "./_bun.ts";
import { compareWithExpected } from "./_install_fixtures.ts";

for (const [name, layout] of [["v3-unsigned", 3], ["v2-unsigned", 2]] as const) {
  Deno.test({
    name:
      `under Bun, installSpecs() installs fooapp from ${name} as Spack does, and fails cleanly on a corrupted tarball`,
    ignore: !HAVE_BUN || !HAVE_FIXTURES,
    async fn() {
      const root = await Deno.makeTempDir({ prefix: "sp-bun-inst-" });
      try {
        const r = await runBunCheck("_bun_install_check.ts", fixture(name), root);
        assert.equal(r.runtime, "bun");
        assert.equal(r.ring, "RingInflate"); // the direct path, not gunzipStream()'s reader
        assert.equal(r.specs.length, 4);
        assert.deepEqual(compareWithExpected(layout, root, r.specs), []);
        assert.match(r.corrupt, /^(IntegrityError|SpackleError): /);
        assert.match(r.corrupt, /decompress|digest|verify/i);
        assert.deepEqual(r.left, []);
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    },
  });
}
