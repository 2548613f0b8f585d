/**
 * The https store: the behaviour suite over an in-process http server and over nginx with TLS
 * (when `scripts/services/nginx.sh` runs), fixture mirrors read over TLS, and the CA bundle.
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { NotFoundError, TransportError, UsageError } from "../src/errors.ts";
import { collect } from "../src/core/streams.ts";
import { HttpsStore } from "../src/storage/http_store.ts";
import { openStore } from "../src/storage/open.ts";
import { isWritable } from "../src/storage/store.ts";
import { fixture, HAVE_FIXTURES } from "./_fixtures.ts";
import { serveDir } from "./_http_server.ts";
import { runStoreBehaviour } from "./storage_behaviour.ts";

const HTTPS_URL = Deno.env.get("SPACKLE_TEST_HTTPS_URL");
const CA_FILE = Deno.env.get("SPACKLE_TEST_CA_FILE");
const SCRATCH = Deno.env.get("SPACKLE_TEST_HTTPS_SCRATCH");
const SCRATCH_URL = Deno.env.get("SPACKLE_TEST_HTTPS_SCRATCH_URL");
const NO_NGINX = !HTTPS_URL || !CA_FILE;
/** Loopback must bypass any proxy the environment sets. */
const http = { caFile: CA_FILE, noProxy: "127.0.0.1,localhost" };

function seeder(root: string) {
  return async (p: string, b: Uint8Array) => {
    await mkdir(dirname(join(root, p)), { recursive: true });
    await writeFile(join(root, p), b);
  };
}

runStoreBehaviour("http (in-process server)", async () => {
  const root = await mkdtemp(join(tmpdir(), "spackle-http-"));
  const server = await serveDir(root);
  return {
    store: await openStore(server.url, { http: { noProxy: "127.0.0.1" } }),
    seed: seeder(root),
    async cleanup() {
      await server.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}, { write: false, list: false });

runStoreBehaviour(
  "https (nginx, TLS)",
  async () => {
    const sub = `t${crypto.randomUUID().slice(0, 8)}`;
    const root = join(SCRATCH!, sub);
    await mkdir(root, { recursive: true });
    return {
      store: await openStore(`${SCRATCH_URL}${sub}/`, { http }),
      seed: seeder(root),
      cleanup: () => rm(root, { recursive: true, force: true }),
    };
  },
  { write: false, list: false },
  { ignore: NO_NGINX || !SCRATCH },
);

Deno.test("openStore() refuses to open an https mirror for writing", async () => {
  await assert.rejects(
    () => openStore("https://example.invalid/mirror", { writable: true }),
    (e: unknown) => e instanceof UsageError && /https mirrors are read-only/.test(e.message),
  );
  const s = await openStore("https://example.invalid/mirror");
  assert.equal(isWritable(s), false);
  assert.equal(s.url.href, "https://example.invalid/mirror/");
  assert.equal(s.list, undefined);
});

Deno.test("stat() falls back to GET when the server refuses HEAD", async () => {
  const root = await mkdtemp(join(tmpdir(), "spackle-http-"));
  const server = await serveDir(root, { refuseHead: true });
  try {
    await writeFile(join(root, "a.json"), "{}\n");
    const store = new HttpsStore(server.url, { http: { noProxy: "127.0.0.1" } });
    assert.equal((await store.stat("a.json"))?.size, 3);
    assert.equal(await store.stat("b.json"), undefined);
    assert.deepEqual(server.requests.map((r) => r.method), ["HEAD", "GET", "HEAD", "GET"]);
  } finally {
    await server.close();
    await rm(root, { recursive: true, force: true });
  }
});

Deno.test({
  name: "https store reads fixture mirror files over TLS byte for byte",
  ignore: NO_NGINX || !HAVE_FIXTURES,
  async fn() {
    const store = await openStore(HTTPS_URL!, { http });
    for (
      const p of [
        "fixtures.json",
        "v3-signed/v3/layout.json",
        "v3-signed/v3/manifests/index/index.manifest.json",
        "v2-signed/build_cache/index.json",
        "v2-signed/build_cache/linux-debian12-x86_64/gcc-12.2.0/libzz-1.2.3/" +
        "linux-debian12-x86_64-gcc-12.2.0-libzz-1.2.3-wpn7enmyybr42zre26cp2uw6drmtmqqv.spack",
      ]
    ) {
      const local = new Uint8Array(await readFile(fixture(p)));
      assert.equal((await store.stat(p))?.size, local.byteLength, p);
      assert.deepEqual(await collect(await store.read(p)), local, p);
      assert.ok((await store.stat(p))?.etag, "nginx sends an etag");
    }
    await assert.rejects(() => store.read("v3-signed/no-such-file.json"), NotFoundError);
  },
});

Deno.test({
  name: "https fails without the test CA and succeeds with it (flag and SSL_CERT_FILE)",
  ignore: NO_NGINX || !HAVE_FIXTURES,
  async fn() {
    const bare = await openStore(HTTPS_URL!, {
      http: { noProxy: "127.0.0.1", env: {} },
      retry: { retries: 0 },
    });
    await assert.rejects(
      () => bare.stat("fixtures.json"),
      (e: unknown) =>
        e instanceof TransportError && !e.temporary && /--ca-file|SSL_CERT_FILE/.test(e.message),
    );
    const viaFlag = await openStore(HTTPS_URL!, {
      http: { caFile: CA_FILE, noProxy: "127.0.0.1" },
    });
    assert.ok((await viaFlag.stat("fixtures.json"))!.size > 0);
    const viaEnv = await openStore(HTTPS_URL!, {
      http: { noProxy: "127.0.0.1", env: { SSL_CERT_FILE: CA_FILE } },
    });
    assert.ok((await viaEnv.stat("fixtures.json"))!.size > 0);
  },
});
