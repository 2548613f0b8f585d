/**
 * Lists the functions (declarations, function expressions, arrow functions with a block body,
 * methods, getters, setters and constructors) longer than a limit in TypeScript sources, and
 * exits 1 when there is one.
 *
 *   deno run -A scripts/check_function_size.ts [--max N] [PATH...]    # default: --max 200 src
 *
 * A function's length counts the lines from its name (or its parameters, for an anonymous one)
 * to its closing brace, both included; a nested function counts within its parent too and is
 * also listed on its own. The scanner reads the tokens of the language, skipping strings,
 * template literals (their `${...}` parts are code), comments and regular expressions, so braces
 * inside them are not counted. Test files (`*_test.ts`) and generated bundles (`_*.ts` at the
 * top of `src/web` and `src/core`) are read too unless `--skip-tests` is given.
 *
 * @module
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import process from "node:process";

/** One token: an identifier or keyword, a punctuator, or a literal (string, regex, number). */
interface Token {
  kind: "id" | "punct" | "literal";
  value: string;
  line: number;
}

/** A function found and its extent. */
export interface FunctionSpan {
  name: string;
  /** First line (1-based): the name, or the parameters of an anonymous function. */
  start: number;
  /** Line of the closing brace. */
  end: number;
  /** end - start + 1. */
  lines: number;
}

const PUNCTUATORS = [
  ">>>=",
  "...",
  "===",
  "!==",
  "**=",
  "<<=",
  ">>=",
  "&&=",
  "||=",
  "??=",
  "=>",
  "==",
  "!=",
  "<=",
  ">=",
  "&&",
  "||",
  "??",
  "?.",
  "++",
  "--",
  "+=",
  "-=",
  "*=",
  "/=",
  "%=",
  "&=",
  "|=",
  "^=",
  "**",
  "<<",
];

/** Keywords after which a `/` starts a regular expression, not a division. */
const BEFORE_REGEX = new Set([
  "return",
  "typeof",
  "case",
  "do",
  "else",
  "in",
  "of",
  "new",
  "delete",
  "void",
  "throw",
  "instanceof",
  "yield",
  "await",
]);

/** Keywords whose `(...)` is followed by a block that is not a function body. */
const CONTROL = new Set([
  "if",
  "for",
  "while",
  "switch",
  "catch",
  "with",
  "await",
  "return",
  "typeof",
  "new",
  "delete",
  "void",
  "throw",
  "yield",
  "in",
  "of",
  "instanceof",
  "case",
  "else",
  "do",
]);

const isIdStart = (c: string) => /[A-Za-z_$\u0080-\uffff]/.test(c);
const isIdPart = (c: string) => /[A-Za-z0-9_$\u0080-\uffff]/.test(c);

