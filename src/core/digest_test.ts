import assert from "node:assert/strict";
import fc from "fast-check";
import { digestFile, digestStream, formatDigest, sha256Hex, verifyStream } from "./digest.ts";
import { collect } from "./streams.ts";
import { IntegrityError } from "../errors.ts";

function chunked(data: Uint8Array, cuts: number[]): ReadableStream<Uint8Array> {
  const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
  const parts: Uint8Array[] = [];
  let prev = 0;
  for (const p of [...points, data.length]) {
    parts.push(data.subarray(prev, p));
    prev = p;
  }
  return ReadableStream.from(parts);
}

Deno.test("sha256Hex() gives the known answer for abc", () => {
  assert.equal(
    sha256Hex("abc"),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
});

Deno.test("digestStream() passes bytes through and reports digest and size", async () => {
  const data = new TextEncoder().encode("hello world");
  const { stream, result } = digestStream();
  const out = await collect(ReadableStream.from([data]).pipeThrough(stream));
  assert.deepEqual(out, data);
  const r = await result;
  assert.equal(r.size, 11);
  assert.equal(formatDigest(r.digest), `sha256:${sha256Hex(data)}`);
});

Deno.test("digestStream() gives the same digest for every split of the input", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.uint8Array({ maxLength: 4096 }),
      fc.array(fc.nat(), { maxLength: 20 }),
      async (data, cuts) => {
        const { stream, result } = digestStream();
        await collect(chunked(data, cuts).pipeThrough(stream));
        const r = await result;
        assert.equal(r.digest.hex, sha256Hex(data));
        assert.equal(r.size, data.length);
      },
    ),
    { numRuns: 200 },
  );
});

Deno.test("verifyStream() accepts the right bytes whatever the chunking", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.uint8Array({ maxLength: 2048 }),
      fc.array(fc.nat(), { maxLength: 10 }),
      async (data, cuts) => {
        const v = verifyStream({ digest: sha256Hex(data), size: data.length }, "blob");
        assert.deepEqual(await collect(chunked(data, cuts).pipeThrough(v)), data);
      },
    ),
    { numRuns: 100 },
  );
});

Deno.test("verifyStream() errors on a digest mismatch", async () => {
  const data = new TextEncoder().encode("abc");
  const v = verifyStream({ digest: sha256Hex("abd"), size: 3 }, 'blob "x"');
  await assert.rejects(
    collect(ReadableStream.from([data]).pipeThrough(v)),
    (e) => e instanceof IntegrityError && /blob "x": digest is "sha256:ba7816bf/.test(e.message),
  );
});

Deno.test("verifyStream() errors when the body is one byte short", async () => {
  const data = new TextEncoder().encode("abc");
  const v = verifyStream({ digest: sha256Hex("abc"), size: 4 }, "blob");
  await assert.rejects(
    collect(ReadableStream.from([data]).pipeThrough(v)),
    (e) => e instanceof IntegrityError && /3 bytes, 4 were declared/.test(e.message),
  );
});

Deno.test("verifyStream() errors as soon as the body runs past its declared size", async () => {
  let pulled = 0;
  const endless = new ReadableStream<Uint8Array>({
    pull(c) {
      pulled++;
      c.enqueue(new Uint8Array(1024));
    },
  });
  const v = verifyStream({ digest: "00", size: 4096 }, "blob");
  await assert.rejects(collect(endless.pipeThrough(v)), /longer than the declared 4096 bytes/);
  assert.ok(pulled < 10, `read ${pulled} chunks before failing`);
});

Deno.test("digestFile() gives the digest and size of a file larger than its buffer", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const data = new Uint8Array((2 << 20) + 123).map((_, i) => (i * 7) % 256);
    await Deno.writeFile(`${dir}/f`, data);
    const r = await digestFile(`${dir}/f`);
    assert.equal(r.size, data.byteLength);
    assert.equal(r.digest.hex, sha256Hex(data));
    await assert.rejects(digestFile(`${dir}/missing`), /ENOENT|No such file/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
