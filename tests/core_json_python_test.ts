/**
 * `pyJsonDumps` against Python's own `json.dumps` on generated values, in every form Spack uses.
 * It runs python3, so it lives here rather than in `src/core`'s suite, which also runs under Bun and
 * in a browser.
 */
import assert from "node:assert/strict";
import { PyFloat, pyJsonDumps, type PyJsonOptions } from "../src/core/json.ts";

/** A JSON value and the Python expression that builds the same value. */
type Pair = { js: unknown; py: string };

function pyStr(s: string): string {
  // Every UTF-16 code unit as \\uXXXX: a lone surrogate stays one, a pair gives the same escapes.
  let out = '"';
  for (let i = 0; i < s.length; i++) out += "\\u" + s.charCodeAt(i).toString(16).padStart(4, "0");
  return out + '"';
}

function pyFloatExpr(n: number): string {
  if (Object.is(n, -0)) return "float('-0.0')"; // String(-0) is "0"
  return Number.isNaN(n) ? "float('nan')" : `float('${String(n)}')`;
}

async function pairArbitrary() {
  const fc = (await import("fast-check")).default;
  const str = fc.oneof(
    fc.string({ unit: "binary" }),
    fc.string({ unit: "grapheme" }),
    fc.string({ unit: fc.integer({ min: 0, max: 0x9f }).map((c) => String.fromCharCode(c)) }),
  );
  const leaf = fc.oneof(
    str.map((s): Pair => ({ js: s, py: pyStr(s) })),
    fc.boolean().map((b): Pair => ({ js: b, py: b ? "True" : "False" })),
    fc.constant<Pair>({ js: null, py: "None" }),
    fc.oneof(fc.integer(), fc.maxSafeInteger(), fc.integer({ min: -10, max: 10 }))
      .map((i): Pair => ({ js: i, py: String(i) })),
    fc.bigInt({ min: -(2n ** 80n), max: 2n ** 80n }).map((b): Pair => ({ js: b, py: String(b) })),
    // Floats: non-integral numbers as they come; any float (integral, -0, NaN, inf) as PyFloat.
    fc.double({ noNaN: true, noDefaultInfinity: true }).filter((d) => !Number.isInteger(d))
      .map((d): Pair => ({ js: d, py: pyFloatExpr(d) })),
    fc.double().map((d): Pair => ({ js: new PyFloat(d), py: pyFloatExpr(d) })),
    fc.constantFrom(1e-5, 1e-7, 0.0001, 1e16, 1.5e300, 5e-324, 0.1 + 0.2)
      .map((d): Pair => ({ js: d, py: pyFloatExpr(d) })),
  );
  const { value } = fc.letrec<{ value: Pair }>((tie) => ({
    value: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      leaf,
      fc.array(tie("value"), { maxLength: 5 }).map((xs): Pair => ({
        js: xs.map((x) => x.js),
        py: "[" + xs.map((x) => x.py).join(",") + "]",
      })),
      fc.array(fc.tuple(str.filter((k) => k !== "__proto__"), tie("value")), { maxLength: 5 })
        .map((kvs): Pair => {
          const js: Record<string, unknown> = {};
          for (const [k, v] of kvs) js[k] = v.js;
          // Python's dict keeps the order JavaScript gives the keys (integer-like keys first).
          const byKey = new Map(kvs.map(([k, v]) => [k, v.py]));
          const py = Object.keys(js).map((k) => pyStr(k) + ":" + byKey.get(k)).join(",");
          return { js, py: "{" + py + "}" };
        }),
    ),
  }));
  return { fc, value };
}

/** The three forms Spack writes, as `json.dumps` arguments and as `pyJsonDumps` options. */
const FORMS: { py: string; opts: PyJsonOptions }[] = [
  { py: 'separators=(",", ":")', opts: {} },
  { py: "indent=2", opts: { indent: 2 } },
  { py: 'indent=0, separators=(",", ":")', opts: { indent: 0, separators: [",", ":"] } },
  { py: "indent=1", opts: { indent: 1, separators: [",", ": "] } },
];

Deno.test("pyJsonDumps writes what Python's json.dumps writes for generated values, in every form", async () => {
  const { fc, value } = await pairArbitrary();
  // A new seed each run (named in a failure's message) so that runs explore different values.
  const seed = Date.now() | 0;
  const samples = fc.sample(value, { numRuns: 600, seed });
  // One Python process for every value and form.
  const script = [
    "import json, sys",
    "values = [" + samples.map((s) => s.py).join(",\n") + "]",
    "out = [[" + FORMS.map((f) => `json.dumps(v, ${f.py})`).join(", ") + "] for v in values]",
    "sys.stdout.write(json.dumps(out))",
  ].join("\n");
  // The script goes through stdin: it is larger than a command line may be.
  const child = new Deno.Command("python3", {
    args: ["-"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(script));
  await w.close();
  const r = await child.output();
  assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
  const expected = JSON.parse(new TextDecoder().decode(r.stdout)) as string[][];
  assert.equal(expected.length, samples.length);
  for (let i = 0; i < samples.length; i++) {
    for (let f = 0; f < FORMS.length; f++) {
      assert.equal(
        pyJsonDumps(samples[i].js, FORMS[f].opts),
        expected[i][f],
        `seed ${seed}: value ${samples[i].py} with ${FORMS[f].py}`,
      );
    }
  }
});
