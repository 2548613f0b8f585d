import assert from "node:assert/strict";
import fc from "fast-check";
import {
  type ChunkReader,
  gunzipBytes,
  gunzipReader,
  gunzipStream,
  gzipBytes,
  gzipStream,
  isGzip,
} from "./gzip.ts";
import { collect, streamOf } from "./streams.ts";
import { IntegrityError } from "../errors.ts";
import { BACKEND } from "./backend.ts";

const text = new TextEncoder().encode("line of text with /some/prefix/path\n".repeat(5000));

Deno.test("gzipStream() writes Spack's header: mtime 0, no name, OS byte 255", async () => {
  const gz = await collect(streamOf(text).pipeThrough(gzipStream()));
  assert.deepEqual([...gz.subarray(0, 10)], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
});

Deno.test("gzipStream() gives byte-identical output on every run and every chunking", async () => {
  const a = await collect(streamOf(text).pipeThrough(gzipStream()));
  const parts = [text.subarray(0, 7), text.subarray(7, 5000), text.subarray(5000)];
  const b = await collect(ReadableStream.from(parts).pipeThrough(gzipStream()));
  assert.deepEqual(a, b);
  assert.deepEqual(a, gzipBytes(text));
});

Deno.test("gunzipStream() reads every member of a multi-member file", async () => {
  const one = gzipBytes("first member\n");
  const two = gzipBytes("second member\n");
  const both = new Uint8Array([...one, ...two]);
  const out = await collect(streamOf(both).pipeThrough(gunzipStream()));
  assert.equal(new TextDecoder().decode(out), "first member\nsecond member\n");
  assert.equal(new TextDecoder().decode(gunzipBytes(both)), "first member\nsecond member\n");
});

Deno.test("gunzipStream() errors with IntegrityError on a bad CRC", async () => {
  const gz = gzipBytes(text);
  gz[gz.length - 6] ^= 0x01;
  await assert.rejects(
    collect(streamOf(gz).pipeThrough(gunzipStream('blob "t"'))),
    (e) => e instanceof IntegrityError && /blob "t"/.test(e.message),
  );
});

Deno.test("gunzipStream() errors on truncated input", async () => {
  const gz = gzipBytes(text);
  await assert.rejects(
    collect(streamOf(gz.subarray(0, gz.length - 20)).pipeThrough(gunzipStream())),
    IntegrityError,
  );
});

Deno.test("gunzipStream() errors on input that is not gzip", async () => {
  await assert.rejects(
    collect(streamOf("<html>captive portal</html>").pipeThrough(gunzipStream())),
    IntegrityError,
  );
  assert.equal(isGzip(new TextEncoder().encode("<html>")), false);
  assert.equal(isGzip(gzipBytes("x")), true);
});

Deno.test("gzip round trip holds for any input and chunking (property)", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.uint8Array({ maxLength: 20000 }),
      fc.integer({ min: 1, max: 5000 }),
      async (data, chunk) => {
        const parts: Uint8Array[] = [];
        for (let i = 0; i < data.length; i += chunk) parts.push(data.subarray(i, i + chunk));
        const gz = await collect(ReadableStream.from(parts).pipeThrough(gzipStream()));
        const back = await collect(streamOf(gz).pipeThrough(gunzipStream()));
        assert.deepEqual(back, data);
      },
    ),
    { numRuns: 60 },
  );
});

Deno.test("gzipBytes() and gzipStream() agree on inputs larger than one block", async () => {
  const big = new Uint8Array(3_500_000);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7919 + (i >> 9)) & 0x7f;
  const s = await collect(
    ReadableStream.from([big.subarray(0, 12345), big.subarray(12345)]).pipeThrough(gzipStream()),
  );
  assert.deepEqual(s, gzipBytes(big));
});

