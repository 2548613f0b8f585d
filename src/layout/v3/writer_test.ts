import assert from "node:assert/strict";
import { MemoryStore } from "../../storage/memory.ts";
import { collect, streamOf } from "../../core/streams.ts";
import { gunzipBytes, gzipBytes } from "../../core/gzip.ts";
import { sha256Hex } from "../../core/digest.ts";
import { parseSpecDoc } from "../_spec.ts";
import { parseManifest } from "../manifest.ts";
import { MEDIA_TYPES } from "../media_types.ts";
import type { Signer } from "../../sign/types.ts";
import { V3Reader } from "./reader.ts";
import { specBlobText, V3Writer } from "./writer.ts";
import { V3_LAYOUT_JSON, v3SpecManifestPath } from "./paths.ts";

const HASH = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const spec = parseSpecDoc({
  spec: {
    _meta: { version: 5 },
    nodes: [{ name: "zlib", version: "1.3", hash: HASH, note: "café" }],
  },
});

function tarball(bytes: Uint8Array) {
  return {
    descriptor: {
      mediaType: MEDIA_TYPES.tarball,
      checksum: sha256Hex(bytes),
      checksumAlgorithm: "sha256" as const,
      size: bytes.length,
      compression: "gzip" as const,
    },
    open: () => Promise.resolve(streamOf(bytes)),
  };
}

Deno.test("specBlobText appends buildcache_layout_version to the compact spec text", () => {
  assert.ok(specBlobText(spec).endsWith(',"buildcache_layout_version":2}'));
});

Deno.test("V3Writer.push writes blobs, then the manifest Spack writes; V3Reader reads the entry", async () => {
  const store = new MemoryStore();
  const order: string[] = [];
  const write = store.write.bind(store);
  store.write = (p, b, o) => {
    order.push(p);
    return write(p, b, o);
  };
  const w = new V3Writer(store);
  const tgz = gzipBytes("not really a tar");
  const r = await w.push(spec, tarball(tgz));
  assert.equal(r.skipped, false);
  const mpath = v3SpecManifestPath("zlib", "1.3", HASH);
  assert.equal(r.manifestPath, mpath);
  assert.deepEqual(order.slice(-2), [mpath, V3_LAYOUT_JSON]);
  assert.ok(order.indexOf(mpath) > order.findIndex((p) => p.startsWith("blobs/")));
  const text = new TextDecoder().decode(store.objects.get(mpath)!);
  assert.ok(text.startsWith('{\n"version":3,\n"data":[\n{\n"contentLength":'));
  const m = parseManifest(text);
  assert.deepEqual(m.data.map((d) => d.mediaType), [MEDIA_TYPES.tarball, MEDIA_TYPES.spec]);
  const specBlob = store.objects.get(
    `blobs/sha256/${m.data[1].checksum.slice(0, 2)}/${m.data[1].checksum}`,
  )!;
  assert.equal(new TextDecoder().decode(gunzipBytes(specBlob)), specBlobText(spec));
  const e = await new V3Reader(store).entry(HASH, { requireSignature: false });
  assert.equal(e.spec.root, HASH);
  assert.deepEqual(await collect(await e.openTarball()), tgz);

  // present and complete: skipped; forced: written again
  order.length = 0;
  assert.equal((await w.push(spec, tarball(tgz))).skipped, true);
  assert.deepEqual(order, []);
  assert.equal((await w.push(spec, tarball(tgz), { force: true })).skipped, false);
  assert.deepEqual(order, [mpath]); // blobs of the same size are not rewritten
});

Deno.test("V3Writer: a tarball that does not match its descriptor leaves no manifest", async () => {
  const store = new MemoryStore();
  const w = new V3Writer(store);
  const t = tarball(gzipBytes("abc"));
  t.open = () => Promise.resolve(streamOf(gzipBytes("abd")));
  await assert.rejects(w.push(spec, t));
  assert.equal(await store.stat(v3SpecManifestPath("zlib", "1.3", HASH)), undefined);
});

Deno.test("V3Writer: signed manifests, key manifest, key index and index", async () => {
  const store = new MemoryStore();
  const w = new V3Writer(store);
  const fpr = "0123456789ABCDEF0123456789ABCDEF01234567";
  const signer: Signer = {
    fingerprint: fpr,
    publicKeyArmored:
      "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nxx\n-----END PGP PUBLIC KEY BLOCK-----\n",
    clearsign: (t) =>
      Promise.resolve(
        `-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n${t}\n-----BEGIN PGP SIGNATURE-----\n\nsig\n-----END PGP SIGNATURE-----\n`,
      ),
  };
  await w.push(spec, tarball(gzipBytes("x")), { signer });
  const text = new TextDecoder().decode(
    store.objects.get(v3SpecManifestPath("zlib", "1.3", HASH))!,
  );
  assert.ok(text.startsWith("-----BEGIN PGP SIGNED MESSAGE-----"));
  await w.publishKey(fpr, signer.publicKeyArmored);
  assert.deepEqual(await w.writeKeyIndex(), [fpr]);
  const keys = await new V3Reader(store).keys();
  assert.deepEqual(keys.map((k) => k.fingerprint), [fpr]);
  const d = await w.writeIndex('{"database":{"version":"8","installs":{}}}');
  assert.equal(d.compression, "none");
  const idx = await new V3Reader(store).index();
  assert.deepEqual(idx.refs, []);
});
