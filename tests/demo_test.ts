/** scripts/demo, the README's main job: build, push, list, install and run the sample package. */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "./_fixtures.ts";

const hasGcc = ["/usr/bin/gcc", "/bin/gcc"].some((p) => existsSync(p));

Deno.test({
  name: "the demo installs the sample package into a fresh root and its program runs from there",
  ignore: !hasGcc,
  async fn() {
    const p = await new Deno.Command("bash", {
      args: [join(REPO_ROOT, "scripts/demo")],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const out = new TextDecoder().decode(p.stdout);
    const err = new TextDecoder().decode(p.stderr);
    assert.equal(p.code, 0, out + err);
    const root = join(REPO_ROOT, "dist/demo/installed");
    assert.match(out, /^demoapp\s+1\.0\s+[a-z2-7]{7}\s+linux-/m);
    assert.match(out, /^libdemo\s+1\.0\s+[a-z2-7]{7}\s+linux-/m);
    // After the build store is deleted, the installed copy still runs: its RUNPATH and the
    // script's path were relocated into the install root.
    const tail = out.slice(out.lastIndexOf("==> done"));
    assert.match(tail, /demoapp: hello from libdemo/);
    // The prefix compiled into the program as a C string was rewritten in place (the install
    // root is shorter; Spack pads the front with "/").
    assert.match(
      tail,
      new RegExp(`^demoapp: installed in /*${root}/linux-[^/]+/demoapp-1\\.0-[a-z2-7]{32}$`, "m"),
    );
    assert.doesNotMatch(tail, /store_padded/);
    assert.match(
      out,
      new RegExp(`RUNPATH.*\\[${root}/linux-[^/]+/libdemo-1\\.0-[a-z2-7]{32}/lib\\]`),
    );
    assert.match(out, new RegExp(`-L${root}/linux-[^/]+/libdemo-1\\.0-[a-z2-7]{32}/lib`));
  },
});
