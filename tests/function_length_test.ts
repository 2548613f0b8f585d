/**
 * Keeps functions short: none over 200 lines in the CLI and the REPL (a command's register
 * function counts). Functions are found by their bodies: a `{` after `=>`, after `function
 * NAME(...)`, or after a method's `NAME(...)` (return types allowed), with strings, template
 * literals, comments and regular expressions blanked out first.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { REPO_ROOT } from "./_fixtures.ts";

const MAX_LINES = 200;
const CHECKED = ["src/cli", "src/repl"];

/** `text` with the contents of strings, templates, comments and regexes replaced by spaces. */
export function blank(text: string): string {
  const out = text.split("");
  const wipe = (a: number, b: number) => {
    for (let k = a; k < b; k++) if (out[k] !== "\n") out[k] = " ";
  };
  let i = 0;
  let prev = ""; // last significant character, to tell a regex from a division
  while (i < text.length) {
    const c = text[i];
    if (c === "/" && text[i + 1] === "/") {
      const e = text.indexOf("\n", i);
      const end = e < 0 ? text.length : e;
      wipe(i, end);
      i = end;
    } else if (c === "/" && text[i + 1] === "*") {
      const e = text.indexOf("*/", i + 2);
      const end = e < 0 ? text.length : e + 2;
      wipe(i, end);
      i = end;
    } else if (c === '"' || c === "'" || c === "`") {
      let j = i + 1;
      while (j < text.length && text[j] !== c) j += text[j] === "\\" ? 2 : 1;
      wipe(i + 1, j);
      i = j + 1;
      prev = c;
    } else if (c === "/" && (prev === "" || /[(,=:[!&|?{};+\-*%<>~^]/.test(prev))) {
      let j = i + 1;
      let cls = false;
      while (j < text.length && text[j] !== "\n" && (cls || text[j] !== "/")) {
        if (text[j] === "\\") j++;
        else if (text[j] === "[") cls = true;
        else if (text[j] === "]") cls = false;
        j++;
      }
      wipe(i + 1, j);
      i = j + 1;
      prev = "/";
    } else {
      if (!/\s/.test(c)) prev = c;
      i++;
    }
  }
  return out.join("");
}

const NOT_FUNCTIONS = new Set(["if", "for", "while", "switch", "catch", "with", "return"]);

/** The functions of a source text longer than `max` lines: [first line, lines]. */
export function longFunctions(text: string, max = MAX_LINES): [number, number][] {
  const src = blank(text);
  const stack: { at: number; fn: boolean }[] = [];
  const found: [number, number][] = [];
  const lineOf = (k: number) => src.slice(0, k).split("\n").length;
  for (let k = 0; k < src.length; k++) {
    if (src[k] === "{") {
      const before = src.slice(Math.max(0, k - 600), k).replace(/\s+$/, "");
      let fn = before.endsWith("=>");
      if (!fn) {
        // NAME(args) or NAME(args): ReturnType, the call's parentheses balanced.
        const m = /\)\s*(?::[^{};=]*)?$/.exec(before);
        if (m) {
          let depth = 0;
          let p = m.index;
          for (; p >= 0; p--) {
            if (before[p] === ")") depth++;
            else if (before[p] === "(" && --depth === 0) break;
          }
          const name = /([\w$#]+)\s*(?:<[^()]*>)?\s*$/.exec(before.slice(0, Math.max(p, 0)));
          fn = p >= 0 && !!name && !NOT_FUNCTIONS.has(name[1]);
        }
      }
      stack.push({ at: k, fn });
    } else if (src[k] === "}") {
      const open = stack.pop();
      if (open?.fn) {
        const first = lineOf(open.at);
        const lines = lineOf(k) - first + 1;
        if (lines > max) found.push([first, lines]);
      }
    }
  }
  return found;
}

function* files(dir: string): Generator<string> {
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) yield* files(p);
    else if (p.endsWith(".ts") && !p.endsWith("_test.ts")) yield p;
  }
}

Deno.test(`no function over ${MAX_LINES} lines in ${CHECKED.join(" and ")}`, () => {
  const problems: string[] = [];
  for (const dir of CHECKED) {
    for (const f of files(join(REPO_ROOT, dir))) {
      for (const [line, n] of longFunctions(readFileSync(f, "utf8"))) {
        problems.push(`${relative(REPO_ROOT, f)}:${line}: a function of ${n} lines`);
      }
    }
  }
  assert.deepEqual(problems, []);
});

Deno.test("the function finder sees functions, methods and arrows, not blocks", () => {
  const body = (n: number) => "  x++;\n".repeat(n);
  assert.deepEqual(longFunctions(`function f(a: string): number {\n${body(5)}}\n`, 3), [[1, 7]]);
  assert.deepEqual(longFunctions(`const r = (p, a) => {\n${body(5)}};\n`, 3), [[1, 7]]);
  assert.deepEqual(
    longFunctions(`class A {\n  async m(x: { a: 1 }): Promise<void> {\n${body(5)}  }\n}\n`, 3),
    [[2, 7]],
  );
  assert.deepEqual(longFunctions(`if (a) {\n${body(5)}}\nfor (;;) {\n${body(5)}}\n`, 3), []);
  assert.deepEqual(longFunctions(`const s = "{ ) {";\nconst r = /\\)\\s*{/;\n`, 0), []);
});
