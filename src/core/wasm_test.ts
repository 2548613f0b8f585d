import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { gunzipSync, gzipSync } from "node:zlib";
import fc from "fast-check";
import { wasmCoreSync } from "./wasm.ts";

const core = wasmCoreSync();

function gunzip(data: Uint8Array, chunk: number): Uint8Array {
  const parts: number[] = [];
  const d = core.gunzip();
  for (let i = 0; i < data.length || i === 0; i += chunk) {
    d.push(data.subarray(i, i + chunk), (o) => parts.push(...o));
    if (!data.length) break;
  }
  d.end();
  return new Uint8Array(parts);
}

function gzip(data: Uint8Array, chunk: number, level = 6): Uint8Array {
  const parts: number[] = [];
  const z = core.gzip(level);
  for (let i = 0; i < data.length; i += chunk) {
    z.push(data.subarray(i, i + chunk), (o) => parts.push(...o));
  }
  z.end((o) => parts.push(...o));
  return new Uint8Array(parts);
}

/** Text-like bytes with repeats (compressible), from a seed. */
const textish = fc.array(fc.constantFrom("/opt/spack/", "lib", "foo", "\n", "a", "zz", "\0"), {
  maxLength: 3000,
}).map((w) => new TextEncoder().encode(w.join("")));

Deno.test("the WebAssembly sha256 equals node:crypto's for any input and split", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 5000 }), fc.integer({ min: 1, max: 300 }), (d, n) => {
      const h = core.sha256();
      for (let i = 0; i < d.length; i += n) h.update(d.subarray(i, i + n));
      assert.equal(h.digestHex(), createHash("sha256").update(d).digest("hex"));
    }),
  );
});

Deno.test("the WebAssembly gunzip reads what zlib writes, at every level and split", () => {
  fc.assert(
    fc.property(
      fc.oneof(fc.uint8Array({ maxLength: 20000 }), textish),
      fc.integer({ min: 0, max: 9 }),
      fc.integer({ min: 1, max: 4096 }),
      (d, level, n) => {
        assert.deepEqual(gunzip(new Uint8Array(gzipSync(d, { level })), n), d);
      },
    ),
    { numRuns: 150 },
  );
});

Deno.test("zlib reads what the WebAssembly gzip writes, at every level and split", () => {
  fc.assert(
    fc.property(
      fc.oneof(fc.uint8Array({ maxLength: 20000 }), textish),
      fc.integer({ min: 0, max: 9 }),
      fc.integer({ min: 1, max: 70000 }),
      (d, level, n) => {
        const z = gzip(d, n, level);
        assert.deepEqual([...z.subarray(0, 10)], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
        assert.deepEqual(new Uint8Array(gunzipSync(z)), d);
      },
    ),
    { numRuns: 150 },
  );
  // Large and repetitive: across the 64 KiB blocks and the 32 KiB window.
  const big = new TextEncoder().encode("spack /opt/spack/linux-x86_64/pkg-1.0/lib\n".repeat(40000));
  const z = gzip(big, 1 << 20);
  assert.deepEqual(new Uint8Array(gunzipSync(z)), big);
  assert.ok(z.length < big.length / 20, `${z.length} bytes`);
});

Deno.test("the WebAssembly gunzip fails where zlib does, with zlib's words", () => {
  const good = new Uint8Array(gzipSync(new TextEncoder().encode("hello, world\n".repeat(300))));
  const cases: Uint8Array[] = [
    new Uint8Array([]),
    new Uint8Array([1, 2, 3]),
    good.subarray(0, 5),
    good.subarray(0, good.length - 3),
    new Uint8Array([...good, 0x1f]),
    new Uint8Array([...good, 7, 7]),
  ];
  const crc = good.slice();
  crc[crc.length - 6] ^= 1;
  const len = good.slice();
  len[len.length - 2] ^= 1;
  const method = good.slice();
  method[2] = 7;
  cases.push(crc, len, method);
  for (let i = 10; i < good.length - 8; i += 3) {
    const c = good.slice();
    c[i] ^= 0x55;
    cases.push(c);
  }
  for (const c of cases) {
    let want = "ok", got = "ok";
    try {
      gunzipSync(c);
    } catch (e) {
      want = (e as Error).message;
    }
    try {
      gunzip(c, 7);
    } catch (e) {
      got = (e as Error).message;
    }
    assert.equal(got, want, `input of ${c.length} bytes`);
  }
});
