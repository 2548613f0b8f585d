import assert from "node:assert/strict";
import { parse as parseYaml } from "yaml";
import { parseBuildinfo, parseFlowMapping, prefixMap } from "./relocate.ts";

const LINE = "{sbang_install_path: /b/store/bin/sbang, buildpath: /b/store/__pad, " +
  "spackprefix: /home/u/spack, relative_prefix: linux-x86_64/zlib-1.3-abc, " +
  "hardlinks_deduped: true, hash_to_prefix: {abc: /b/store/__pad/linux-x86_64/zlib-1.3-abc, " +
  "def: /b/store/__pad/linux-x86_64/dep-1-def}, relocate_binaries: [lib/libz.so.1.3], " +
  "relocate_links: [], relocate_textfiles: [lib/pkgconfig/zlib.pc, include/zconf.h]}";

Deno.test("parseFlowMapping() reads Spack's one-line buildinfo as the YAML parser does", () => {
  assert.deepEqual(parseFlowMapping(LINE), parseYaml(LINE));
  assert.deepEqual(parseFlowMapping("{a: [], b: {}, c: null}\n"), { a: [], b: {}, c: null });
});

Deno.test("parseFlowMapping() reads lists of plain paths at once, as the YAML parser does", () => {
  const paths = Array.from({ length: 3000 }, (_, i) => `share/d${i % 30}/f-${i}.txt`);
  for (
    const text of [
      "{a: [ x ,y\n, z ], b: [ ], c: [true, null, ~, v], d: [], e: [/a b/c]}",
      `{buildpath: /b, relocate_textfiles: [${paths.join(", ")}], relocate_links: [l]}`,
    ]
  ) assert.deepEqual(parseFlowMapping(text), parseYaml(text), text);
  // Anything but plain ASCII paths is read by the scalar reader (same values, or YAML's).
  assert.deepEqual(parseFlowMapping("{a: [é/x, y]}"), { a: ["é/x", "y"] });
  assert.equal(parseFlowMapping("{a: [x, 'y z']}"), undefined);
  assert.equal(parseFlowMapping("{a: [x, [y]], b: [p/q]}"), undefined);
});

Deno.test("parseFlowMapping() leaves quoted scalars, explicit keys and comments to YAML", () => {
  for (
    const text of [
      "{a: 'x, y'}",
      '{a: "x"}',
      "{? /long/key : abc}",
      "{a: [x, 'y z']}",
      "{a: b: c}",
      "{a: {b: {c: d}}}",
      "a: b",
      "{a: b} trailing",
    ]
  ) assert.equal(parseFlowMapping(text), undefined, text);
  // Those still parse through the complete parser.
  assert.equal(
    parseBuildinfo("{buildpath: '/x y', prefix_to_hash: {? /p : abc}}").buildpath,
    "/x y",
  );
});

Deno.test("prefixMap() orders sbang, specs by hash, store root, and drops identities", () => {
  const info = parseBuildinfo(LINE);
  assert.deepEqual(
    prefixMap(info, {
      root: "/r",
      sbangPath: "/r/bin/sbang",
      specs: [
        { hash: "abc", prefix: "/r/linux-x86_64/zlib-1.3-abc" },
        { hash: "def", prefix: "/b/store/__pad/linux-x86_64/dep-1-def" },
        { hash: "zzz", prefix: "/r/other" },
      ],
    }),
    [
      ["/b/store/bin/sbang", "/r/bin/sbang"],
      ["/b/store/__pad/linux-x86_64/zlib-1.3-abc", "/r/linux-x86_64/zlib-1.3-abc"],
      ["/b/store/__pad", "/r"],
    ],
  );
});
