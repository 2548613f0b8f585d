import assert from "node:assert/strict";
import { join } from "node:path";
import { findFunctions, longFunctions, sourceFiles } from "../scripts/check_function_size.ts";
import { readFileSync } from "node:fs";
import { REPO_ROOT } from "./_fixtures.ts";

/** A function `name` whose body has `n` statement lines. */
const body = (n: number) => Array.from({ length: n }, (_, i) => `  x += ${i};`).join("\n");

const LONG = `export async function longOne(a: number): Promise<number> {
  let x = a;
${body(210)}
  return x;
}
`;
const SHORT = `function shortOne(): { a: string } {
${body(20)}
  return { a: "b" };
}
`;

Deno.test("check_function_size finds a long function and not a short one", () => {
  const found = longFunctions(LONG + SHORT, 200);
  assert.deepEqual(found.map((f) => [f.name, f.start, f.lines]), [["longOne", 1, 214]]);
  const all = findFunctions(LONG + SHORT);
  assert.deepEqual(all.map((f) => [f.name, f.lines]), [["longOne", 214], ["shortOne", 23]]);
});

Deno.test("check_function_size finds arrows, methods, getters and nested functions", () => {
  const src = `
const arrow = async (a: string): Promise<void> => {
  await a;
};
export const typed: Handler<{ a: string }> = (x) => {
  return x;
};
class K extends Base {
  constructor(private x: number) {
    super();
  }
  get size(): number {
    return 1;
  }
  async *items<T>(xs: T[]): AsyncGenerator<T> {
    for await (const x of xs) {
      if (x) yield x;
    }
  }
}
const o = {
  method(a) {
    return a;
  },
  [Symbol.iterator]() {
    return [].values();
  },
};
run(items, async ({ path }) => {
  const inner = function () {
    return path;
  };
});
`;
  assert.deepEqual(findFunctions(src).map((f) => [f.name, f.start, f.end]), [
    ["arrow", 2, 4],
    ["typed", 5, 7],
    ["constructor", 9, 11],
    ["size", 12, 14],
    ["items", 15, 19],
    ["method", 22, 24],
    ["[computed]", 25, 27],
    ["<arrow>", 29, 33],
    ["inner", 30, 32],
  ]);
});

Deno.test("check_function_size ignores braces in strings, templates, comments and regexes", () => {
  // Each of these holds a stray brace: a naive count would close the function early (then
  // the long function is missed) or never (then the short one looks long).
  const src = `function tricky(a: string) {
  const s = "}}}";
  const t = '{';
  const u = \`}\${a.replace(/[{}]/g, "")}{\${\`}\${"{"}\`}\`;
  // } a comment
  /* { another
     } */
  const r = /\\}{2,}/.test(a) ? a.length / 2 : 0;
${body(200)}
  return s + t + u + r;
}
function after() {
  return 1;
}
`;
  const all = findFunctions(src);
  assert.deepEqual(all.map((f) => [f.name, f.start, f.end]), [
    ["tricky", 1, 210],
    ["after", 211, 213],
  ]);
  assert.deepEqual(longFunctions(src).map((f) => f.name), ["tricky"]);
  assert.deepEqual(longFunctions(src, 210), []);
});

Deno.test("check_function_size lists long functions of a tree and exits 1, 0 when none", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(join(dir, "a"));
    await Deno.writeTextFile(join(dir, "a", "long.ts"), LONG);
    await Deno.writeTextFile(join(dir, "short.ts"), SHORT);
    const run = (...args: string[]) =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", join(REPO_ROOT, "scripts/check_function_size.ts"), ...args],
        stdout: "piped",
        stderr: "piped",
      }).output();
    const r = await run(dir);
    assert.equal(r.code, 1);
    const out = new TextDecoder().decode(r.stdout);
    assert.match(out, /long\.ts:1-214 longOne: 214 lines/);
    assert.doesNotMatch(out, /shortOne/);
    const ok = await run(join(dir, "short.ts"));
    assert.equal(ok.code, 0, new TextDecoder().decode(ok.stderr));
    assert.equal(new TextDecoder().decode(ok.stdout), "");
    const bad = await run("--max", "x", dir);
    assert.equal(bad.code, 2);
    assert.match(new TextDecoder().decode(bad.stderr), /--max takes a whole number/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("no function in src/ is over 200 lines (a command's register function counts)", () => {
  const long: string[] = [];
  for (const file of sourceFiles(join(REPO_ROOT, "src"), false)) {
    for (const f of longFunctions(readFileSync(file, "utf8"), 200)) {
      long.push(`${file.slice(REPO_ROOT.length + 1)}:${f.start} ${f.name}: ${f.lines} lines`);
    }
  }
  assert.deepEqual(long, []);
});
