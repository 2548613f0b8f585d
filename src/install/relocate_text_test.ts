import assert from "node:assert/strict";
import fc from "fast-check";
import { applyPatches, BinaryReplacer, TextReplacer } from "./relocate_text.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

Deno.test("TextReplacer rewrites prefixes in map order and keeps path-like context", () => {
  const r = new TextReplacer([
    ["/old/store/pkg-abc", "/new/pkg-abc"],
    ["/old/store", "/new"],
  ]);
  const out = r.apply(enc.encode(
    "-L/old/store/pkg-abc/lib x=/old/store/other/bin\nnot/old/store/here /old/storex a/old/store\n",
  ));
  assert.equal(
    dec.decode(out!),
    // Same result as Spack's Python regex on these bytes (word characters before a prefix
    // are kept as group 1; path characters after it as group 3).
    "-L/new/pkg-abc/lib x=/new/other/bin\nnot/new/here /newx a/new\n",
  );
});

Deno.test("TextReplacer returns undefined when no prefix occurs and handles Latin-1 bytes", () => {
  const r = new TextReplacer([["/old", "/new"]]);
  assert.equal(r.apply(enc.encode("nothing here")), undefined);
  const latin = new Uint8Array([0xe9, 0x20, ...enc.encode("/old/x"), 0xff]);
  assert.deepEqual(r.apply(latin), new Uint8Array([0xe9, 0x20, ...enc.encode("/new/x"), 0xff]));
});

Deno.test("BinaryReplacer pads a shorter prefix with leading slashes (C string keeps length)", () => {
  const r = new BinaryReplacer([["/old/prefix", "/new"]]);
  const data = enc.encode("\0/old/prefix/lib/x.so\0tail");
  const { patches, problems } = r.plan(data);
  assert.deepEqual(problems, []);
  applyPatches(data, patches);
  assert.equal(dec.decode(data), "\0////////new/lib/x.so\0tail");
});

Deno.test("BinaryReplacer shortens a short-suffixed C string when it shrinks by more than 7", () => {
  const r = new BinaryReplacer([["/a-very-long-old-prefix", "/short"]]);
  const data = enc.encode("/a-very-long-old-prefix/ab\0rest");
  const { patches, problems } = r.plan(data);
  assert.deepEqual(problems, []);
  applyPatches(data, patches);
  assert.equal(dec.decode(data.subarray(0, 10)), "/short/ab\0");
});

Deno.test("BinaryReplacer reports a longer prefix and an unshrinkable C string", () => {
  const grow = new BinaryReplacer([["/old", "/longer-new"]]).plan(enc.encode("x/old/lib\0"));
  assert.equal(grow.problems.length, 1);
  assert.equal(grow.problems[0].kind, "grow");
  assert.equal(grow.patches.length, 0);
  const shrink = new BinaryReplacer([["/old/prefix", "/new/prefi"]]).plan(
    enc.encode("/old/prefix/a\0"),
  );
  assert.equal(shrink.problems[0]?.kind, "shrink");
});

Deno.test("BinaryReplacer picks the first alternative at the leftmost position", () => {
  const r = new BinaryReplacer([["/root/pkg", "/r/p"], ["/root", "/r"]]);
  const data = enc.encode("/root/pkg/lib/file.so\0/root/y/zzzzzzz\0");
  applyPatches(data, r.plan(data).patches);
  assert.equal(dec.decode(data), "//////r/p/lib/file.so\0////r/y/zzzzzzz\0");
});

Deno.test("TextReplacer.apply() agrees with Spack's regex on random text (property)", () => {
  // Old prefixes with a short shared start (searched one by one) and with a long one (the old
  // store root, searched once for all).
  const pairSets: [string, string][][] = [[
    ["/old/store/pkg-abc", "/n/pkg-abc"],
    ["/old/store", "/new-store"],
    ["/old/sbang", "/x/bin/sbang"],
  ], [
    ["/old/store/pkg-abc", "/n/pkg-abc"],
    ["/old/store/pkg-ab", "/n/pkg-ab"],
    ["/old/store", "/new-store"],
    ["/old/store/bin/sbang", "/x/bin/sbang"],
  ]];
  const pieces = [
    "/old/store",
    "/old/store/pkg-abc",
    "/old/store/pkg-ab",
    "/old/store/bin/sbang",
    "/old/sbang",
    "/",
    "a",
    "-",
    "_",
    " ",
    "\n",
    "=",
    "x/",
    "\0",
    "é",
    "pkg",
    "/old",
    "store",
  ];
  for (const pairs of pairSets) {
    const r = new TextReplacer(pairs);
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...pieces), { maxLength: 30 }), (parts) => {
        const data = enc.encode(parts.join(""));
        const a = r.apply(data);
        const b = r.applyRegex(data);
        assert.deepEqual(a && Array.from(a), b && Array.from(b));
      }),
      { numRuns: 3000 },
    );
  }
});