/** The tokens of TypeScript source text (comments dropped, literals as single tokens). */
export function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  let line = 1;
  const n = text.length;
  // For each open `${` of a template literal: the brace depth at which it was opened.
  const templates: number[] = [];
  let depth = 0;

  const regexAllowed = () => {
    const prev = out[out.length - 1];
    if (!prev) return true;
    if (prev.kind === "literal") return false;
    if (prev.kind === "id") return BEFORE_REGEX.has(prev.value);
    return ![")", "]", "}"].includes(prev.value);
  };

  /** Scans template text from i (just past "`" or a closing "}") to "`" or "${". */
  const templateText = (startLine: number) => {
    while (i < n) {
      const c = text[i];
      if (c === "\\") {
        if (text[i + 1] === "\n") line++;
        i += 2;
        continue;
      }
      if (c === "\n") line++;
      if (c === "`") {
        i++;
        out.push({ kind: "literal", value: "`", line: startLine });
        return;
      }
      if (c === "$" && text[i + 1] === "{") {
        i += 2;
        out.push({ kind: "literal", value: "`", line: startLine });
        templates.push(depth);
        return;
      }
      i++;
    }
  };

  while (i < n) {
    const c = text[i];
    if (c === "\n") {
      line++;
      i++;
      continue;
    }
    if (c === " " || c === "\t" || c === "\r" || c === "\f" || c === "\v" || c === "\uFEFF") {
      i++;
      continue;
    }
    if (c === "/" && text[i + 1] === "/") {
      while (i < n && text[i] !== "\n") i++;
      continue;
    }
    if (c === "/" && text[i + 1] === "*") {
      const end = text.indexOf("*/", i + 2);
      const stop = end < 0 ? n : end + 2;
      for (let j = i; j < stop; j++) if (text[j] === "\n") line++;
      i = stop;
      continue;
    }
    if (c === '"' || c === "'") {
      const startLine = line;
      i++;
      while (i < n && text[i] !== c && text[i] !== "\n") {
        if (text[i] === "\\") {
          if (text[i + 1] === "\n") line++;
          i++;
        }
        i++;
      }
      if (text[i] === c) i++; // an unterminated string ends at its line
      out.push({ kind: "literal", value: c, line: startLine });
      continue;
    }
    if (c === "`") {
      i++;
      templateText(line);
      continue;
    }
    if (c === "}" && templates.length && templates[templates.length - 1] === depth) {
      templates.pop();
      i++;
      templateText(line);
      continue;
    }
    if (c === "/" && regexAllowed()) {
      const startLine = line;
      i++;
      let inClass = false;
      while (i < n && text[i] !== "\n") {
        const d = text[i];
        if (d === "\\") i++;
        else if (d === "[") inClass = true;
        else if (d === "]") inClass = false;
        else if (d === "/" && !inClass) break;
        i++;
      }
      if (text[i] === "/") i++; // an unterminated regex ends at its line
      while (i < n && isIdPart(text[i])) i++; // flags
      out.push({ kind: "literal", value: "/", line: startLine });
      continue;
    }
    if (/[0-9]/.test(c) || (c === "." && /[0-9]/.test(text[i + 1] ?? ""))) {
      const start = i;
      while (i < n && /[0-9A-Za-z_.]/.test(text[i])) {
        if ((text[i] === "e" || text[i] === "E") && /[+-]/.test(text[i + 1] ?? "")) i++;
        i++;
      }
      out.push({ kind: "literal", value: text.slice(start, i), line });
      continue;
    }
    if (isIdStart(c) || c === "#" || c === "@") {
      const start = i;
      i++;
      while (i < n && isIdPart(text[i])) i++;
      out.push({ kind: "id", value: text.slice(start, i), line });
      continue;
    }
    const p = PUNCTUATORS.find((s) => text.startsWith(s, i)) ?? c;
    if (p === "{") depth++;
    else if (p === "}") depth--;
    out.push({ kind: "punct", value: p, line });
    i += p.length;
  }
  return out;
}

/** For each bracket token index, the index of its partner (both ways). */
function pairs(tokens: Token[]): Map<number, number> {
  const out = new Map<number, number>();
  const stack: number[] = [];
  const open: Record<string, string> = { ")": "(", "]": "[", "}": "{" };
  tokens.forEach((t, i) => {
    if (t.kind !== "punct") return;
    if (t.value === "(" || t.value === "[" || t.value === "{") stack.push(i);
    else if (t.value in open) {
      // Tolerates unbalanced input: pops back to the matching opener.
      const at = stack.findLastIndex((j) => tokens[j].value === open[t.value]);
      if (at < 0) return;
      const j = stack[at];
      stack.length = at;
      out.set(i, j);
      out.set(j, i);
    }
  });
  return out;
}

const punct = (t: Token | undefined, v: string) => t?.kind === "punct" && t.value === v;

/**
 * Where the return type annotation starting after `:` at index `colon` ends: the index of the
 * `{` of the body (or of `=>`), or -1 when what follows is not a body.
 */
function afterReturnType(tokens: Token[], colon: number, partner: Map<number, number>): number {
  let i = colon + 1;
  let expectType = true; // at the start of a type: a `{` here is an object type
  while (i < tokens.length) {
    const t = tokens[i];
    if (t.kind === "punct") {
      if (t.value === "{") {
        if (!expectType) return i;
        i = (partner.get(i) ?? tokens.length) + 1;
        expectType = false;
        continue;
      }
      if (t.value === "(" || t.value === "[") {
        i = (partner.get(i) ?? tokens.length) + 1;
        expectType = false;
        continue;
      }
      if (t.value === "=>") return -1; // an arrow's return type: found from its `=>`
      if ([";", ")", "]", "}", "=", ","].includes(t.value)) return -1;
      expectType = ["|", "&", "<", ",", ":", "?", "."].includes(t.value) ||
        t.value === "=>";
      if (t.value === ">") expectType = false;
      i++;
      continue;
    }
    if (t.kind === "id" && (t.value === "keyof" || t.value === "typeof" || t.value === "is")) {
      expectType = true;
    } else {
      expectType = false;
    }
    i++;
  }
  return -1;
}

