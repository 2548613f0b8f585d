import assert from "node:assert/strict";
import { gunzipSync } from "node:zlib";
import { classify, PrefixMatcher } from "./scan.ts";
import { serializeBuildinfo, yamlScalar } from "./buildinfo.ts";
import { parallelGzipStream } from "./pack.ts";
import { parse } from "yaml";
import { collect, streamOf } from "../core/streams.ts";
import { gzipBytes } from "../core/gzip.ts";

const enc = new TextEncoder();

Deno.test("classify: ELF magic is binary, short files unknown, UTF-8 and Latin-1 text", () => {
  assert.equal(classify(new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0])), "binary");
  assert.equal(classify(new Uint8Array([0xcf, 0xfa, 0xed, 0xfe, 7, 0, 0, 1])), "binary");
  assert.equal(classify(enc.encode("short")), "unknown");
  assert.equal(classify(enc.encode("plain text, é ok\n")), "text");
  assert.equal(classify(new Uint8Array([0x61, 0x62, 0xe9, 0x63, 0x64, 0x65, 0x66, 0x67])), "text");
  assert.equal(
    classify(new Uint8Array([0x61, 0x62, 0xe9, 0x00, 0x64, 0x65, 0x66, 0x67])),
    "unknown",
  );
  assert.equal(
    classify(new Uint8Array([0x61, 0x62, 0xe9, 0x85, 0x64, 0x65, 0x66, 0x67])),
    "unknown",
  );
  // a Java class file (cafebabe + a big version) is not a fat Mach-O binary
  assert.equal(classify(new Uint8Array([0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 52, 1])), "unknown");
});

Deno.test("PrefixMatcher follows Spack's look-behind: a prefix after word characters and '/' does not count", () => {
  const m = new PrefixMatcher(["/opt/store"]);
  assert.ok(m.search(enc.encode("path=/opt/store/lib")));
  assert.ok(m.search(enc.encode("-L/opt/store/lib")));
  assert.ok(m.search(enc.encode("/opt/store")));
  assert.ok(m.search(enc.encode("abc-/opt/store")));
  assert.ok(!m.search(enc.encode("/x/opt/store/lib")));
  assert.ok(!m.search(enc.encode("/x/ab_c/opt/store/lib")));
  assert.ok(!m.search(enc.encode("nothing here")));
  assert.ok(m.search(enc.encode("/x/opt/store and /opt/store")));
  assert.ok(m.matchStart("/opt/store/lib/libz.so"));
  assert.ok(!m.matchStart("/usr/opt/store"));
});

Deno.test("buildinfo is one line of flow YAML that parses back to the same values", () => {
  const meta = {
    sbangInstallPath: "/s/bin/sbang",
    buildpath: "/s",
    spackprefix: "/spack",
    relativePrefix: "linux-x86_64/a-1.0-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    hashToPrefix: { aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa: "/s/linux-x86_64/a-1.0-aaaa" },
  };
  const lists = {
    relocateBinaries: ["bin/a"],
    relocateLinks: [],
    relocateTextfiles: ["share/données.txt", "a b: c", "true", "123", "#x", "[y]"],
  };
  const text = serializeBuildinfo(meta, lists);
  assert.equal(text.split("\n").length, 2);
  assert.ok(text.startsWith("{sbang_install_path: /s/bin/sbang, buildpath: /s, "));
  const back = parse(text);
  assert.deepEqual(back.relocate_textfiles, lists.relocateTextfiles);
  assert.deepEqual(back.hash_to_prefix, meta.hashToPrefix);
  assert.equal(back.hardlinks_deduped, true);
  assert.equal(yamlScalar("lib/libz.so.1"), "lib/libz.so.1");
});

Deno.test("parallel gzip: several members that decompress to the input; input under one block gives the same bytes as gzipBytes", async () => {
  const data = new Uint8Array(3_500_000);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7919) % 251 % 17;
  const gz = await collect(
    streamOf(data).pipeThrough(parallelGzipStream({ blockSize: 1 << 20, parallel: 2 })),
  );
  let members = 0;
  for (let i = 0; i + 3 < gz.length; i++) {
    if (gz[i] === 0x1f && gz[i + 1] === 0x8b && gz[i + 2] === 8 && gz[i + 9] === 0xff) members++;
  }
  assert.ok(members >= 4, `members ${members}`);
  assert.deepEqual(new Uint8Array(gunzipSync(gz)), data);
  const small = enc.encode("hello world ".repeat(100));
  const one = await collect(streamOf(small).pipeThrough(parallelGzipStream()));
  assert.deepEqual(one, gzipBytes(small));
  const empty = await collect(streamOf(new Uint8Array(0)).pipeThrough(parallelGzipStream()));
  assert.deepEqual(new Uint8Array(gunzipSync(empty)), new Uint8Array(0));
});

