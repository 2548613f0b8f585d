import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { BundleStore, writeBundle } from "./bundle.ts";
import { collect, collectText, streamOf } from "../core/streams.ts";
import { collect as collectTar, writeTar } from "../core/mod.ts";
import { NotFoundError, UsageError } from "../errors.ts";

const enc = new TextEncoder();
const item = (path: string, data: Uint8Array | string) => {
  const bytes = typeof data === "string" ? enc.encode(data) : data;
  return { path, size: bytes.byteLength, open: () => streamOf(bytes) };
};

Deno.test("a bundle written by writeBundle() reads back in place: stat, read, list", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const big = new Uint8Array(3 << 20).map((_, i) => i % 253);
    const r = await writeBundle(`${dir}/m.spackle`, [
      item("v3/layout.json", '{"signing": "gpg"}'),
      item("blobs/sha256/ab/" + "ab".repeat(32), big),
      item("v3/manifests/spec/" + "long-name/".repeat(12) + "x.spec.manifest.json", "{}"),
      item("empty", ""),
    ], { specs: 1 });
    assert.equal(r.count, 4);
    const store = BundleStore.open(`${dir}/m.spackle`);
    assert.deepEqual(await store.stat("v3/layout.json"), { size: 18 });
    assert.equal(await store.stat("missing"), undefined);
    assert.equal(await collectText(await store.read("v3/layout.json")), '{"signing": "gpg"}');
    assert.deepEqual(await collect(await store.read("blobs/sha256/ab/" + "ab".repeat(32))), big);
    assert.equal((await collect(await store.read("empty"))).byteLength, 0);
    const listed: string[] = [];
    for await (const p of store.list("v3/")) listed.push(p);
    assert.equal(listed.length, 2);
    assert.ok(listed.every((p) => p.startsWith("v3/")));
    await assert.rejects(store.read("nope"), NotFoundError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("BundleStore.open() refuses a tar file that is not a bundle", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(
      `${dir}/plain.tar`,
      await collectTar(
        writeTar([{ header: { name: "a", type: "file", mode: 0o644 }, body: enc.encode("a") }]),
      ),
    );
    assert.throws(() => BundleStore.open(`${dir}/plain.tar`), UsageError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeBundle() leaves nothing behind when an item fails", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const failing = {
      path: "b",
      size: 10,
      open: () =>
        new ReadableStream<Uint8Array>({
          pull: (c) => c.error(new Error("source went away")),
        }),
    };
    await assert.rejects(writeBundle(`${dir}/x.spackle`, [item("a", "a"), failing]), /went away/);
    assert.equal(existsSync(`${dir}/x.spackle`), false);
    assert.deepEqual(readdirSync(dir), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
