/**
 * prune over temporary copies of the fixture mirrors: orphan blobs are listed and deleted,
 * `--keep` removes entries not kept (manifests first, index rebuilt), and blobs still named
 * by a kept manifest stay.
 */
import assert from "node:assert/strict";
import { cp, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openMirror } from "../src/layout/open.ts";
import { parseKeepFile, pruneMirror } from "../src/mirror/prune.ts";
import { verifyMirror } from "../src/mirror/verify.ts";
import { openStore } from "../src/storage/open.ts";
import { fixture, HAVE_FIXTURES } from "./_fixtures.ts";

const ORPHAN = "blobs/sha256/00/" + "0".repeat(64);

async function copy(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "spackle-prune-"));
  await cp(fixture("v3-unsigned"), join(d, "m"), { recursive: true });
  return d;
}

Deno.test({
  name: "prune lists an orphan blob without deleting it, and deletes it with delete",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const d = await copy();
    try {
      const { mkdir } = await import("node:fs/promises");
      await mkdir(join(d, "m", "blobs/sha256/00"), { recursive: true });
      await writeFile(join(d, "m", ORPHAN), "junk");
      const store = await openStore(join(d, "m"), { writable: true });
      const dry = await pruneMirror(store);
      assert.deepEqual(dry.items.map((i) => [i.path, i.reason]), [[ORPHAN, "orphan"]]);
      assert.ok(await store.stat(ORPHAN));
      const real = await pruneMirror(store, { delete: true });
      assert.equal(real.items.length, 1);
      assert.equal(await store.stat(ORPHAN), undefined);
      assert.equal((await pruneMirror(store)).items.length, 0);
    } finally {
      await rm(d, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "prune with a keep list removes other entries and their blobs, keeping shared ones",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const d = await copy();
    try {
      const store = await openStore(join(d, "m"), { writable: true });
      const mirror = await openMirror(store);
      const lib = (await mirror.list("libzz")).find((r) => r.inBuildcache)!;
      const keepHashes = (await mirror.closure(lib.hash, { requireSignature: false }))
        .filter((r) => r.inBuildcache).map((r) => r.hash);
      const all = (await mirror.list()).filter((r) => r.inBuildcache);
      assert.ok(keepHashes.length < all.length);
      const keep = parseKeepFile(keepHashes.map((h) => "/" + h).join("\n") + "\n# end\n");
      const r = await pruneMirror(store, { keep, delete: true });
      const gone = r.items.filter((i) => i.kind === "manifest");
      assert.equal(gone.length, all.length - keepHashes.length);
      assert.ok(gone.every((i) => i.reason === "not-kept"));
      assert.ok(r.items.some((i) => i.kind === "blob"));
      const left = (await (await openMirror(join(d, "m"))).list()).filter((x) => x.inBuildcache);
      assert.deepEqual(left.map((x) => x.hash).sort(), keepHashes.sort());
      const report = await verifyMirror(await openStore(join(d, "m")));
      assert.deepEqual(report.findings.filter((f) => f.kind !== "notice"), []);
    } finally {
      await rm(d, { recursive: true, force: true });
    }
  },
});

Deno.test("parseKeepFile reads the concrete specs of a spack.lock", () => {
  const h = "a".repeat(32);
  const node = { name: "a", version: "1", hash: h };
  const s = parseKeepFile(JSON.stringify({
    _meta: { "lockfile-version": 6 },
    roots: [{ hash: h, spec: "a" }],
    concrete_specs: { [h]: node },
  }));
  assert.deepEqual([...s], [h]);
  assert.throws(
    () => parseKeepFile(JSON.stringify({ _meta: {}, concrete_specs: { [h]: {} } })),
    /no "_meta.lockfile-version"/,
  );
  assert.throws(() => parseKeepFile("not-a-hash\n"), /Invalid hash "not-a-hash"/);
});
