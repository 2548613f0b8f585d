/**
 * sync between buckets of the S3 test server (Swift s3api): file -> S3 streams the blobs,
 * S3 -> S3 on the same endpoint copies them on the server (checked by counting the requests
 * through an injected fetch), a second run copies nothing, --trust-source reads no source blob,
 * a corrupt source blob stops the copy before it reaches the destination, and the copied mirror
 * verifies and installs; S3 -> directory again reads the manifests from the directory; prune
 * sizes blobs from the listing. Ignored when SPACKLE_TEST_S3_ENDPOINT is unset.
 */
import assert from "node:assert/strict";
import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fixture } from "./_fixtures.ts";
import { IntegrityError } from "../src/errors.ts";
import { pruneMirror } from "../src/mirror/prune.ts";
import { syncMirror } from "../src/mirror/sync.ts";
import { openS3Store } from "../src/storage/s3.ts";
import { openStore } from "../src/storage/open.ts";
import type { Store } from "../src/storage/store.ts";
import { bucket, drop, s3Opts, s3Test, spackleS3 } from "./_s3.ts";
import { runProgram } from "./_run.ts";

const KEY = () => fixture("keys/oracle-test.pub.asc");

interface Call {
  method: string;
  key: string;
  copySource: string | null;
}

/** A fetch recording each request's method, object key and copy source. */
function recording() {
  const calls: Call[] = [];
  const f = (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const headers = new Headers(init?.headers);
    calls.push({
      method: init?.method ?? "GET",
      key: decodeURIComponent(url.pathname),
      copySource: headers.get("x-amz-copy-source"),
    });
    return fetch(input, init);
  };
  return { fetch: f as typeof fetch, calls };
}

const isBlob = (c: Call) => c.key.includes("/cache/blobs/");

s3Test(
  "sync s3: file -> S3 streams, S3 -> S3 copies on the server, the copy verifies and installs",
  async () => {
    const a = await bucket("a");
    const recB = recording();
    const b = await bucket("b", { fetch: recB.fetch });
    const recSrc = recording();
    // The source as the destination sees it, with its own recording.
    const aView = await openS3Store(`s3://${a.bucket}/cache/`, s3Opts(), { fetch: recSrc.fetch });
    const top = await Deno.makeTempDir({ prefix: "sp-s3sync-root-" });
    try {
      const r1 = await syncMirror(await openStore(fixture("v3-signed")), a);
      assert.equal(r1.serverSideCopies, 0);
      assert.ok(r1.blobsCopied > 5);
      assert.equal(r1.indexSpecs, 4);

      recB.calls.splice(0);
      let beforeIndex = -1;
      const r2 = await syncMirror(aView, b, {
        serverCopyMinBytes: 0,
        onEvent: (e) => {
          if (e.kind === "index") beforeIndex = recB.calls.length;
        },
      });
      assert.ok(beforeIndex > 0);
      assert.equal(r2.blobsCopied, r1.blobsCopied);
      assert.equal(r2.serverSideCopies, r2.blobsCopied);
      assert.equal(r2.bytesCopied, r1.bytesCopied);
      // Every blob went over as one CopyObject naming the source; no blob bytes were uploaded.
      const copies = recB.calls.filter((c) => c.copySource);
      assert.equal(copies.length, r2.blobsCopied);
      assert.ok(
        copies.every((c) => c.method === "PUT" && c.copySource!.startsWith(`/${a.bucket}/`)),
      );
      // (The rebuilt index is a new blob, written after the copies.)
      const copying = recB.calls.slice(0, beforeIndex);
      assert.ok(!copying.some((c) => c.method === "PUT" && isBlob(c) && !c.copySource));
      // Each source blob was read once (its checksum checked, its ETag kept for the copy).
      const srcGets = recSrc.calls.filter((c) => c.method === "GET" && isBlob(c));
      assert.equal(srcGets.length, r2.blobsCopied);
      assert.equal(new Set(srcGets.map((c) => c.key)).size, r2.blobsCopied);
      // The destination was listed, not asked object by object whether it had each blob: the
      // only blob HEADs are the size checks of the copies and, once each entry's manifest is
      // written, the check that no concurrent prune took its blobs.
      const heads = copying.filter((c) => c.method === "HEAD" && isBlob(c));
      assert.equal(heads.length, 2 * r2.blobsCopied);

      // Again: nothing to copy, the index is not rewritten.
      recB.calls.splice(0);
      const r3 = await syncMirror(aView, b);
      assert.equal(r3.blobsCopied, 0);
      assert.equal(r3.blobsPresent, r2.blobsCopied);
      assert.ok(r3.entries.every((e) => e.status === "present"));
      assert.equal(r3.indexSpecs, undefined);
      assert.ok(!recB.calls.some((c) => c.method === "PUT" || c.method === "POST"));
      // Manifests matched by their ETag in the listing; each present blob proved by the sha256
      // kept with it (one HEAD), never read back.
      const asked = recB.calls.filter((c) => c.key.includes("/manifests/"));
      assert.deepEqual(asked, []);
      const blobHeads = recB.calls.filter((c) => c.method === "HEAD" && isBlob(c));
      assert.equal(blobHeads.length, r3.blobsPresent);
      assert.ok(!recB.calls.some((c) => c.method === "GET" && isBlob(c)));

      const url = `s3://${b.bucket}/cache`;
      const v = await spackleS3(["verify", url, "--key", KEY()]);
      assert.equal(v.code, 0, v.stderr);
      assert.match(v.stderr, /4 entries.*signatures: 4 verified/);
      assert.match(v.stderr, /no problems found/);
      const inst = await spackleS3(["install", "fooapp", "--root", top, "-m", url, "--key", KEY()]);
      assert.equal(inst.code, 0, inst.stderr);
      const d = join(top, "linux-x86_64");
      const app = readdirSync(d).find((e) => e.startsWith("fooapp-"));
      assert.ok(app, readdirSync(d).join(" "));
      const out = runProgram(join(d, app, "bin/fooapp"));
      assert.equal(out.code, 0, out.stderr);
      assert.match(out.stdout, /bound=2026/);
    } finally {
      rmSync(top, { recursive: true, force: true });
      await drop(a, b);
    }
  },
);

