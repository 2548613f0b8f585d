import assert from "node:assert/strict";
import fc from "fast-check";
import { indexTarFile, readTar, type TarHeader, type TarWriteEntry, writeTar } from "./tar.ts";
import { collect, streamOf } from "./streams.ts";
import { IntegrityError } from "../errors.ts";

async function readAll(tar: Uint8Array) {
  const out: { header: TarHeader; body: Uint8Array }[] = [];
  for await (const e of readTar(streamOf(tar))) {
    out.push({ header: e.header, body: await collect(ReadableStream.from(e.body)) });
  }
  return out;
}

const sample: TarWriteEntry[] = [
  { header: { name: "p", type: "directory", mode: 0o755 } },
  { header: { name: "p/empty.txt", type: "file", mode: 0o644 }, body: new Uint8Array(0) },
  {
    header: { name: "p/with space/ünïcödé-名前.txt", type: "file", mode: 0o600 },
    body: new TextEncoder().encode("héllo"),
  },
  {
    header: { name: "p/" + "deep/".repeat(40) + "long-name.bin", type: "file", mode: 0o755 },
    body: new Uint8Array([0, 1, 2, 255]),
  },
  { header: { name: "p/link", type: "symlink", mode: 0o777, linkname: "/" + "x".repeat(200) } },
  { header: { name: "p/hard", type: "link", mode: 0o644, linkname: "p/empty.txt" } },
];

Deno.test("writeTar() and readTar() round-trip long names, links, modes and odd names", async () => {
  const tar = await collect(writeTar(sample));
  const back = await readAll(tar);
  assert.equal(back.length, sample.length);
  for (const [i, e] of back.entries()) {
    const want = sample[i];
    assert.equal(e.header.name, want.header.name.replace(/\/$/, ""));
    assert.equal(e.header.type, want.header.type);
    assert.equal(e.header.mode, want.header.mode);
    assert.equal(e.header.linkname ?? undefined, want.header.linkname);
    assert.deepEqual(e.body, (want.body as Uint8Array | undefined) ?? new Uint8Array(0));
  }
});

Deno.test("writeTar() streams bodies given as async iterables with a declared size", async () => {
  async function* body() {
    yield new Uint8Array(3000).fill(7);
    yield new Uint8Array(5000).fill(9);
  }
  const tar = await collect(
    writeTar([{ header: { name: "big", type: "file", mode: 0o644, size: 8000 }, body: body() }]),
  );
  const [e] = await readAll(tar);
  assert.equal(e.body.length, 8000);
  assert.equal(e.body[2999], 7);
  assert.equal(e.body[3000], 9);
});

Deno.test("readTar() rejects a truncated archive", async () => {
  const tar = await collect(writeTar(sample));
  await assert.rejects(readAll(tar.subarray(0, 1100)), IntegrityError);
});

Deno.test("readTar() rejects a header with a bad checksum", async () => {
  const tar = await collect(writeTar(sample));
  tar[0] ^= 0x20; // first byte of the first name
  await assert.rejects(readAll(tar), (e) => e instanceof IntegrityError && /tar/.test(e.message));
});

Deno.test("readTar() skips bodies the caller does not read", async () => {
  const tar = await collect(writeTar(sample));
  const names: string[] = [];
  for await (const e of readTar(streamOf(tar))) names.push(e.header.name);
  assert.equal(names.length, sample.length);
});

Deno.test("readTar() rejects an archive cut at a member boundary (no end-of-archive marker)", async () => {
  const tar = await collect(writeTar([
    { header: { name: "a", type: "file", mode: 0o644 }, body: new Uint8Array(512).fill(1) },
  ]));
  await assert.rejects(
    readAll(tar.subarray(0, 1024)),
    (e) => e instanceof IntegrityError && /end-of-archive/.test(e.message),
  );
});

Deno.test("readTar() rejects a body cut short, naming the member", async () => {
  const tar = await collect(writeTar([
    { header: { name: "big.bin", type: "file", mode: 0o644 }, body: new Uint8Array(5000) },
  ]));
  await assert.rejects(
    readAll(tar.subarray(0, 3000)),
    (e) => e instanceof IntegrityError && /big\.bin/.test(e.message),
  );
});

Deno.test("readTar() continues after a body read only partly", async () => {
  const tar = await collect(writeTar([
    { header: { name: "a", type: "file", mode: 0o644 }, body: new Uint8Array(200000).fill(7) },
    { header: { name: "b", type: "file", mode: 0o644 }, body: new TextEncoder().encode("bee") },
  ]));
  // Feed it in small chunks so that the first body spans many of them.
  const chunks = Array.from(
    { length: Math.ceil(tar.byteLength / 1000) },
    (_, i) => tar.subarray(i * 1000, (i + 1) * 1000),
  );
  const seen: [string, string][] = [];
  for await (const e of readTar(ReadableStream.from(chunks))) {
    for await (const c of e.body) {
      seen.push([e.header.name, new TextDecoder().decode(c.subarray(0, 3))]);
      break;
    }
  }
  assert.deepEqual(seen, [["a", "\x07\x07\x07"], ["b", "bee"]]);
});

