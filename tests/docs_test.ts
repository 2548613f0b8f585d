/** docs/cli.md and docs/spackle.1 are generated from the command definitions and must be current. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { CLI_MD, MAN_PAGE, renderCliMd, renderManPage } from "../scripts/gen_docs.ts";

Deno.test("docs/cli.md matches the command definitions (else run scripts/gen_docs.ts)", () => {
  const text = renderCliMd();
  for (const verb of ["list", "install", "mirror add", "completion"]) {
    assert.match(text, new RegExp(`^## spackle ${verb}$`, "m"));
  }
  assert.ok(
    readFileSync(CLI_MD, "utf8") === text,
    "docs/cli.md is stale: run node_modules/.bin/deno run -A scripts/gen_docs.ts and commit it",
  );
});

Deno.test("docs/spackle.1 (the man page) matches the command definitions", () => {
  const text = renderManPage();
  assert.match(text, /^\.TH SPACKLE 1$/m);
  assert.match(text, /^\.SS spackle mirror add$/m);
  assert.ok(
    readFileSync(MAN_PAGE, "utf8") === text,
    "docs/spackle.1 is stale: run node_modules/.bin/deno run -A scripts/gen_docs.ts and commit it",
  );
});
