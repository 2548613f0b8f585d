import assert from "node:assert/strict";
import { join } from "node:path";
import { parseIndexDb } from "../src/index/mod.ts";
import { checkDagHash } from "../src/spec/mod.ts";
import { REPO_ROOT } from "./_fixtures.ts";

Deno.test("scripts/gen_index.ts writes a readable index whose hashes are real DAG hashes", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = join(dir, "index.json");
    const r = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", join(REPO_ROOT, "scripts/gen_index.ts"), out, "300"],
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
    const idx = parseIndexDb(await Deno.readTextFile(out), out);
    assert.equal(idx.size, 300);
    for (const rec of idx.records) {
      assert.ok(checkDagHash(idx.node(rec.hash)!, 5).ok, rec.name);
      assert.deepEqual(idx.spec(rec.hash).missing, []);
    }
    assert.equal(idx.find("%gcc@12").length, 298); // all but gcc itself and gcc-runtime
    assert.deepEqual(idx.records.filter((x) => !x.inBuildcache).map((x) => x.name), ["gcc"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
