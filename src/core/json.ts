/**
 * JSON text exactly as Python's `json.dumps` writes it (the text Spack hashes and writes):
 * insertion key order, `ensure_ascii` escapes, compact (`,`/`:`) or indented (`indent=2`,
 * `": "`) layout.
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

/** A string literal as Python's `json.dumps(s, ensure_ascii=True)` writes it. */
export function pyJsonString(s: string): string {
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

/** Options of `pyJsonDumps`. */
export interface PyJsonOptions {
  /** Indent width (Python `indent=`); when set, `": "` separates keys and values. */
  indent?: number;
}

/**
 * `json.dumps(value, separators=(",", ":"))` (or with `indent`). Objects keep insertion order;
 * numbers print as JavaScript prints them (spec dicts hold integers only; wrap a float in
 * `PyFloat` to get Python's float text); `undefined` values in objects are skipped.
 */
export function pyJsonDumps(value: unknown, opts: PyJsonOptions = {}): string {
  const ind = opts.indent;
  const write = (v: unknown, depth: number): string => {
    if (v === null || v === undefined) return "null";
    if (typeof v === "string") return pyJsonString(v);
    if (typeof v === "boolean") return v ? "true" : "false";
    if (v instanceof PyFloat) return pyFloat(v.value);
    if (typeof v === "number") {
      if (!Number.isFinite(v)) return v !== v ? "NaN" : v > 0 ? "Infinity" : "-Infinity";
      return String(v);
    }
    if (Array.isArray(v)) {
      if (v.length === 0) return "[]";
      const parts = v.map((x) => write(x, depth + 1));
      if (ind === undefined) return "[" + parts.join(",") + "]";
      const pad = "\n" + " ".repeat(ind * (depth + 1));
      return "[" + pad + parts.join("," + pad) + "\n" + " ".repeat(ind * depth) + "]";
    }
    if (typeof v === "object") {
      const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) =>
        x !== undefined
      );
      if (entries.length === 0) return "{}";
      const sep = ind === undefined ? ":" : ": ";
      const parts = entries.map(([k, x]) => pyJsonString(k) + sep + write(x, depth + 1));
      if (ind === undefined) return "{" + parts.join(",") + "}";
      const pad = "\n" + " ".repeat(ind * (depth + 1));
      return "{" + pad + parts.join("," + pad) + "\n" + " ".repeat(ind * depth) + "}";
    }
    throw new TypeError(`Cannot serialise a value of type ${typeof v} as JSON`);
  };
  return write(value, 0);
}