/** The name of an arrow function whose `=>` is at index `arrow`, and its first token. */
function arrowName(
  tokens: Token[],
  arrow: number,
  partner: Map<number, number>,
): { name: string; first: number } {
  let i = arrow - 1;
  // Back over the return type and the parameters to the token before them.
  let first = i;
  while (i >= 0) {
    const t = tokens[i];
    if (t.kind === "punct" && (t.value === ")" || t.value === "]" || t.value === "}")) {
      const j = partner.get(i);
      if (j === undefined) break;
      first = j;
      i = j - 1;
      continue;
    }
    if (t.kind === "punct" && t.value === ":" && punct(tokens[i - 1], ")")) {
      i--;
      continue;
    }
    if (t.kind === "punct" && t.value === ">") {
      // A generic parameter list or a return type's closing angle: go back to its `<`.
      let d = 0;
      let j = i;
      for (; j >= 0; j--) {
        if (punct(tokens[j], ">")) d++;
        else if (punct(tokens[j], "<")) {
          if (--d === 0) break;
        }
      }
      if (j < 0) break;
      first = j;
      i = j - 1;
      continue;
    }
    if (t.kind === "id" || (t.kind === "punct" && t.value === ".")) {
      if (t.kind === "id" && (t.value === "return" || t.value === "await")) break;
      first = i;
      i--;
      continue;
    }
    break;
  }
  const stop = tokens[i];
  const before = tokens[i - 1];
  if (stop && punct(stop, "=")) {
    // `const name: Type = (...) => {`: the declared name, past its type annotation.
    const decl = declaredName(tokens, i, partner);
    if (decl >= 0) return { name: tokens[decl].value, first: decl };
  }
  if (stop && (punct(stop, "=") || punct(stop, ":")) && before?.kind === "id") {
    return { name: before.value, first: i - 1 };
  }
  // `async` (an identifier) is taken into `first`; the name is then the one before `=`.
  return { name: "<arrow>", first: Math.max(0, first) };
}

/**
 * The index of the name a `const`/`let`/`var` declaration gives, for its `=` at `eq` (past a
 * type annotation), or -1 when `eq` is not such a declaration's.
 */
function declaredName(tokens: Token[], eq: number, partner: Map<number, number>): number {
  for (let j = eq - 1; j >= 1; j--) {
    const t = tokens[j];
    if (t.kind === "punct" && [")", "]", "}"].includes(t.value)) {
      j = partner.get(j) ?? 0;
      continue;
    }
    if (t.kind === "punct" && [";", "{", "(", "[", ",", "="].includes(t.value)) return -1;
    const prev = tokens[j - 1];
    if (
      t.kind === "id" && prev.kind === "id" && ["const", "let", "var"].includes(prev.value)
    ) return j;
  }
  return -1;
}