Deno.test("levelFor stores random blocks and compresses text and random-looking text", async () => {
  const { levelFor } = await import("./pack.ts");
  const random = new Uint8Array(1 << 20);
  for (let i = 0; i < random.length; i += 65536) {
    crypto.getRandomValues(random.subarray(i, i + 65536));
  }
  assert.equal(levelFor(random, 6), 0);
  const text = enc.encode("/opt/store/lib/libz.so.1\n".repeat(50_000));
  assert.equal(levelFor(text, 6), 6);
  // printable random characters still shrink under Huffman coding: compressed
  const printable = random.map((b) => 0x21 + (b % 64));
  assert.equal(levelFor(printable, 6), 6);
  // random at the start only: compressed
  const mixed = text.slice(0, 1 << 20);
  mixed.set(random.subarray(0, 100_000));
  assert.equal(levelFor(mixed, 6), 6);
});

Deno.test("PrefixMatcher.searchFile agrees with search over the whole file, whatever the window (property)", async () => {
  const { default: fc } = await import("fast-check");
  const { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } = await import("node:fs");
  const { join } = await import("node:path");
  const { tmpdir } = await import("node:os");
  const dir = mkdtempSync(join(tmpdir(), "spackle-scan-"));
  const m = new PrefixMatcher(["/opt/store", "/opt/store/bin/sbang"]);
  try {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom("a", "_", "/", " ", "-", "\n", "/opt/store", "x/opt/store"), {
          maxLength: 60,
        }),
        fc.integer({ min: 25, max: 80 }),
        (parts, win) => {
          const data = enc.encode(parts.join(""));
          const path = join(dir, "f");
          writeFileSync(path, data);
          const fd = openSync(path, "r");
          try {
            assert.equal(m.searchFile(fd, data.length, new Uint8Array(win)), m.search(data));
          } finally {
            closeSync(fd);
          }
        },
      ),
      { numRuns: 300 },
    );
    // A run of word characters longer than the window, preceded by "/": not an occurrence.
    const long = enc.encode("/" + "a".repeat(500) + "/opt/store/lib\n");
    writeFileSync(join(dir, "g"), long);
    const fd = openSync(join(dir, "g"), "r");
    try {
      assert.equal(m.search(long), false);
      assert.equal(m.searchFile(fd, long.length, new Uint8Array(64)), false);
    } finally {
      closeSync(fd);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

Deno.test("deflateFor: text deflated, random stored, random-looking text Huffman-coded only", async () => {
  const { deflateFor, repeatShare } = await import("./pack.ts");
  const { constants } = await import("node:zlib");
  const random = new Uint8Array(1 << 20);
  for (let i = 0; i < random.length; i += 65536) {
    crypto.getRandomValues(random.subarray(i, i + 65536));
  }
  const text = enc.encode("/opt/store/lib/libz.so.1\n".repeat(50_000)).slice(0, 1 << 20);
  const printable = random.map((b) => 0x21 + (b % 64));
  assert.deepEqual(deflateFor(text, 6), { level: 6, strategy: constants.Z_DEFAULT_STRATEGY });
  assert.equal(deflateFor(random, 6).level, 0);
  assert.deepEqual(deflateFor(printable, 6), {
    level: 6,
    strategy: constants.Z_HUFFMAN_ONLY,
    memLevel: 9,
  });
  assert.ok(repeatShare(text) > 0.9);
  assert.ok(repeatShare(printable.subarray(0, 16384)) < 0.01);
  // Random-looking text with text in its middle: deflated as a whole.
  const mixed = printable.slice();
  mixed.set(text.subarray(0, 100_000), 450_000);
  assert.equal(deflateFor(mixed, 6).strategy, constants.Z_DEFAULT_STRATEGY);
  // Whatever the choice, each block is a gzip member that reads back.
  for (const b of [text, random, printable, mixed]) {
    const gz = await collect(streamOf(b).pipeThrough(parallelGzipStream()));
    assert.deepEqual(new Uint8Array(gunzipSync(gz)), b);
  }
  // Huffman-only costs little on such data: within 1% of full deflate.
  const huff = (await collect(streamOf(printable).pipeThrough(parallelGzipStream()))).length;
  const full = gzipBytes(printable).length;
  assert.ok(huff < full * 1.01, `${huff} vs ${full}`);
});
