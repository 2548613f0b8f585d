/**
 * The one mapping from an error to the kind of a verify finding: damage to what the mirror
 * holds (missing, failing its checksum, invalid data, unparsable JSON) is `corrupt`; a refused
 * signature is `untrusted`; a failure to read (transport, a captive portal page) is
 * `unreachable`. Checked on the mapping itself, on an HTTP mirror behind a portal, and on a
 * registry image whose config is not JSON (which was `unreachable` before).
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import {
  IntegrityError,
  InvalidDataError,
  NotFoundError,
  SignatureError,
  TransportError,
  UnsupportedError,
} from "../src/errors.ts";
import { gunzipBytes, gzipBytes } from "../src/core/gzip.ts";
import { collect } from "../src/core/streams.ts";
import { writeTar } from "../src/core/tar.ts";
import { findingKindOf } from "../src/mirror/verify/run.ts";
import { type Finding, VERIFY_FLAGS, verifyMirror } from "../src/mirror/verify.ts";
import { openStore } from "../src/storage/open.ts";
import { fixture, HAVE_FIXTURES } from "./_fixtures.ts";
import { startServer } from "./_http_server.ts";
import { readFile } from "node:fs/promises";
import { join } from "node:path";

Deno.test("errors map to finding kinds: invalid data is corrupt, transport unreachable", () => {
  const cases: [unknown, string][] = [
    [new NotFoundError("gone"), "corrupt"],
    [new IntegrityError("bad sha256"), "corrupt"],
    [new InvalidDataError("bad JSON"), "corrupt"],
    [new SyntaxError("Unexpected token"), "corrupt"],
    [new SignatureError("bad signature"), "untrusted"],
    [new TransportError("HTTP 503", { status: 503 }), "unreachable"],
    [new UnsupportedError("an image index"), "unreachable"],
    [new Error("EACCES"), "unreachable"],
  ];
  for (const [e, kind] of cases) assert.equal(findingKindOf(e), kind, String(e));
  const abort = new DOMException("stopped", "AbortError");
  assert.throws(() => findingKindOf(abort), (e: unknown) => e === abort);
});

const errors = (fs: Finding[]) =>
  fs.filter((f) => f.kind !== "notice").map((f) => `${f.kind}:${f.code}`).sort();

Deno.test({
  name: "a portal page in place of metadata is unreachable, damaged metadata served is corrupt",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const root = fixture("v3-unsigned");
    const index = "v3/manifests/index/index.manifest.json";
    let mode: "portal" | "damaged" = "portal";
    const server = await startServer(async (req, res) => {
      const path = decodeURIComponent(new URL(req.url!, "http://x").pathname).slice(1);
      if (path === index && mode === "portal") {
        res.writeHead(200, { "content-type": "text/html" }).end("<html>Log in</html>");
        return;
      }
      if (path === index) {
        res.writeHead(200, { "content-type": "application/json" }).end('{"version": 3, "data": 7}');
        return;
      }
      try {
        const body = await readFile(join(root, path));
        res.writeHead(200, { "content-length": String(body.byteLength) });
        res.end(req.method === "HEAD" ? undefined : body);
      } catch {
        res.writeHead(404).end();
      }
    });
    try {
      const store = await openStore(server.url, {
        http: { noProxy: "127.0.0.1" },
        retry: { retries: 0 },
      });
      const portal = await verifyMirror(store);
      assert.deepEqual(errors(portal.findings), ["unreachable:read_failed"]);
      assert.match(portal.findings.find((f) => f.kind !== "notice")!.message, /captive portal/);
      assert.equal(portal.flags, VERIFY_FLAGS.unreachable);
      mode = "damaged";
      const damaged = await verifyMirror(store);
      assert.deepEqual(errors(damaged.findings), ["corrupt:manifest_invalid"]);
      assert.match(damaged.findings[0].message, /"data" is missing or not a list/);
      assert.equal(damaged.flags, VERIFY_FLAGS.corrupt);
    } finally {
      await server.close();
    }
  },
});

const REG = Deno.env.get("SPACKLE_TEST_REGISTRY");
const CA = Deno.env.get("SPACKLE_TEST_REGISTRY_CA_FILE") ?? "";
const LIBZZ_V3_HASH = "irttwv2f4rzhheesshe6vsy3xw3ezk2h";
const LIBZZ_V3_MANIFEST = `libzz-1.2.3-${LIBZZ_V3_HASH}.spec.manifest.json`;

/** Pushes an image of one layer and `config` to a fresh repository; returns its store. */
async function pushImage(tag: string, config: Uint8Array, layer: Uint8Array) {
  const url = `oci://${REG}/spackle-test/k${randomBytes(5).toString("hex")}`;
  const store = await openStore(url, { http: { caFile: CA } });
  const { client } = store as unknown as {
    client: {
      uploadBlob(d: string, n: number, b: Uint8Array): Promise<unknown>;
      putManifest(tag: string, b: Uint8Array, type: string): Promise<unknown>;
    };
  };
  await client.uploadBlob(sha(layer), layer.length, layer);
  await client.uploadBlob(sha(config), config.length, config);
  const type = "application/vnd.oci.image.manifest.v1+json";
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: type,
    config: {
      mediaType: "application/vnd.oci.image.config.v1+json",
      digest: sha(config),
      size: config.length,
    },
    layers: [{
      mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
      digest: sha(layer),
      size: layer.length,
    }],
  });
  await client.putManifest(tag, new TextEncoder().encode(manifest), type);
  return store;
}