s3Test("sync s3: --trust-source copies on the server without reading a source blob", async () => {
  const a = await bucket("ta");
  const c = await bucket("tc");
  try {
    await syncMirror(await openStore(fixture("v3-unsigned")), a);
    const rec = recording();
    const aView = await openS3Store(`s3://${a.bucket}/cache/`, s3Opts(), { fetch: rec.fetch });
    const r = await syncMirror(aView, c, { trustSource: true });
    assert.ok(r.serverSideCopies > 0);
    assert.equal(r.serverSideCopies, r.blobsCopied);
    assert.ok(!rec.calls.some((x) => x.method === "GET" && isBlob(x)));
    // Sizes are still checked: the copies have the manifests' sizes.
    const m = await syncMirror(aView, c);
    assert.equal(m.blobsPresent, r.blobsCopied);
  } finally {
    await drop(a, c);
  }
});

s3Test(
  "sync s3: a corrupt source blob stops a server-side copy before it reaches the destination",
  async () => {
    const a = await bucket("ca");
    const d = await bucket("cd");
    try {
      await syncMirror(await openStore(fixture("v3-unsigned")), a);
      const blobs: string[] = [];
      for await (const k of a.list("blobs/")) blobs.push(k);
      // Flip one byte of the largest blob (same size, wrong sha256).
      const sizes = await Promise.all(blobs.map(async (p) => (await a.stat(p))!.size));
      const victim = blobs[sizes.indexOf(Math.max(...sizes))];
      const bytes = new Uint8Array(await new Response(await a.read(victim)).arrayBuffer());
      bytes[bytes.length >> 1] ^= 0xff;
      await a.write(victim, bytes);
      await assert.rejects(
        syncMirror(a, d),
        (e: Error) =>
          e instanceof IntegrityError && e.message.includes(victim) && /sha256/.test(e.message),
      );
      assert.equal(await d.stat(victim), undefined);
    } finally {
      await drop(a, d);
    }
  },
);

