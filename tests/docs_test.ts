/** docs/cli.md is generated from the command definitions and must be current. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { CLI_MD, renderCliMd } from "../scripts/gen_docs.ts";

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
