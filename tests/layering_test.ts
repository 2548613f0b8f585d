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
  tree: 5,
  mirror: 6,
  web: 6,
  cli: 7,
  repl: 7,
  testing: 7,
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

/** Every src module (tests excluded) with the src modules it imports (types and dynamic too). */
function importGraph(): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const f of files(src)) {
    const to = new Set<string>();
    const text = readFileSync(f, "utf8");
    for (
      const m of text.matchAll(
        /(?:import|export)[^"']*?from\s+["'](\.[^"']+)["']|import\(\s*["'](\.[^"']+)["']\s*\)/g,
      )
    ) {
      const target = resolve(dirname(f), m[1] ?? m[2]);
      if (target.startsWith(src + "/") && !target.endsWith("_test.ts")) to.add(target);
    }
    graph.set(f, to);
  }
  return graph;
}

/** The strongly connected components of more than one module (Tarjan), each sorted. */
function cycles(graph: Map<string, Set<string>>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(relative(src, w));
      } while (w !== v);
      if (scc.length > 1) out.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return out;
}

Deno.test("no import cycles between src modules", () => {
  assert.deepEqual(cycles(importGraph()).map((c) => c.join(" ")), [], "import cycles");
});

Deno.test("command files never import the command table; the REPL never imports a command", () => {
  const problems: string[] = [];
  for (const [f, to] of importGraph()) {
    const from = relative(src, f);
    for (const t of to) {
      const target = relative(src, t);
      const table = target === "cli/app.ts" || target === "cli/commands/mod.ts";
      if (from.startsWith("cli/commands/") && table && from !== "cli/commands/mod.ts") {
        problems.push(`${from} imports ${target} (use cli/context.ts)`);
      }
      if (from.startsWith("repl/") && (table || target.startsWith("cli/commands/"))) {
        problems.push(`${from} imports ${target}`);
      }
    }
  }
  assert.deepEqual(problems, []);
});

/**
 * The front ends: they reach the library through its public entry point only, apart from the
 * level-0 modules (errors and version, which import nothing), so that the command definitions
 * load without the library; what runs a command imports the library when it runs.
 */
const FRONT_ENDS = ["cli", "repl"];
const LEAVES = [join(src, "errors.ts"), join(src, "version.ts")];

Deno.test("src/cli and src/repl import the library only through mod.ts (and errors, version)", () => {
  const problems: string[] = [];
  let seen = 0;
  for (const f of files(src)) {
    if (!FRONT_ENDS.includes(unit(f))) continue;
    const text = readFileSync(f, "utf8");
    for (
      const m of text.matchAll(
        /(?:import|export)[^"']*?from\s+["'](\.[^"']+)["']|import\(\s*["'](\.[^"']+)["']\s*\)/g,
      )
    ) {
      const target = resolve(dirname(f), m[1] ?? m[2]);
      if (target === join(REPO_ROOT, "mod.ts")) seen++;
      else if (
        target.startsWith(src + "/") && !FRONT_ENDS.includes(unit(target)) &&
        !LEAVES.includes(target)
      ) {
        problems.push(`${relative(REPO_ROOT, f)} imports ${m[1] ?? m[2]} (use mod.ts)`);
      }
    }
  }
  assert.ok(seen > 10, `${seen} imports of mod.ts`);
  assert.deepEqual(problems, []);
});

Deno.test("the cycle finder sees a cycle and ignores a chain", () => {
  const g = new Map([
    [src + "/a.ts", new Set([src + "/b.ts"])],
    [src + "/b.ts", new Set([src + "/c.ts"])],
    [src + "/c.ts", new Set([src + "/a.ts"])],
    [src + "/d.ts", new Set([src + "/a.ts"])],
  ]);
  assert.deepEqual(cycles(g), [["a.ts", "b.ts", "c.ts"]]);
});

/** The Store backends: outside src/storage code reaches them through `openStore` and `Store`. */
const BACKEND_MODULES = ["file.ts", "http_store.ts", "s3.ts", "memory.ts"];
const BACKEND_CLASSES = /\b(?:FileStore|HttpsStore|S3Store|MemoryStore|BundleStore)\b/;

Deno.test("no module outside src/storage imports a concrete storage backend", () => {
  const problems: string[] = [];
  for (const f of files(src)) {
    if (unit(f) === "storage") continue;
    const text = readFileSync(f, "utf8");
    for (
      const m of text.matchAll(
        /(?:import|export)([^"']*?)from\s+["'](\.[^"']+)["']|import\(\s*["'](\.[^"']+)["']\s*\)/g,
      )
    ) {
      const target = resolve(dirname(f), m[2] ?? m[3]);
      if (!target.startsWith(join(src, "storage") + "/")) continue;
      const module = relative(join(src, "storage"), target);
      if (BACKEND_MODULES.includes(module) || BACKEND_CLASSES.test(m[1] ?? "")) {
        problems.push(`${relative(REPO_ROOT, f)} imports ${m[2] ?? m[3]}`);
      }
    }
  }
  assert.deepEqual(problems, []);
});

Deno.test("the README's code layout table names every src folder at its level", () => {
  const readme = readFileSync(join(REPO_ROOT, "README.md"), "utf8");
  const start = readme.indexOf("## Code layout");
  assert.ok(start >= 0, "README.md has no '## Code layout' section");
  const section = readme.slice(start, readme.indexOf("\n## ", start + 1));
  const rows = new Map<string, number>();
  for (const m of section.matchAll(/^\|\s*(\d)\s*\|(.+?)\|/gm)) {
    for (const p of m[2].matchAll(/`src\/([^`]+?)\/?`/g)) rows.set(p[1], Number(m[1]));
  }
  const problems: string[] = [];
  const walk = (dir: string): void => {
    for (const n of readdirSync(dir)) {
      const p = join(dir, n);
      if (!statSync(p).isDirectory()) continue;
      const rel = relative(src, p);
      const level = rows.get(rel);
      if (level === undefined) problems.push(`src/${rel}/ is not in the table`);
      else if (level !== LEVELS[rel.split("/")[0]]) {
        problems.push(
          `src/${rel}/ is at level ${LEVELS[rel.split("/")[0]]}, the table says ${level}`,
        );
      }
      walk(p);
    }
  };
  walk(src);
  for (const [name, level] of rows) {
    const unitName = name.split("/")[0];
    if (!statSync(join(src, name), { throwIfNoEntry: false })) {
      problems.push(`the table names src/${name}, which does not exist`);
    } else if (LEVELS[unitName] !== level) {
      problems.push(`src/${name} is at level ${LEVELS[unitName]}, the table says ${level}`);
    }
  }
  assert.deepEqual(problems, []);
});
