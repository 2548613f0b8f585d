/**
 * sync over temporary copies of the fixture mirrors: v3 -> v3 copies every entry verbatim and a
 * second run copies nothing; a spec argument copies only its runtime closure; a corrupt blob
 * stops the copy; a v2 source is migrated.
 */
import assert from "node:assert/strict";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { IntegrityError } from "../src/errors.ts";
import { openMirror } from "../src/layout/open.ts";
import { type SyncEvent, syncMirror } from "../src/mirror/sync.ts";
import { openStore } from "../src/storage/open.ts";
import type { Store } from "../src/storage/store.ts";
import { fixture, HAVE_FIXTURES } from "./_fixtures.ts";

async function tmp(): Promise<string> {
  return await mkdtemp(join(tmpdir(), "spackle-sync-"));
}

const FOOAPP =
  "v3/manifests/spec/fooapp/fooapp-3.0-iicodpd5dtmh5ijlchcoay25frkfkyuv.spec.manifest.json";

Deno.test({
  name: "sync v3 -> v3 copies every manifest byte for byte, and a second run copies nothing",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const d = await tmp();
    try {
      const src = await openStore(fixture("v3-signed"));
      const dst = await openStore(join(d, "dst"), { writable: true }) as Store;
      const r1 = await syncMirror(src, dst);
      assert.equal(r1.source, 3);
      assert.equal(r1.entries.filter((e) => e.status === "copied").length, 5); // 4 specs + 1 key
      assert.ok(r1.blobsCopied > 0);
      assert.equal(r1.indexSpecs, 4);
      assert.deepEqual(r1.keys, ["4D782899AF51B814967AC6DE6EE87675E657CA38"]);
      assert.deepEqual(
        await readFile(join(d, "dst", FOOAPP)),
        await readFile(fixture("v3-signed", FOOAPP)),
      );
      const refs = await (await openMirror(join(d, "dst"))).list();
      assert.equal(refs.filter((r) => r.inBuildcache).length, 4);

      const r2 = await syncMirror(src, dst);
      assert.equal(r2.blobsCopied, 0);
      assert.equal(r2.bytesCopied, 0);
      assert.ok(r2.entries.every((e) => e.status === "present"));
      assert.equal(r2.indexSpecs, undefined); // nothing changed: the index is not rewritten
    } finally {
      await rm(d, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "sync with a spec copies only its runtime closure",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const d = await tmp();
    try {
      const src = await openStore(fixture("v3-unsigned"));
      const dst = await openStore(join(d, "dst"), { writable: true }) as Store;
      const all = await (await openMirror(src)).list();
      const lib = all.find((r) => r.name === "libzz" && r.inBuildcache)!;
      const mirror = await openMirror(src);
      const closure = (await mirror.closure(lib.hash, { requireSignature: false }))
        .filter((r) => r.inBuildcache);
      const r = await syncMirror(src, dst, { specs: ["libzz"] });
      const copied = r.entries.filter((e) => e.path.startsWith("v3/manifests/spec/"));
      assert.equal(copied.length, closure.length);
      assert.ok(copied.length < all.filter((x) => x.inBuildcache).length);
      const got = (await (await openMirror(dst)).list()).filter((x) => x.inBuildcache);
      assert.deepEqual(got.map((x) => x.hash).sort(), closure.map((x) => x.hash).sort());
    } finally {
      await rm(d, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "sync refuses a blob whose bytes do not match its manifest and writes no manifest",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const d = await tmp();
    try {
      await cp(fixture("v3-unsigned"), join(d, "src"), { recursive: true });
      // Corrupt every blob of one spec manifest: flip the first byte.
      const { readdir } = await import("node:fs/promises");
      const specDir = join(d, "src", "v3/manifests/spec/libzz");
      const mpath = join(specDir, (await readdir(specDir))[0]);
      const m = JSON.parse(await readFile(mpath, "utf8"));
      const rec = m.data[0];
      const bpath = join(d, "src", "blobs", "sha256", rec.checksum.slice(0, 2), rec.checksum);
      const bytes = await readFile(bpath);
      bytes[0] ^= 0xff;
      await writeFile(bpath, bytes);
      const src = await openStore(join(d, "src"));
      const dst = await openStore(join(d, "dst"), { writable: true }) as Store;
      await assert.rejects(syncMirror(src, dst, { specs: ["libzz"] }), IntegrityError);
      assert.equal(await dst.stat(mpath.slice(join(d, "src").length + 1)), undefined);
    } finally {
      await rm(d, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "sync from a v2 mirror migrates it into a v3 mirror",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const d = await tmp();
    try {
      const src = await openStore(fixture("v2-unsigned"));
      const dst = await openStore(join(d, "dst"), { writable: true }) as Store;
      const r = await syncMirror(src, dst);
      assert.equal(r.source, 2);
      assert.ok(r.entries.some((e) => e.status === "migrated"));
      const m = await openMirror(dst);
      assert.deepEqual(m.layout.versions, [3]);
      const srcRefs = (await (await openMirror(src)).list()).filter((x) => x.inBuildcache);
      const dstRefs = (await m.list()).filter((x) => x.inBuildcache);
      assert.deepEqual(dstRefs.map((x) => x.hash).sort(), srcRefs.map((x) => x.hash).sort());
    } finally {
      await rm(d, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "sync --dry-run writes nothing",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const d = await tmp();
    try {
      const src = await openStore(fixture("v3-unsigned"));
      const dst = await openStore(join(d, "dst"), { writable: true }) as Store;
      const r = await syncMirror(src, dst, { dryRun: true });
      assert.ok(r.entries.length > 0 && r.entries.every((e) => e.status === "would-copy"));
      assert.equal(r.blobsCopied, 0);
      assert.equal(await dst.stat("v3/layout.json"), undefined);
    } finally {
      await rm(d, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "the sync and prune commands exit 0 and print one JSON document with --json",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const d = await tmp();
    const { main } = await import("../src/cli/app.ts");
    const { default: process } = await import("node:process");
    const write = process.stdout.write;
    const printed: string[] = [];
    process.stdout.write = ((c: string | Uint8Array) => {
      printed.push(typeof c === "string" ? c : new TextDecoder().decode(c));
      return true;
    }) as typeof process.stdout.write;
    try {
      const code = await main([
        "--json",
        "sync",
        "--allow-unsigned",
        fixture("v3-unsigned"),
        join(d, "dst"),
        "libzz",
      ]);
      const pruneCode = await main(["--json", "prune", join(d, "dst")]);
      process.stdout.write = write;
      assert.equal(code, 0);
      assert.equal(pruneCode, 0);
      const all = printed.join("\n");
      assert.match(all, /"source": 3/);
      assert.match(all, /"deleted": false/);
    } finally {
      process.stdout.write = write;
      await rm(d, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "sync reports its plan and blobs as events; a missing blob leaves its entry, others go on",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const d = await tmp();
    try {
      await cp(fixture("v3-unsigned"), join(d, "src"), { recursive: true });
      const { readdir, unlink } = await import("node:fs/promises");
      const specDir = join(d, "src", "v3/manifests/spec/fooapp");
      const name = (await readdir(specDir))[0];
      const m = JSON.parse(await readFile(join(specDir, name), "utf8"));
      const gone = m.data[0].checksum as string;
      await unlink(join(d, "src", "blobs", "sha256", gone.slice(0, 2), gone));
      const src = await openStore(join(d, "src"));
      const dst = await openStore(join(d, "dst"), { writable: true }) as Store;
      const events: SyncEvent[] = [];
      const r = await syncMirror(src, dst, { onEvent: (e) => events.push(e) });
      const plan = events.find((e) => e.kind === "plan");
      assert.ok(plan && plan.kind === "plan");
      assert.equal(plan.entries, r.entries.length);
      const reading = events.filter((e) => e.kind === "reading");
      assert.equal(reading.length, r.entries.length + 1);
      const done = events.filter((e) => e.kind === "blob-done");
      assert.equal(done.length, plan.blobs);
      const failed = done.filter((e) => e.kind === "blob-done" && e.status === "failed");
      assert.deepEqual(failed.map((e) => e.kind === "blob-done" && e.path), [
        `blobs/sha256/${gone.slice(0, 2)}/${gone}`,
      ]);
      const left = r.entries.filter((e) => e.status === "left");
      assert.deepEqual(left.map((e) => e.path), [`v3/manifests/spec/fooapp/${name}`]);
      assert.equal(r.entries.filter((e) => e.status === "copied").length, r.entries.length - 1);
      assert.equal(await dst.stat(`v3/manifests/spec/fooapp/${name}`), undefined);
      const bytes = events.reduce((n, e) => n + (e.kind === "blob-bytes" ? e.bytes : 0), 0);
      assert.equal(bytes, r.bytesCopied);
    } finally {
      await rm(d, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "sync with a verifier leaves entries whose signature does not verify, and unsigned ones " +
    "when signatures are required",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const { verifierFromKeys } = await import("../src/mirror/trusted_keys.ts");
    const verifier = await verifierFromKeys([
      await readFile(fixture("keys/oracle-test.pub.asc"), "utf8"),
    ]);
    const d = await tmp();
    try {
      // A signed mirror with one manifest tampered with (its signed text changed).
      const src = join(d, "src");
      await cp(fixture("v3-signed"), src, { recursive: true });
      const text = await readFile(join(src, FOOAPP), "utf8");
      await writeFile(join(src, FOOAPP), text.replace('"mediaType"', '"mediaType" '));
      const dst = await openStore(join(d, "dst"), { writable: true }) as Store;
      const r = await syncMirror(await openStore(src), dst, { verifier });
      const left = r.entries.filter((e) => e.status === "left");
      assert.deepEqual(left.map((e) => e.path), [FOOAPP]);
      assert.match(left[0].reason!, /signature/i);
      assert.equal(r.entries.filter((e) => e.status === "copied").length, 4); // 3 specs + key
      await assert.rejects(readFile(join(d, "dst", FOOAPP)));

      // Unsigned entries pass with a verifier, and are left when signatures are required.
      const u1 = await openStore(join(d, "u1"), { writable: true }) as Store;
      const a = await syncMirror(await openStore(fixture("v3-unsigned")), u1, { verifier });
      assert.equal(a.entries.filter((e) => e.status === "copied").length, 4);
      const u2 = await openStore(join(d, "u2"), { writable: true }) as Store;
      const b = await syncMirror(await openStore(fixture("v3-unsigned")), u2, {
        verifier,
        requireSignatures: true,
      });
      assert.equal(b.entries.filter((e) => e.status === "left").length, 4);
      assert.match(b.entries[0].reason!, /not signed and signatures are required/);

      // A v2 source: signatures checked while migrating.
      const v2 = await openStore(join(d, "v2"), { writable: true }) as Store;
      const c = await syncMirror(await openStore(fixture("v2-signed")), v2, {
        verifier,
        requireSignatures: true,
      });
      assert.equal(c.entries.filter((e) => e.status === "migrated").length, 4);
      await assert.rejects(
        syncMirror(await openStore(fixture("v2-signed")), v2, { requireSignatures: true }),
        /without trusted keys/,
      );
    } finally {
      await rm(d, { recursive: true, force: true });
    }
  },
});