Deno.test("writeTar() fails when a streamed body does not match its declared size", async () => {
  const entry = (n: number): TarWriteEntry => ({
    header: { name: "x", type: "file", mode: 0o644, size: 10 },
    body: ReadableStream.from([new Uint8Array(n)]),
  });
  await assert.rejects(collect(writeTar([entry(11)])), /longer than its size/);
  await assert.rejects(collect(writeTar([entry(9)])), /9 bytes, size says 10/);
});

Deno.test("tar round trip holds for arbitrary names and contents (property)", async () => {
  const seg = fc.stringMatching(/^[a-zA-Z0-9 ._é-]{1,40}$/).filter((s) => s !== "." && s !== "..");
  await fc.assert(
    fc.asyncProperty(
      fc.uniqueArray(fc.array(seg, { minLength: 1, maxLength: 8 }).map((a) => a.join("/")), {
        minLength: 1,
        maxLength: 8,
      }),
      fc.array(fc.uint8Array({ maxLength: 3000 }), { minLength: 8, maxLength: 8 }),
      async (names, bodies) => {
        const entries: TarWriteEntry[] = names.map((name, i) => ({
          header: { name, type: "file", mode: 0o644 },
          body: bodies[i],
        }));
        const back = await readAll(await collect(writeTar(entries)));
        assert.deepEqual(back.map((e) => e.header.name), names);
        assert.deepEqual(back.map((e) => e.body), bodies.slice(0, names.length));
      },
    ),
    { numRuns: 40 },
  );
});

Deno.test("writeTar() reads bodies given as local file paths, and checks their size", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const big = new Uint8Array(3 << 20).map((_, i) => i % 251);
    await Deno.writeFile(`${dir}/big`, big);
    await Deno.writeFile(`${dir}/small`, new TextEncoder().encode("small\n"));
    const tar = await collect(writeTar([
      { header: { name: "big", type: "file", mode: 0o644 }, path: `${dir}/big` },
      { header: { name: "small", type: "file", mode: 0o600 }, path: `${dir}/small` },
    ]));
    const got = await readAll(tar);
    assert.deepEqual(got.map((e) => [e.header.name, e.header.size]), [["big", 3 << 20], [
      "small",
      6,
    ]]);
    assert.deepEqual(got[0].body, big);
    assert.equal(new TextDecoder().decode(got[1].body), "small\n");
    await assert.rejects(
      collect(writeTar([
        { header: { name: "small", type: "file", mode: 0o600, size: 7 }, path: `${dir}/small` },
      ])),
      /shorter than its size 7/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("indexTarFile() finds every member's body offset by reading headers only", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const tar = await collect(writeTar(sample));
    await Deno.writeFile(`${dir}/a.tar`, tar);
    const index = indexTarFile(`${dir}/a.tar`);
    const read = await readAll(tar);
    assert.deepEqual(index.map((e) => e.header.name), read.map((e) => e.header.name));
    for (const [i, e] of index.entries()) {
      const body = tar.subarray(e.offset, e.offset + e.header.size);
      assert.deepEqual(body, read[i].body, e.header.name);
    }
    await Deno.writeFile(`${dir}/cut.tar`, tar.subarray(0, 1536));
    assert.throws(() => indexTarFile(`${dir}/cut.tar`), IntegrityError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readTar() bodyBuffered() gives a body held in one input chunk at once, else leaves it to body", async () => {
  const enc = new TextEncoder();
  const entries: TarWriteEntry[] = ["a", "bb", "c".repeat(3000), ""].map((t, i) => ({
    header: { name: `f${i}`, type: "file", mode: 0o644 },
    body: enc.encode(t),
  }));
  const tar = await collect(writeTar(entries));
  // One chunk: every body at once. Chunks of 1000 bytes: the 3000-byte body spans several.
  for (const size of [tar.byteLength, 1000]) {
    const chunks: Uint8Array[] = [];
    for (let o = 0; o < tar.byteLength; o += size) chunks.push(tar.subarray(o, o + size));
    const got: [string, string, boolean][] = [];
    for await (const { header, body, bodyBuffered } of readTar(ReadableStream.from(chunks))) {
      const whole = bodyBuffered!();
      let text: string;
      if (whole) {
        assert.equal(bodyBuffered!(), undefined); // taken once
        text = new TextDecoder().decode(whole);
      } else text = new TextDecoder().decode(await collect(ReadableStream.from(body)));
      got.push([header.name, text, whole !== undefined]);
    }
    assert.deepEqual(
      got.map(([n, t]) => [n, t]),
      entries.map((e, i) => [`f${i}`, new TextDecoder().decode(e.body as Uint8Array)]),
    );
    if (size === tar.byteLength) assert.ok(got.every(([, , at]) => at));
    else assert.equal(got[2][2], false);
  }
});
