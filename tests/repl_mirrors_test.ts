/** The REPL keeps its mirrors open: indexes are read once per session, not once per command. */
import assert from "node:assert/strict";
import { cpSync, rmSync } from "node:fs";
import { join } from "node:path";
import { ReplSession } from "../src/repl/repl.ts";
import { fixture, HAVE_FIXTURES } from "./_fixtures.ts";
import { buildProgram } from "../src/cli/app.ts";

Deno.test({
  name: "ls and cat reuse the session's opened mirrors (the index is read once)",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "spackle-repl-mirrors-" });
    const copy = join(dir, "mirror");
    cpSync(fixture("v3-unsigned"), copy, { recursive: true });
    const printed: string[] = [];
    const s = new ReplSession(
      { program: buildProgram, mirror: [copy], allowUnsigned: true },
      (l) => printed.push(l),
    );
    await s.loadIndex();
    assert.equal(s.names.length, 4);
    // With the index gone from the disk, a re-opened mirror would list from the manifests (with
    // a note) or fail; the open one still answers from the index it read.
    rmSync(join(copy, "v3", "manifests", "index"), { recursive: true, force: true });
    printed.length = 0;
    assert.equal(await s.line("ls libzz"), 0);
    assert.deepEqual(s.last.map((r) => r.name), ["libzz"]);
    // Only the index has the arch; a mirror re-opened now would list "-" from the manifests.
    assert.equal(s.last[0].arch, "linux-debian12-x86_64");
    assert.deepEqual(printed.slice(-1), ["1 spec"]);
    assert.ok(!printed.some((l) => l.startsWith("note:")), printed.join("\n"));
    printed.length = 0;
    assert.equal(await s.line("cat 1"), 0);
    assert.match(
      printed.join("\n"),
      /"mediaType": "application\/vnd\.spack\.install\.v2\.tar\+gzip"/,
    );
  },
});
