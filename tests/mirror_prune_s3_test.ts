/**
 * prune on the S3 test server lists multipart uploads that were begun and never completed or
 * aborted (an interrupted upload), and aborts them with --delete.
 */
import assert from "node:assert/strict";
import { pruneMirror } from "../src/mirror/prune.ts";
import type { S3Store } from "../src/storage/s3.ts";
import { bucket, drop, IGNORE } from "./_s3.ts";

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