/** Every function in `text` with its extent. */
export function findFunctions(text: string): FunctionSpan[] {
  const tokens = tokenize(text);
  const partner = pairs(tokens);
  const found = new Map<number, FunctionSpan>(); // by the index of the body's `{`
  const add = (body: number, name: string, firstLine: number) => {
    const close = partner.get(body);
    if (close === undefined || found.has(body)) return;
    const end = tokens[close].line;
    found.set(body, { name, start: firstLine, end, lines: end - firstLine + 1 });
  };

  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t.kind !== "punct") continue;
    if (t.value === "=>" && punct(tokens[i + 1], "{")) {
      const { name, first } = arrowName(tokens, i, partner);
      add(i + 1, name, tokens[first].line);
      continue;
    }
    if (t.value !== "(") continue;
    const close = partner.get(i);
    if (close === undefined) continue;
    let body = -1;
    if (punct(tokens[close + 1], "{")) body = close + 1;
    else if (punct(tokens[close + 1], ":")) body = afterReturnType(tokens, close + 1, partner);
    if (body < 0) continue;
    // What stands before the parameters: a name (method or function), `function`, generics.
    let k = i - 1;
    if (punct(tokens[k], ">")) {
      let d = 0;
      for (; k >= 0; k--) {
        if (punct(tokens[k], ">")) d++;
        else if (punct(tokens[k], "<") && --d === 0) break;
      }
      k--;
    }
    const before = tokens[k];
    if (!before) continue;
    let name: string;
    let first = k;
    if (before.kind === "id") {
      if (CONTROL.has(before.value)) continue;
      if (before.value === "function") {
        // `const name = (async) function (`: the name it is given.
        let j = k - 1;
        if (tokens[j]?.value === "async") j--;
        const named = (punct(tokens[j], "=") || punct(tokens[j], ":")) &&
          tokens[j - 1]?.kind === "id";
        name = named ? tokens[j - 1].value : "<function>";
        if (named) first = j - 1;
      } else {
        // A call followed by a block is not valid code, except `extends f(x) {`.
        if (tokens[k - 1]?.kind === "id" && tokens[k - 1].value === "extends") continue;
        if (punct(tokens[k - 1], ".")) continue;
        name = before.value;
        if (tokens[k - 1]?.kind === "id" && tokens[k - 1].value === "function") first = k - 1;
      }
    } else if (punct(before, "]")) {
      name = "[computed]";
      first = partner.get(k) ?? k;
    } else if (punct(before, "*") && tokens[k - 1]?.value === "function") {
      name = "<function*>";
    } else if (before.kind === "literal" && (before.value === '"' || before.value === "'")) {
      name = "<quoted>";
    } else {
      continue;
    }
    add(body, name, tokens[first].line);
  }
  return [...found.values()].sort((a, b) => a.start - b.start || b.end - a.end);
}

/** The functions of `text` longer than `max` lines. */
export function longFunctions(text: string, max = 200): FunctionSpan[] {
  return findFunctions(text).filter((f) => f.lines > max);
}

/** The TypeScript files under `path` (or `path` itself), sorted, `_test.ts` files left out with `skipTests`. */
export function* sourceFiles(path: string, skipTests: boolean): Generator<string> {
  const st = statSync(path);
  if (st.isFile()) {
    yield path;
    return;
  }
  for (const name of readdirSync(path).sort()) {
    if (name === "node_modules" || name.startsWith(".")) continue;
    const full = join(path, name);
    if (statSync(full).isDirectory()) yield* sourceFiles(full, skipTests);
    else if (/\.(ts|tsx|mts)$/.test(name) && !name.endsWith(".d.ts")) {
      if (skipTests && name.endsWith("_test.ts")) continue;
      yield full;
    }
  }
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  let max = 200;
  let skipTests = false;
  const paths: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--max") {
      max = Number(args[++i]);
      if (!Number.isInteger(max) || max < 1) {
        console.error(`--max takes a whole number of lines, not "${args[i]}"`);
        process.exit(2);
      }
    } else if (args[i] === "--skip-tests") skipTests = true;
    else if (args[i].startsWith("-")) {
      console.error(
        `Unknown option "${
          args[i]
        }"; usage: check_function_size.ts [--max N] [--skip-tests] [PATH...]`,
      );
      process.exit(2);
    } else paths.push(args[i]);
  }
  if (!paths.length) paths.push("src");
  let count = 0;
  for (const root of paths) {
    let files: string[];
    try {
      files = [...sourceFiles(root, skipTests)];
    } catch (e) {
      console.error(`Cannot read "${root}": ${(e as Error).message}`);
      process.exit(2);
    }
    for (const file of files) {
      for (const f of longFunctions(readFileSync(file, "utf8"), max)) {
        console.log(`${relative(".", file)}:${f.start}-${f.end} ${f.name}: ${f.lines} lines`);
        count++;
      }
    }
  }
  if (count) {
    console.error(`${count} function(s) over ${max} lines`);
    process.exit(1);
  }
}