Deno.test("gunzipStream() decompresses as the reader reads: an input chunk is not used up ahead of it", async () => {
  // Incompressible: 8 MiB of input hold 8 MiB of output, more than is decompressed ahead.
  const data = new Uint8Array(8 << 20);
  for (let i = 0; i < data.length; i += 65536) crypto.getRandomValues(data.subarray(i, i + 65536));
  const gz = gzipBytes(data);
  const parts = [gz.subarray(0, gz.length - 100), gz.subarray(gz.length - 100)];
  let pulls = 0;
  const src = new ReadableStream<Uint8Array>({
    pull(c) {
      const p = parts[pulls++];
      if (p) c.enqueue(p);
      else c.close();
    },
  }, { highWaterMark: 0 });
  const reader = src.pipeThrough(gunzipStream()).getReader();
  const first = await reader.read();
  assert.ok(first.value && first.value.byteLength <= 1 << 20);
  await new Promise((r) => setTimeout(r, 50));
  // The first input chunk is not used up yet: the second is not asked for.
  assert.equal(pulls, 1);
  const rest: Uint8Array[] = [first.value!];
  for (let r = await reader.read(); !r.done; r = await reader.read()) rest.push(r.value);
  assert.deepEqual(await collect(ReadableStream.from(rest)), data);
  assert.equal(pulls, 3);
});

Deno.test("gunzipStream() holds little output of highly compressible input until it is read", async () => {
  // 256 MiB of zeros compress to about 250 KB: one chunk holds a thousand times its size.
  const zeros = gzipBytes(new Uint8Array(256 << 20));
  let pulls = 0;
  const src = new ReadableStream<Uint8Array>({
    pull(c) {
      if (pulls++ === 0) c.enqueue(zeros);
      else c.close();
    },
  }, { highWaterMark: 0 });
  const reader = src.pipeThrough(gunzipStream()).getReader();
  const first = await reader.read();
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(pulls, 1); // the chunk is not used up: zlib waits for the reader
  let total = first.value!.byteLength;
  for (let r = await reader.read(); !r.done; r = await reader.read()) total += r.value.byteLength;
  assert.equal(total, 256 << 20);
});

/** True where gunzipReader() drives zlib's binding itself: Bun with the native backend. */
function directExpected(): boolean {
  return typeof (globalThis as { Bun?: unknown }).Bun !== "undefined" &&
    BACKEND.gzip === "native";
}

/** Everything a ChunkReader gives, copied as it comes (its chunks are reused afterwards). */
async function readAll(r: ChunkReader): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for (let c = await r.read(); !c.done; c = await r.read()) parts.push(c.value.slice());
  return await collect(ReadableStream.from(parts));
}

/** A stream of `data` in chunks of the given sizes (cycled). */
function chunked(data: Uint8Array, sizes: number[]): ReadableStream<Uint8Array> {
  const parts: Uint8Array[] = [];
  for (let off = 0, i = 0; off < data.byteLength; i++) {
    const n = sizes[i % sizes.length];
    parts.push(data.slice(off, off + n));
    off += n;
  }
  return ReadableStream.from(parts);
}

/** 3 MiB of text and random bytes: several of gunzipReader's buffers, of both kinds. */
function mixed(): Uint8Array {
  const data = new Uint8Array(3 << 20);
  for (let off = 0; off < data.byteLength; off += 128 << 10) {
    const part = data.subarray(off, off + (64 << 10));
    if ((off >> 17) % 2) crypto.getRandomValues(part);
    else part.set(text.subarray(0, part.byteLength));
  }
  return data;
}

Deno.test("gunzipReader() gives the bytes gunzipStream() gives, whatever the chunking", async () => {
  const data = mixed();
  const gz = gzipBytes(data);
  for (const sizes of [[gz.byteLength], [1 << 20], [1, 7, 65536, 300000], [10]]) {
    const out = await readAll(gunzipReader(chunked(gz, sizes)));
    assert.equal(out.byteLength, data.byteLength);
    assert.deepEqual(out, data, `chunks of ${sizes}`);
  }
});

Deno.test("gunzipReader() hands out views of reused buffers: a chunk is only valid until the next read", async () => {
  const data = mixed();
  const r = gunzipReader(chunked(gzipBytes(data), [1 << 20]));
  const buffers = new Set<ArrayBufferLike>();
  let total = 0;
  for (let c = await r.read(); !c.done; c = await r.read()) {
    assert.deepEqual(c.value, data.subarray(total, total + c.value.byteLength));
    total += c.value.byteLength;
    buffers.add(c.value.buffer);
  }
  assert.equal(total, data.byteLength);
  // Where zlib is driven directly, 3 MiB came through a few buffers (not a new one a chunk).
  if (directExpected()) assert.ok(buffers.size <= 4, `${buffers.size} buffers`);
});