s3Test("sync s3: the sync command between buckets reports its server-side copies", async () => {
  const a = await bucket("ca");
  const e = await bucket("ce");
  const f = await bucket("cf");
  try {
    await syncMirror(await openStore(fixture("v3-signed")), a);
    // The fixture's blobs are all below 1 MiB: checked, they are written from the checking read.
    let r = await spackleS3([
      "--json",
      "sync",
      `s3://${a.bucket}/cache`,
      `s3://${e.bucket}/cache`,
      "fooapp",
      "-k",
      fixture("keys/oracle-test.pub.asc"),
    ]);
    assert.equal(r.code, 0, r.stderr);
    let doc = JSON.parse(r.stdout);
    assert.ok(doc.blobsCopied > 0, r.stdout);
    assert.equal(doc.serverSideCopies, 0);
    assert.equal(doc.indexSpecs, 4);
    // Trusted, every blob is copied on the server.
    r = await spackleS3([
      "--json",
      "sync",
      "--trust-source",
      `s3://${a.bucket}/cache`,
      `s3://${f.bucket}/cache`,
      "fooapp",
      "-k",
      fixture("keys/oracle-test.pub.asc"),
    ]);
    assert.equal(r.code, 0, r.stderr);
    doc = JSON.parse(r.stdout);
    assert.ok(doc.serverSideCopies > 0, r.stdout);
    assert.equal(doc.serverSideCopies, doc.blobsCopied);
  } finally {
    await drop(a, e, f);
  }
});

s3Test(
  "sync s3: S3 -> directory again reads the manifests it has from the directory, not the bucket",
  async () => {
    const a = await bucket("fa");
    const dir = await Deno.makeTempDir({ prefix: "sp-s3sync-dir-" });
    try {
      await syncMirror(await openStore(fixture("v3-signed")), a);
      const dst = await openStore(join(dir, "m"), { writable: true }) as Store;
      const r1 = await syncMirror(a, dst);
      assert.equal(r1.entries.filter((e) => e.status === "copied").length, 5);
      const rec = recording();
      const aView = await openS3Store(`s3://${a.bucket}/cache/`, s3Opts(), { fetch: rec.fetch });
      const r2 = await syncMirror(aView, dst);
      assert.ok(r2.entries.every((e) => e.status === "present"), JSON.stringify(r2.entries));
      assert.equal(r2.blobsCopied, 0);
      const gets = rec.calls.filter((c) => c.method === "GET" && c.key.includes("/manifests/"));
      assert.deepEqual(gets, []);
      // A manifest changed at the destination is fetched and written again.
      const spec = r2.entries.find((e) => e.path.includes("/fooapp/"))!.path;
      await Deno.writeTextFile(join(dir, "m", spec), " ", { append: true });
      const r3 = await syncMirror(a, dst);
      assert.deepEqual(r3.entries.filter((e) => e.status === "copied").map((e) => e.path), [spec]);
      const v = await spackleS3(["verify", join(dir, "m"), "--key", KEY()]);
      assert.equal(v.code, 0, v.stderr);
    } finally {
      await Deno.remove(dir, { recursive: true });
      await drop(a);
    }
  },
);

s3Test(
  "prune s3: sizes come from the listing (no request per blob); an orphan is found and deleted",
  async () => {
    const a = await bucket("pa");
    try {
      await syncMirror(await openStore(fixture("v3-unsigned")), a);
      await a.write("blobs/sha256/00/00orphan", new TextEncoder().encode("orphan"));
      const rec = recording();
      const view = await openS3Store(`s3://${a.bucket}/cache/`, s3Opts(), { fetch: rec.fetch });
      const r = await pruneMirror(view);
      assert.deepEqual(r.items.map((i) => [i.kind, i.reason, i.path, i.size]), [
        ["blob", "orphan", "blobs/sha256/00/00orphan", 6],
      ]);
      assert.deepEqual(rec.calls.filter((c) => c.method === "HEAD"), []);
      const d = await pruneMirror(a, { delete: true });
      assert.equal(d.items.length, 1);
      assert.equal(await a.stat("blobs/sha256/00/00orphan"), undefined);
      assert.deepEqual((await pruneMirror(a)).items, []);
    } finally {
      await drop(a);
    }
  },
);
