/**
 * On the S3 test server: prune lists multipart uploads that were begun and never completed or
 * aborted (an interrupted upload) and aborts them with delete; a sync rerun proves the blobs
 * present by the sha256 kept with them instead of reading them back.
 */
import assert from "node:assert/strict";
import { pruneMirror } from "../src/mirror/prune.ts";
import type { S3Store } from "../src/storage/s3.ts";
import { bucket, drop, IGNORE } from "./_s3.ts";
import { fixture } from "./_fixtures.ts";
import { openStore } from "../src/storage/open.ts";
import { syncMirror } from "../src/mirror/sync.ts";
import { collect } from "../src/core/streams.ts";

/** Begins a multipart upload of `path` and leaves it, as a killed writer does. */
async function beginUpload(s: S3Store, path: string): Promise<string> {
  // deno-lint-ignore no-explicit-any
  const send = (s as any).send.bind(s);
  const res = await send("POST", `cache/${path}`, { uploads: "" }, { op: "start an upload" });
  const id = /<UploadId>([^<]+)<\/UploadId>/.exec(await res.text())?.[1];
  assert.ok(id);
  return id;
}

Deno.test({
  name: "prune lists stale S3 multipart uploads and aborts them with delete",
  ignore: IGNORE,
  async fn() {
    const s = await bucket("prune-uploads");
    try {
      const id = await beginUpload(s, "blobs/sha256/ab/" + "ab".repeat(32));
      let ups = [];
      for await (const u of s.listUploads("")) ups.push(u);
      assert.deepEqual(ups.map((u) => u.uploadId), [id]);
      assert.ok(ups[0].initiated > Date.now() - 3600_000);
      // Not stale yet by the default (24 hours): left alone.
      let r = await pruneMirror(s);
      assert.deepEqual(r.items.filter((i) => i.kind === "upload"), []);
      r = await pruneMirror(s, { staleUploadMs: 0 });
      assert.deepEqual(r.items.map((i) => [i.kind, i.reason, i.uploadId]), [
        ["upload", "stale-upload", id],
      ]);
      r = await pruneMirror(s, { staleUploadMs: 0, delete: true });
      ups = [];
      for await (const u of s.listUploads("")) ups.push(u);
      assert.deepEqual(ups, []);
    } finally {
      await drop(s);
    }
  },
});

Deno.test({
  name:
    "a sync rerun into S3 proves present blobs by the sha256 kept with them (a HEAD, no read); a corrupt one is read, found and replaced",
  ignore: IGNORE,
  async fn() {
    const reads: string[] = [];
    const counting: typeof fetch = (input, init) => {
      const req = new Request(input, init);
      const u = new URL(req.url);
      if (req.method === "GET" && u.pathname.includes("/blobs/")) reads.push(u.pathname);
      return fetch(req);
    };
    const s = await bucket("sync-meta", { fetch: counting });
    try {
      const src = await openStore(fixture("v3-unsigned"));
      let r = await syncMirror(src, s);
      assert.ok(r.blobsCopied > 0);
      const st = await s.stat(
        [...(await listAll(s, "blobs/"))].find((p) => p.startsWith("blobs/sha256/"))!,
      );
      assert.match(st?.sha256 ?? "", /^[0-9a-f]{64}$/);
      reads.length = 0;
      r = await syncMirror(src, s);
      assert.equal(r.blobsCopied, 0);
      assert.equal(reads.length, 0, `no blob is read back: ${reads}`);
      // A same-size object without the kept sha256 (written by another tool), corrupt: read,
      // found wrong, replaced.
      let victim = "";
      for await (const p of src.list!("blobs/")) victim ||= p; // a blob of the source's entries
      const orig = await collect(await s.read(victim));
      const bad = orig.slice();
      bad[0] ^= 0xff;
      await s.write(victim, bad);
      reads.length = 0;
      r = await syncMirror(src, s);
      assert.equal(r.blobsCopied, 1);
      assert.ok(reads.some((p) => p.endsWith(victim)));
      assert.deepEqual(await collect(await s.read(victim)), orig);
    } finally {
      await drop(s);
    }
  },
});

async function listAll(s: S3Store, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const p of s.list(prefix)) out.push(p);
  return out;
}
