/**
 * Startup cost: the modules evaluated before any command runs are the static import graphs of
 * cli.ts and of the command table it loads (src/cli/app.ts). Heavy packages (openpgp, yaml,
 * zod, aws4fetch) must be reached only through `await import(...)` inside the commands that
 * need them.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";

const HEAVY = ["openpgp", "yaml", "zod", "aws4fetch"];

/** Static (runtime) imports of a module: `import type`/`export type` and dynamic imports excluded. */
function staticImports(src: string): string[] {
  const code = src.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  const out: string[] = [];
  const from = /^\s*(?:import|export)\s+(?!type\b)[^;]*?\bfrom\s+["']([^"']+)["']/gm;
  for (const m of code.matchAll(from)) out.push(m[1]);
  for (const m of code.matchAll(/^\s*import\s+["']([^"']+)["']/gm)) out.push(m[1]);
  return out;
}

/** Walks the static graph from `entry`; returns local files and package specifiers with an importer. */
function staticGraph(...entries: string[]): { files: Set<string>; packages: Map<string, string> } {
  const files = new Set<string>();
  const packages = new Map<string, string>();
  const walk = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    for (const spec of staticImports(readFileSync(file, "utf8"))) {
      if (spec.startsWith(".")) walk(resolve(dirname(file), spec));
      else if (!spec.startsWith("node:")) packages.set(spec.replace(/^npm:/, ""), file);
    }
  };
  for (const e of entries) walk(e);
  return { files, packages };
}

const root = resolve(dirname(new URL(import.meta.url).pathname), "..");

Deno.test("the static import graph of cli.ts loads no heavy package (openpgp, yaml, zod, aws4fetch)", () => {
  const { files, packages } = staticGraph(resolve(root, "cli.ts"), resolve(root, "src/cli/app.ts"));
  assert(files.size > 5, `walked only ${files.size} files`);
  const heavy = [...packages].filter(([p]) => HEAVY.some((h) => p === h || p.startsWith(`${h}/`)));
  assert.deepEqual(
    heavy,
    [],
    `statically imported: ${heavy.map(([p, f]) => `${p} by ${f}`).join(", ")}`,
  );
});

Deno.test("the import walker sees value imports and re-exports, not type-only or dynamic imports", () => {
  const src = [
    'import { a } from "./a.ts";',
    'import type { B } from "openpgp";',
    'export type { C } from "zod";',
    'export * from "./d.ts";',
    'import "./e.ts";',
    'import {\n  f,\n  type G,\n} from "yaml";',
    'const h = await import("aws4fetch");',
    '// import { i } from "tar-stream";',
  ].join("\n");
  assert.deepEqual(staticImports(src).sort(), ["./a.ts", "./d.ts", "./e.ts", "yaml"]);
});

Deno.test("the command definitions load none of the library but errors and version", () => {
  const { files } = staticGraph(resolve(root, "cli.ts"), resolve(root, "src/cli/app.ts"));
  const allowed = (f: string) =>
    f === resolve(root, "cli.ts") || f.startsWith(resolve(root, "src/cli") + "/") ||
    f === resolve(root, "src/errors.ts") || f === resolve(root, "src/version.ts");
  assert.deepEqual([...files].filter((f) => !allowed(f)), []);
});

Deno.test("the static import graph of mod.ts (what a command evaluates) loads no heavy package", () => {
  const { files, packages } = staticGraph(resolve(root, "mod.ts"));
  assert(files.size > 50, `walked only ${files.size} files`);
  const heavy = [...packages].filter(([p]) => HEAVY.some((h) => p === h || p.startsWith(`${h}/`)));
  assert.deepEqual(
    heavy,
    [],
    `statically imported: ${heavy.map(([p, f]) => `${p} by ${f}`).join(", ")}`,
  );
});
