/** The REPL session against fixture mirrors, without a terminal. */
import assert from "node:assert/strict";
import process from "node:process";
import { ReplSession } from "../src/repl/repl.ts";
import { fixture, HAVE_FIXTURES } from "./_fixtures.ts";
import { buildProgram } from "../src/cli/app.ts";

Deno.test({
  name: "open switches the session's mirrors, and keeps them when the new one fails",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const printed: string[] = [];
    const s = new ReplSession({
      program: buildProgram,
      mirror: [fixture("v3-unsigned")],
      allowUnsigned: true,
    }, (l) => printed.push(l));
    await s.loadIndex();
    assert.deepEqual(s.names, ["foodata", "fooapp", "libfoo", "libzz"].sort());
    assert.equal(await s.line(`open ${fixture("v2-unsigned")}`), 0);
    assert.match(printed.at(-1)!, /^opened .*v2-unsigned: \d+ packages$/);
    const v2 = [...s.names];
    assert.ok(v2.length > 0);
    assert.equal(await s.line("ls"), 0);
    assert.ok(s.last.every((r) => v2.includes(r.name)));
    const errors: string[] = [];
    const write = process.stderr.write;
    process.stderr.write = ((c: string) => (errors.push(c), true)) as typeof write;
    try {
      assert.equal(await s.line(`open ${fixture("no-such-mirror")}`), 1);
    } finally {
      process.stderr.write = write;
    }
    assert.match(printed.at(-1)!, /^still on .*v2-unsigned$/);
    assert.deepEqual(s.names, v2);
    assert.equal(await s.line("open"), 0);
    assert.match(printed.at(-1)!, /^open: .*v2-unsigned \(\d+ packages\)$/);
  },
});
