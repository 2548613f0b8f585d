/**
 * Extraction and relocation of the fixture tarballs (written by real Spack), read straight
 * from the fixture mirrors, compared with what real Spack installed (fixtures/expected), and
 * the relocated programs run.
 */
import assert from "node:assert/strict";
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fixture, HAVE_FIXTURES } from "./_fixtures.ts";
import { compareWithExpected, stageFixture } from "./_install_fixtures.ts";
import { runProgram } from "./_run.ts";

for (const [mirror, layout] of [["v3-unsigned", 3], ["v2-unsigned", 2]] as const) {
  Deno.test({
    name: `extract + relocate of the ${mirror} tarballs matches what Spack installed`,
    ignore: !HAVE_FIXTURES,
    async fn() {
      const root = await Deno.makeTempDir({ prefix: "sp-rel-" });
      try {
        const specs = await stageFixture(fixture(mirror), layout, root);
        assert.deepEqual(specs.length, 4);
        assert.deepEqual(compareWithExpected(layout, root, specs), []);
        // The relocated executable finds its libraries and prints its new prefixes.
        const fooapp = specs.find((s) => s.name === "fooapp")!;
        const out = runProgram(join(fooapp.prefix, "bin/fooapp"));
        assert.deepEqual(out.code, 0, out.stderr);
        const text = out.stdout;
        for (const s of specs) {
          const line = text.split("\n").find((l) => l.startsWith(`${s.name}=`));
          assert.ok(line, `fooapp prints ${s.name}=: ${text}`);
          assert.deepEqual("/" + line.slice(s.name.length + 1).replace(/^\/+/, ""), s.prefix);
        }
        assert.ok(existsSync(join(fooapp.prefix, "bin/fooapp-run")));
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    },
  });
}
