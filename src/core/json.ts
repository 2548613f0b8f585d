/**
 * JSON text exactly as Python's `json.dumps` writes it (the text Spack hashes and writes): one
 * writer for every form Spack uses. Insertion key order, `ensure_ascii` escapes (everything
 * outside `' '`..`'~'`, U+007F included), integers as Python's `int`, other numbers as Python's
 * `repr(float)` (`1e-05`, `1e+16`), `NaN`/`Infinity` as Python writes them (`allow_nan=True`),
 * compact (`,`/`:`) or indented layout with any separators (`indent=2` with `": "`, the index
 * and spec files; `indent=0` with `":"`, the v3 manifests).
 *
 * @module
 */

const ESC: Record<string, string> = {
  '"': '\\"',
  "\\": "\\\\",
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
  "\b": "\\b",
  "\f": "\\f",
};

/** Text of printable ASCII without `"` or `\\`: written as it is. */
const PLAIN = /^[ !#-[\]-~]*$/;

/** A string literal as Python's `json.dumps(s, ensure_ascii=True)` writes it. */
export function pyJsonString(s: string): string {
  // Most strings need no escape: one test instead of a replace.
  if (PLAIN.test(s)) return '"' + s + '"';
  // deno-lint-ignore no-control-regex
  return '"' + s.replace(/["\\\u0000-\u001f\u007f-\uffff]/g, (c) => {
    const e = ESC[c];
    if (e) return e;
    return "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0");
  }) + '"';
}

/** A number `pyJsonDumps` writes as Python writes a float (`repr`): `1.0`, `1e-05`, `1e+16`. */
export class PyFloat {
  constructor(readonly value: number) {}
}

/**
 * A value already written by `pyJsonDumps` with its default (compact) options: a compact
 * `pyJsonDumps` puts the text in as it is, another writes the value it holds, as
 * `JSON.stringify` does. Keeping a large dict as its text takes a fraction of its memory.
 */
export class PyJsonText {
  constructor(readonly text: string) {}
  toJSON(): unknown {
    return JSON.parse(this.text);
  }
}

/** A number as Python's `repr(float)` writes it (`1.0`, `1e-05`, `1e+16`, `0.0001`). */
export function pyFloat(n: number): string {
  if (Number.isNaN(n)) return "NaN";
  if (!Number.isFinite(n)) return n > 0 ? "Infinity" : "-Infinity";
  if (n === 0) return Object.is(n, -0) ? "-0.0" : "0.0";
  const [mant, expText] = n.toExponential().split("e");
  const e = Number(expText);
  const sign = mant.startsWith("-") ? "-" : "";
  const digits = mant.replace(/^-/, "").replace(".", "");
  if (e < -4 || e >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${m}e${e < 0 ? "-" : "+"}${String(Math.abs(e)).padStart(2, "0")}`;
  }
  if (e < 0) return `${sign}0.${"0".repeat(-e - 1)}${digits}`;
  const int = digits.slice(0, e + 1).padEnd(e + 1, "0");
  const frac = digits.slice(e + 1);
  return `${sign}${int}.${frac || "0"}`;
}

/**
 * A JavaScript number as Python writes it: a safe integer as an `int` (no exponent, no `.0`),
 * anything else as a `float` (an integral number past 2^53 can only have come from a float).
 */
function pyNumber(n: number): string {
  return Number.isSafeInteger(n) ? String(n) : pyFloat(n);
}

/** Options of `pyJsonDumps`, named as Python's `json.dumps` arguments. */
export interface PyJsonOptions {
  /**
   * Indent width (Python `indent=`). `0` puts every member on its own line without indentation
   * (Spack's manifests); unset writes everything on one line.
   */
  indent?: number;
  /**
   * `[item, key]` separators (Python `separators=`). The default is compact (`[",", ":"]`)
   * without `indent` and `[",", ": "]` with it.
   */
  separators?: readonly [string, string];
}

/**
 * `json.dumps(value, separators=(",", ":"))`, or with `indent`/`separators`. Objects keep
 * insertion order and skip `undefined` members; safe integers print as Python ints, other
 * numbers as Python floats (wrap an integral number in `PyFloat` to get a float's `2.0`);
 * `bigint`s print as ints.
 */
export function pyJsonDumps(value: unknown, opts: PyJsonOptions = {}): string {
  const ind = opts.indent;
  const [itemSep, keySep] = opts.separators ?? (ind === undefined ? [",", ":"] : [",", ": "]);
  const compact = ind === undefined && itemSep === "," && keySep === ":";
  const open = (depth: number) => ind === undefined ? "" : "\n" + " ".repeat(ind * depth);
  const join = ind === undefined
    ? (parts: string[], _depth: number, l: string, r: string) => l + parts.join(itemSep) + r
    : (parts: string[], depth: number, l: string, r: string) =>
      l + open(depth + 1) + parts.join(itemSep + open(depth + 1)) + open(depth) + r;
  const write = (v: unknown, depth: number): string => {
    if (v === null || v === undefined) return "null";
    if (typeof v === "string") return pyJsonString(v);
    if (typeof v === "boolean") return v ? "true" : "false";
    if (typeof v === "number") return pyNumber(v);
    if (typeof v === "bigint") return v.toString();
    if (v instanceof PyFloat) return pyFloat(v.value);
    if (v instanceof PyJsonText) return compact ? v.text : write(v.toJSON(), depth);
    if (Array.isArray(v)) {
      if (v.length === 0) return "[]";
      return join(v.map((x) => write(x, depth + 1)), depth, "[", "]");
    }
    if (typeof v === "object") {
      const parts: string[] = [];
      const o = v as Record<string, unknown>;
      for (const k in o) {
        const x = o[k];
        if (x !== undefined && Object.hasOwn(o, k)) {
          parts.push(pyJsonString(k) + keySep + write(x, depth + 1));
        }
      }
      if (parts.length === 0) return "{}";
      return join(parts, depth, "{", "}");
    }
    throw new TypeError(`Cannot serialise a value of type ${typeof v} as JSON`);
  };
  return write(value, 0);
}

/**
 * True when `JSON.stringify` of what `JSON.parse(text)` gives writes the text a compact
 * `pyJsonDumps` writes, for the document and every part of it: `text` is printable ASCII (and
 * JSON's whitespace) without `\u` escapes (a character past `~` would come back unescaped) and
 * has no number that is not a safe integer (a fraction, an exponent or 16 digits or more:
 * Python writes those as floats). Either form of every other value is the same (keys in the
 * same order, the same short escapes). A cheap test on text that passes it saves a writer of
 * its parts most of their cost; text that fails it (rarely, by a false alarm) goes to
 * `pyJsonDumps`.
 */
export function stringifiesAsPython(text: string): boolean {
  // Four plain searches: two and a half times faster than one alternation of them.
  return !(/[^\x20-\x7e\n\r\t]/.test(text) || text.includes("\\u") ||
    /(?:^|[:,[])\s*-?\d+[.eE]/.test(text) || /\d{16}/.test(text));
}

/**
 * The text of a JSON scalar read from an untrusted document: a string as it is, a number or
 * boolean as `String` writes it, anything else (null, a list, an object) `fallback`. Unlike
 * `String(v)`, never runs a document's own `toString` and never throws (`String` throws on
 * `{"toString": 1}`).
 */
export function scalarText(v: unknown, fallback = ""): string {
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint") return String(v);
  return fallback;
}