const sha = (b: Uint8Array) => "sha256:" + createHash("sha256").update(b).digest("hex");

Deno.test({
  name: "a registry image whose config is not JSON is corrupt (not unreachable)",
  ignore: !REG,
  async fn() {
    const tag = `broken-1.0-${"a".repeat(32)}.spack`;
    const gz = gzipBytes(await collect(writeTar([])));
    const store = await pushImage(tag, new TextEncoder().encode("{ this is not JSON"), gz);
    const r = await verifyMirror(store);
    assert.deepEqual(errors(r.findings), ["corrupt:manifest_invalid"]);
    const f = r.findings.find((x) => x.code === "manifest_invalid")!;
    assert.equal(f.path, `manifests/${tag}`);
    assert.match(f.message, /is unusable/);
    assert.equal(r.flags, VERIFY_FLAGS.corrupt);
  },
});

Deno.test({
  name: "a registry image whose tarball layer does not uncompress is corrupt",
  ignore: !REG || !HAVE_FIXTURES,
  async fn() {
    // The spec of libzz from the v3 fixture, as the image config Spack writes.
    const root = fixture("v3-unsigned");
    const manifest = JSON.parse(
      await readFile(join(root, "v3/manifests/spec/libzz", LIBZZ_V3_MANIFEST), "utf8"),
    ) as { data: { mediaType: string; checksum: string }[] };
    const rec = manifest.data.find((r) => r.mediaType.startsWith("application/vnd.spack.spec"))!;
    const spec = JSON.parse(
      new TextDecoder().decode(
        gunzipBytes(
          await readFile(join(root, "blobs/sha256", rec.checksum.slice(0, 2), rec.checksum)),
        ),
      ),
    );
    const layer = new TextEncoder().encode("this is not gzip data at all");
    const config = new TextEncoder().encode(JSON.stringify({
      ...spec,
      rootfs: { type: "layers", diff_ids: ["sha256:" + "0".repeat(64)] },
    }));
    const tag = `libzz-1.2.3-${LIBZZ_V3_HASH}.spack`;
    const store = await pushImage(tag, config, layer);
    const r = await verifyMirror(store);
    assert.deepEqual(errors(r.findings), ["corrupt:read_failed"]);
    assert.match(r.findings[0].message, /tarball layer .* cannot be read/);
    assert.equal(r.flags, VERIFY_FLAGS.corrupt);
  },
});
