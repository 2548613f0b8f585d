/**
 * Empty or blank paths on the command line (`--root "$UNSET"`) are usage errors (exit 2) for
 * every command, checked once in the option parsing, before anything is read or written.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { main } from "../src/cli/app.ts";
import { fixture, HAVE_FIXTURES, REPO_ROOT } from "./_fixtures.ts";

const M = HAVE_FIXTURES ? fixture("v3-unsigned") : "/nonexistent";

const CASES: [string, string[]][] = [
  ["install --root ''", ["install", "-m", M, "--root", "", "fooapp"]],
  ["install --root ' '", ["install", "-m", M, "--root", "  ", "fooapp"]],
  ["install -m ''", ["install", "-m", "", "--root", "r", "fooapp"]],
  ["install -k ''", ["install", "-m", M, "-k", "", "--root", "r", "fooapp"]],
  ["install --mirrors-file ''", ["install", "--mirrors-file", "", "--root", "r", "fooapp"]],
  ["download --to ''", ["download", "-m", M, "--to", "", "fooapp"]],
  ["show -m ''", ["show", "-m", "", "fooapp"]],
  ["show --keyring ''", ["show", "-m", M, "--keyring", "", "fooapp"]],
  ["push '' (mirror)", ["push", "--unsigned", "", "/x"]],
  ["push --root ''", ["push", "--unsigned", "--root", "", "m", "fooapp"]],
  ["push --key ''", ["push", "--key", "", "m", "/x"]],
  ["bundle -o ''", ["bundle", "--allow-unsigned", "-m", M, "-o", "", "fooapp"]],
  ["sync '' dst", ["sync", "", "dst"]],
  ["migrate src ''", ["migrate", "srcmirror", ""]],
  ["prune --keep ''", ["prune", "m", "--keep", ""]],
  ["verify ''", ["verify", ""]],
  ["keys trust ''", ["keys", "trust", ""]],
  ["keys export -o ''", ["keys", "export", "-o", "", "ABCD"]],
  ["update-index ''", ["update-index", ""]],
  ["--ca-file ''", ["--ca-file", "", "list", "-m", M]],
];

// Relative names the cases use: none may appear in the working directory (the project's).
const RELATIVE = ["r", "m", "dst", "srcmirror"];

for (const [what, argv] of CASES) {
  Deno.test(`${what} is a usage error (exit 2) and writes nothing`, async () => {
    const err = console.error;
    const lines: string[] = [];
    console.error = (...a: unknown[]) => lines.push(a.join(" "));
    const write = process.stderr.write;
    process.stderr.write = ((s: string | Uint8Array) => (lines.push(String(s)), true)) as never;
    try {
      assert.equal(await main(argv), 2, lines.join(""));
      assert.match(lines.join(""), /empty/);
      for (const r of RELATIVE) assert.ok(!existsSync(r), `"${r}" was created`);
    } finally {
      console.error = err;
      process.stderr.write = write;
    }
  });
}

Deno.test("the message names the flag and the likely cause", () => {
  const out = new Deno.Command(join(REPO_ROOT, "node_modules/.bin/deno"), {
    args: ["run", "-A", join(REPO_ROOT, "cli.ts"), "install", "-m", M, "--root", "", "x"],
    stderr: "piped",
  }).outputSync();
  assert.equal(out.code, 2);
  assert.equal(
    new TextDecoder().decode(out.stderr).trim(),
    "spackle: error: --root was given an empty directory; name one (is a shell variable unset?)",
  );
});
