import assert from "node:assert/strict";
import process from "node:process";
import { prettyMetadata, ReplSession, splitWords } from "./repl.ts";
import { buildProgram } from "../cli/app.ts";

Deno.test("splitWords splits like a shell: quotes and backslashes", () => {
  assert.deepEqual(splitWords(`show  "a b" 'c d' e\\ f ""`), ["show", "a b", "c d", "e f", ""]);
  assert.throws(() => splitWords(`ls "open`), /Unclosed " quote/);
});

Deno.test("prettyMetadata pretty-prints JSON inside a clear signature", () => {
  const signed = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n" +
    '{"a":1,"b":[2]}\n-----BEGIN PGP SIGNATURE-----\nxx\n-----END PGP SIGNATURE-----\n';
  assert.equal(prettyMetadata(signed), '{\n  "a": 1,\n  "b": [\n    2\n  ]\n}\n(signed)');
  assert.equal(prettyMetadata('{"x":true}'), '{\n  "x": true\n}');
  assert.equal(prettyMetadata("not json"), "not json");
});

Deno.test("completion offers words, flags, names and hash prefixes", () => {
  const s = new ReplSession({ program: buildProgram }, () => {});
  s.names = ["fooapp", "foodata", "libzz"];
  s.hashes = ["iicodpd5dtmh5ijlchcoay25frkfkyuv", "irttwv2f4rzhheesshe6vsy3xw3ezk2h"];
  assert.deepEqual(s.complete("de"), [["deps "], "de"]);
  assert.deepEqual(s.complete("show foo"), [["fooapp", "foodata"], "foo"]);
  assert.deepEqual(s.complete("show /irt"), [["/irttwv2 "], "/irt"]);
  assert.deepEqual(s.complete("install fooapp/ii"), [["fooapp/iicodpd "], "fooapp/ii"]);
  assert.ok(s.complete("list --lo")[0].includes("--long "));
  assert.ok(s.complete("keys tr")[0].includes("trust "));
  assert.deepEqual(s.complete("mirror add x y --unsi"), [["--unsigned "], "--unsi"]);
});

Deno.test("a row number needs a listing first", async () => {
  const s = new ReplSession({ program: buildProgram }, () => {});
  const errors: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((c: string) => (errors.push(c), true)) as typeof write;
  try {
    assert.equal(await s.line("show 3"), 2);
  } finally {
    process.stderr.write = write;
  }
  assert.match(errors.join(""), /no row 3 in the last listing \(0 rows\)/);
  assert.equal(await s.line("exit"), undefined);
  assert.equal(await s.line(""), 0);
});

Deno.test("help explains REPL words and shows a command's help", async () => {
  const printed: string[] = [];
  const s = new ReplSession({ program: buildProgram }, (l) => printed.push(l));
  assert.equal(await s.line("help deps"), 0);
  assert.match(printed.join("\n"), /^deps: the dependency tree of a spec$/m);
  assert.equal(await s.line("help find"), 0);
  assert.match(printed.join("\n"), /Usage: spackle list\|ls \[options\] \[query\.\.\.\]/);
});
