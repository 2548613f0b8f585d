import assert from "node:assert/strict";
import {
  PyFloat,
  pyFloat,
  pyJsonDumps,
  pyJsonString,
  PyJsonText,
  stringifiesAsPython,
} from "./json.ts";

const VALUE = {
  name: 'a\u00e9\u{1F600}\u007f\u0001/"\\',
  l: [],
  d: {},
  n: [1, { x: true, y: null }],
};

Deno.test("pyJsonDumps writes Python's compact json.dumps text (ensure_ascii, surrogate pairs)", () => {
  // Expected text produced by CPython 3.11: json.dumps(v, separators=(",", ":")).
  assert.equal(
    pyJsonDumps(VALUE),
    '{"name":"a\\u00e9\\ud83d\\ude00\\u007f\\u0001/\\"\\\\","l":[],"d":{},"n":[1,{"x":true,"y":null}]}',
  );
});

Deno.test("pyJsonDumps with indent writes Python's indent=2 text", () => {
  // CPython 3.11: json.dumps(v, indent=2, separators=(",", ": ")).
  assert.equal(
    pyJsonDumps(VALUE, { indent: 2 }),
    '{\n  "name": "a\\u00e9\\ud83d\\ude00\\u007f\\u0001/\\"\\\\",\n  "l": [],\n  "d": {},\n  "n": [\n    1,\n    {\n      "x": true,\n      "y": null\n    }\n  ]\n}',
  );
});

Deno.test("pyJsonDumps with indent 0 and compact separators writes Spack's manifest layout", () => {
  // CPython: json.dumps(v, indent=0, separators=(",", ":")).
  assert.equal(
    pyJsonDumps({ a: "é\u2603", b: [], c: {} }, { indent: 0, separators: [",", ":"] }),
    '{\n"a":"\\u00e9\\u2603",\n"b":[],\n"c":{}\n}',
  );
  assert.equal(
    pyJsonDumps({ a: [1, "é", null, true], b: {} }),
    '{"a":[1,"\\u00e9",null,true],"b":{}}',
  );
});

Deno.test("pyJsonString escapes the short forms Python uses and leaves / alone", () => {
  assert.equal(pyJsonString("\n\r\t\b\f/"), '"\\n\\r\\t\\b\\f/"');
});

Deno.test("pyJsonDumps keeps insertion order and skips undefined members", () => {
  assert.equal(pyJsonDumps({ b: 1, a: undefined, c: "x" }), '{"b":1,"c":"x"}');
});

Deno.test("pyJsonDumps output is ASCII-only JSON that parses back to the same value", async () => {
  const fc = (await import("fast-check")).default;
  fc.assert(
    fc.property(fc.jsonValue(), fc.boolean(), (v, pretty) => {
      const text = pyJsonDumps(v, pretty ? { indent: 2 } : {});
      assert.ok(/^[\x20-\x7e\n]*$/.test(text), text);
      assert.deepEqual(JSON.parse(text), JSON.parse(JSON.stringify(v)));
    }),
    { numRuns: 300 },
  );
});

Deno.test("pyFloat and PyFloat write numbers as Python's repr(float)", () => {
  // CPython repr() of the same floats.
  assert.equal(pyFloat(1), "1.0");
  assert.equal(pyFloat(1795817983.4622617), "1795817983.4622617");
  assert.equal(pyFloat(1e-5), "1e-05");
  assert.equal(pyFloat(0.0001), "0.0001");
  assert.equal(pyFloat(1e16), "1e+16");
  assert.equal(pyFloat(123456789012345.6), "123456789012345.6");
  assert.equal(pyFloat(-2.5), "-2.5");
  assert.equal(pyJsonDumps({ t: new PyFloat(2) }), '{"t":2.0}');
});

Deno.test("pyJsonDumps puts a PyJsonText in as it is when compact, else writes its value", () => {
  const dict = { name: "zlib", "é": [1, 2.5, null], params: { on: true, cflags: [] } };
  const text = new PyJsonText(pyJsonDumps(dict));
  assert.equal(pyJsonDumps({ spec: text, n: 1 }), pyJsonDumps({ spec: dict, n: 1 }));
  assert.equal(
    pyJsonDumps({ spec: text }, { indent: 2 }),
    pyJsonDumps({ spec: dict }, { indent: 2 }),
  );
  assert.equal(
    pyJsonDumps({ spec: text }, { separators: [", ", ": "] }),
    pyJsonDumps({ spec: dict }, { separators: [", ", ": "] }),
  );
  assert.deepEqual(JSON.parse(JSON.stringify({ spec: text })), { spec: dict });
});

Deno.test("stringifiesAsPython: where it says so, JSON.stringify writes pyJsonDumps's text", async () => {
  const fc = (await import("fast-check")).default;
  let plain = 0;
  fc.assert(
    fc.property(fc.jsonValue(), fc.boolean(), (v, pretty) => {
      const text = JSON.stringify(v, null, pretty ? 2 : undefined);
      if (!stringifiesAsPython(text)) return;
      plain++;
      const parsed = JSON.parse(text);
      assert.equal(JSON.stringify(parsed), pyJsonDumps(parsed), text);
    }),
    { numRuns: 2000 },
  );
  // The property is not vacuous: many documents pass.
  assert.ok(plain > 200, `only ${plain} documents passed`);
  // What it must refuse: each of these writes differently.
  for (
    const text of [
      "-1.659564555570695e-9",
      "[1e-5]",
      "[1e16]",
      "[12345678901234567]",
      '["\\u00e9"]',
      '["\u007f"]',
      '["\u00e9"]',
      '"\\u2028"',
    ]
  ) {
    const parsed = JSON.parse(text);
    assert.equal(stringifiesAsPython(text), false, text);
    assert.notEqual(JSON.stringify(parsed), pyJsonDumps(parsed), text);
  }
  // Any fraction or exponent is refused, also where both would write the same.
  for (const text of ['{"a":1.5}', "[1e5]", '{"a":-2E-3}', "1.5", " -2e-3"]) {
    assert.equal(stringifiesAsPython(text), false);
  }
  assert.equal(
    stringifiesAsPython('{"name":"dag-1","version":"1.0","n":[1,-2],"s":"x:1.5"}'),
    false,
  );
  assert.equal(
    stringifiesAsPython('{\n  "name": "dag-1",\n  "version": "1.0",\n  "n": [1, -2]\n}'),
    true,
  );
});