Deno.test("gunzipReader() reads every member of a multi-member file and ignores zeros after it", async () => {
  const both = new Uint8Array([
    ...gzipBytes("first member\n"),
    ...gzipBytes("second member\n"),
    ...new Uint8Array(1024),
  ]);
  for (const sizes of [[both.byteLength], [3]]) {
    const out = await readAll(gunzipReader(chunked(both, sizes)));
    assert.equal(new TextDecoder().decode(out), "first member\nsecond member\n");
  }
});

Deno.test("gunzipReader() fails with IntegrityError on a bad CRC, truncated input and non-gzip input", async () => {
  const gz = gzipBytes(mixed());
  const bad = gz.slice();
  bad[bad.length - 6] ^= 0x01;
  const cases: [string, Uint8Array][] = [
    ["bad CRC", bad],
    ["truncated", gz.subarray(0, gz.length - 20)],
    ["cut in the middle", gz.subarray(0, gz.length >> 1)],
    ["not gzip", new TextEncoder().encode("<html>captive portal</html>")],
    ["garbage after the member", new Uint8Array([...gzipBytes("x"), 0x41, 0x42, 0x43])],
  ];
  for (const [what, input] of cases) {
    await assert.rejects(
      readAll(gunzipReader(chunked(input, [65536]), 'blob "t"')),
      (e) => e instanceof IntegrityError && /^Cannot decompress blob "t": /.test(e.message),
      what,
    );
  }
});

Deno.test("gunzipReader() passes on the failure of its input, and reads its input to the end", async () => {
  const gz = gzipBytes("content\n");
  let pulls = 0;
  const failing = new ReadableStream<Uint8Array>({
    pull(c) {
      if (pulls++ === 0) c.enqueue(gz);
      else c.error(new IntegrityError("digest mismatch"));
    },
  }, { highWaterMark: 0 });
  await assert.rejects(readAll(gunzipReader(failing)), /digest mismatch/);
  assert.equal(pulls, 2);
});

Deno.test("gunzipReader().cancel() stops decompression and cancels the input", async () => {
  let cancelled: unknown;
  let pulls = 0;
  const gz = gzipBytes(mixed());
  const src = new ReadableStream<Uint8Array>({
    pull(c) {
      c.enqueue(gz.subarray(0, 1 << 16));
      pulls++;
    },
    cancel(reason) {
      cancelled = reason;
    },
  }, { highWaterMark: 0 });
  const r = gunzipReader(src);
  const first = await r.read();
  assert.equal(first.done, false);
  await r.cancel("stop");
  await new Promise((res) => setTimeout(res, 20));
  assert.notEqual(cancelled, undefined); // (through gunzipStream()'s pipe: with its error)
  const seen = pulls;
  await new Promise((res) => setTimeout(res, 20));
  assert.equal(pulls, seen);
  assert.equal((await r.read()).done, true);
});

Deno.test("gunzipReader() with releaseInput frees the input chunks it decompressed that span their buffer", async () => {
  const data = mixed();
  const gz = gzipBytes(data);
  const make = () => {
    const chunks: Uint8Array[] = [];
    for (let o = 0; o < gz.byteLength; o += 65536) chunks.push(gz.slice(o, o + 65536));
    // The first chunk is a view into a larger buffer: never detached.
    const host = new Uint8Array(chunks[0].byteLength + 1);
    host.set(chunks[0], 1);
    chunks[0] = host.subarray(1);
    return chunks;
  };
  const kept = make();
  assert.deepEqual(await readAll(gunzipReader(ReadableStream.from(kept))), data);
  assert.ok(kept.every((c) => c.byteLength > 0)); // without the option: untouched
  const given = make();
  assert.deepEqual(
    await readAll(gunzipReader(ReadableStream.from(given), "t", { releaseInput: true })),
    data,
  );
  assert.ok(given[0].byteLength > 0);
  const ring = gunzipReader(streamOf(gzipBytes("x")));
  const direct = ring.constructor.name === "RingInflate";
  await ring.cancel();
  // The direct path frees them (detached: empty); gunzipStream()'s reader leaves them.
  assert.ok(given.slice(1).every((c) => direct ? c.byteLength === 0 : c.byteLength > 0));
  assert.equal(direct, directExpected());
});
