/**
 * Keeps the dependency direction of ARCHITECTURE.md true: a module imports only from its own
 * layer folder or from lower levels, and the level-2 siblings do not import each other.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { REPO_ROOT } from "./_fixtures.ts";

const LEVELS: Record<string, number> = {
  "errors.ts": 0,
  "version.ts": 0,
  core: 1,
  spec: 2,
  sign: 2,
  storage: 2,
  config: 2,
  "selfcheck.ts": 2,
  index: 3,
  layout: 4,
  install: 5,
  push: 5,
  mirror: 6,
  web: 6,
  cli: 7,
  repl: 7,
};

const src = join(REPO_ROOT, "src");

function* files(dir: string): Generator<string> {
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) yield* files(p);
    else if (p.endsWith(".ts") && !p.endsWith("_test.ts")) yield p;
  }
}

function unit(path: string): string {
  return relative(src, path).split("/")[0];
}

Deno.test("src modules import only from their own layer or lower ones", () => {
  const problems: string[] = [];
  let checked = 0;
  for (const f of files(src)) {
    const from = unit(f);
    const text = readFileSync(f, "utf8");
    for (
      const m of text.matchAll(
        /(?:import|export)[^"']*?from\s+["'](\.[^"']+)["']|import\(\s*["'](\.[^"']+)["']\s*\)/g,
      )
    ) {
      const spec = m[1] ?? m[2];
      const target = resolve(dirname(f), spec);
      if (!target.startsWith(src + "/")) {
        if (!target.endsWith("/mod.ts")) {
          problems.push(`${relative(REPO_ROOT, f)} imports ${spec} outside src`);
        }
        continue;
      }
      const to = unit(target);
      checked++;
      if (to === from) continue;
      const lf = LEVELS[from];
      const lt = LEVELS[to];
      if (lf === undefined || lt === undefined) {
        problems.push(
          `${relative(REPO_ROOT, f)}: unknown layer "${
            lf === undefined ? from : to
          }" (add it to LEVELS)`,
        );
      } else if (lt > lf || (lt === lf && lf === 2)) {
        problems.push(
          `${relative(REPO_ROOT, f)} (level ${lf}) imports ${
            relative(REPO_ROOT, target)
          } (level ${lt})`,
        );
      }
    }
  }
  assert.ok(checked > 10, `checked ${checked} imports`);
  assert.deepEqual(problems, []);
});

Deno.test("only src/core loads the WebAssembly core (wasm/ is built into src/core/_wasm_core.ts)", () => {
  const problems: string[] = [];
  for (const f of files(src)) {
    if (unit(f) === "core") continue;
    const text = readFileSync(f, "utf8");
    if (/from\s+["'][^"']*(_wasm_core|core\/wasm)\.ts["']/.test(text)) {
      problems.push(relative(REPO_ROOT, f));
    }
  }
  assert.deepEqual(problems, []);
});
