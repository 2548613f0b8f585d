/** The store behaviour suite over the memory and file backends (and openStore of each). */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { NotFoundError } from "../src/errors.ts";
import { collect } from "../src/core/streams.ts";
import { FileStore } from "../src/storage/file.ts";
import { MemoryStore } from "../src/storage/memory.ts";
import { openStore } from "../src/storage/open.ts";
import { runStoreBehaviour } from "./storage_behaviour.ts";

runStoreBehaviour("memory", () => {
  const store = new MemoryStore();
  return Promise.resolve({
    store,
    seed: (p: string, b: Uint8Array) => store.write(p, b),
    cleanup: () => Promise.resolve(),
  });
}, { write: true, list: true, copy: true });

async function fileStore(viaOpen: boolean) {
  const root = await mkdtemp(join(tmpdir(), "spackle-store-"));
  const store = viaOpen ? await openStore(root) : new FileStore(pathToFileURL(root));
  return {
    store,
    async seed(p: string, b: Uint8Array) {
      await mkdir(dirname(join(root, p)), { recursive: true });
      await writeFile(join(root, p), b);
    },
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
}

runStoreBehaviour("file", () => fileStore(false), { write: true, list: true, place: true });
runStoreBehaviour("file (openStore of a plain path)", () => fileStore(true), {
  write: true,
  list: true,
  place: true,
});

Deno.test({
  name: "file store: placeFile() copies a file from another file system (no link across devices)",
  // /dev/shm is a separate tmpfs on Linux; elsewhere there is no second file system to use.
  ignore: !(await stat("/dev/shm").then((s) => s.isDirectory(), () => false)),
  async fn() {
    const root = await mkdtemp(join(tmpdir(), "spackle-store-"));
    const other = await mkdtemp("/dev/shm/spackle-place-");
    try {
      if ((await stat(root)).dev === (await stat(other)).dev) return; // one file system: nothing to see
      const store = new FileStore(pathToFileURL(root));
      const file = join(other, "packed.bin");
      await writeFile(file, "bytes from elsewhere");
      await store.placeFile("v3/blobs/sha256/ab/x", file);
      assert.equal(
        await readFile(join(root, "v3/blobs/sha256/ab/x"), "utf8"),
        "bytes from elsewhere",
      );
      assert.equal(await readFile(file, "utf8"), "bytes from elsewhere", "the source stays");
      assert.deepEqual(await readdir(join(root, "v3/blobs/sha256/ab")), ["x"], "no temporary left");
    } finally {
      await rm(root, { recursive: true, force: true });
      await rm(other, { recursive: true, force: true });
    }
  },
});

Deno.test("file store: a small file reads as one chunk; an absent one is NotFoundError", async () => {
  const root = await mkdtemp(join(tmpdir(), "spackle-store-"));
  try {
    const store = new FileStore(pathToFileURL(root));
    const bytes = new Uint8Array(200_000).map((_, i) => (i * 31) % 251);
    await mkdir(join(root, "blobs/sha256/ab"), { recursive: true });
    await writeFile(join(root, "blobs/sha256/ab/small"), bytes);
    const chunks: Uint8Array[] = [];
    for await (const c of await store.read("blobs/sha256/ab/small")) chunks.push(c);
    assert.equal(chunks.length, 1, "read at once");
    assert.deepEqual(chunks[0], bytes);
    await assert.rejects(() => store.read("blobs/sha256/ab/absent"), NotFoundError);
    await assert.rejects(() => store.read("blobs/sha256/ab/small/below"), /Cannot access/);
    // Read when read, not when opened (a stream opened ahead of its turn holds no bytes): a
    // file gone in between is a NotFoundError naming it.
    const ahead = await store.read("blobs/sha256/ab/small");
    await rm(join(root, "blobs/sha256/ab/small"));
    await assert.rejects(
      () => collect(ahead),
      (e) => e instanceof NotFoundError && /ab\/small/.test(e.message),
    );
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
