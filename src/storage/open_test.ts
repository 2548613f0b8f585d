import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { pathToFileURL } from "node:url";
import { UsageError } from "../errors.ts";
import { collectText } from "../core/streams.ts";
import { BundleStore, writeBundle } from "./bundle.ts";
import { FileStore } from "./file.ts";
import { HttpsStore } from "./http_store.ts";
import { MemoryStore } from "./memory.ts";
import { openStore, storeUrl } from "./open.ts";
import { isWritable } from "./store.ts";

Deno.test("storeUrl() resolves relative paths against the current directory", () => {
  assert.equal(storeUrl("mirror").href, pathToFileURL(join(process.cwd(), "mirror")).href + "/");
  assert.equal(storeUrl("/srv/cache").href, "file:///srv/cache/");
  assert.equal(storeUrl("file:///srv/cache").href, "file:///srv/cache/");
  assert.equal(storeUrl("https://m.example/a").href, "https://m.example/a/");
  assert.equal(storeUrl("/srv/with space").href, "file:///srv/with%20space/");
  assert.throws(() => storeUrl(""), UsageError);
});

Deno.test("openStore() picks the backend by scheme", async () => {
  const dir = await mkdtemp(join(tmpdir(), "spackle-open-"));
  try {
    const f = await openStore(dir, { writable: true });
    assert.ok(f instanceof FileStore);
    assert.ok(isWritable(f));
    await f.write("a/b.json", new TextEncoder().encode("{}"));
    const g = await openStore(pathToFileURL(dir));
    assert.equal(await collectText(await g.read("a/b.json")), "{}");
    assert.ok((await openStore("http://127.0.0.1:9/m")) instanceof HttpsStore);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

Deno.test("openStore() gives the same memory store for the same memory: URL", async () => {
  const a = await openStore("memory://open-test/", { writable: true });
  assert.ok(a instanceof MemoryStore);
  await (a as MemoryStore).write("x", new Uint8Array([1]));
  const b = await openStore("memory://open-test/");
  assert.equal((await b.stat("x"))?.size, 1);
  assert.notEqual(await openStore("memory://other/"), a);
});

Deno.test("openStore() refuses unknown schemes, naming them, and leaves s3 to its backend", async () => {
  await assert.rejects(
    () => openStore("ftp://host/mirror"),
    (e: unknown) => e instanceof UsageError && e.message.includes('"ftp:"'),
  );
  const s3 = await openStore("s3://bucket/prefix", { s3: { env: {}, home: "/nonexistent" } });
  assert.equal(s3.url.href, "s3://bucket/prefix/");
  assert.ok(isWritable(s3));
  await assert.rejects(() => openStore("http://[bad"), UsageError);
});

Deno.test("openStore() of a bundle file gives a read-only BundleStore", async () => {
  const dir = await mkdtemp(join(tmpdir(), "spackle-open-"));
  try {
    const out = join(dir, "m.tar");
    const body = new TextEncoder().encode('{"v": 3}');
    await writeBundle(out, [{
      path: "v3/layout.json",
      size: body.byteLength,
      open: () =>
        new ReadableStream({
          start(c) {
            c.enqueue(body);
            c.close();
          },
        }),
    }]);
    const s = await openStore(out);
    assert.ok(s instanceof BundleStore);
    assert.equal(await collectText(await s.read("v3/layout.json")), '{"v": 3}');
    await assert.rejects(() => openStore(out, { writable: true }), /read-only/);
    await writeFile(join(dir, "plain.tar"), new Uint8Array(1024));
    await assert.rejects(() => openStore(join(dir, "plain.tar")), UsageError);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
