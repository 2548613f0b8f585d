/**
 * Run by tests/storage_bun_test.ts under Bun (the executable's runtime): reads the nginx
 * fixture server with and without the test CA and through a CONNECT proxy, and prints one
 * JSON line of results.
 *
 * @module
 */
import process from "node:process";
import { HttpsStore } from "../src/storage/http_store.ts";
import { startProxy, startServer } from "./_http_server.ts";

const url = process.env.SPACKLE_TEST_HTTPS_URL!;
const caFile = process.env.SPACKLE_TEST_CA_FILE!;
const out: Record<string, unknown> = { runtime: "Bun" in globalThis ? "bun" : "other" };
const noProxy = "127.0.0.1,localhost";
try {
  await new HttpsStore(url, { http: { noProxy, env: {} } }).stat("fixtures.json");
  out.withoutCa = "ok";
} catch (e) {
  out.withoutCa = (e as Error).message;
}
out.withCa = (await new HttpsStore(url, { http: { caFile, noProxy } }).stat("fixtures.json"))
  ?.size;
out.withEnvCa = (await new HttpsStore(url, { http: { noProxy, env: { SSL_CERT_FILE: caFile } } })
  .stat("fixtures.json"))?.size;
const proxy = await startProxy();
try {
  out.viaProxy = (await new HttpsStore(url, {
    http: { caFile, env: { HTTPS_PROXY: proxy.url } },
  }).stat("fixtures.json"))?.size;
  out.proxySaw = [...proxy.seen];
  const server = await startServer((_req, res) => void res.writeHead(200).end("ok"));
  try {
    const withCreds = proxy.url.replace("http://", "http://alice:s%40cret@");
    const store = new HttpsStore(server.url, { http: { proxy: withCreds, noProxy: "" } });
    out.viaAuthProxy = new TextDecoder().decode(
      new Uint8Array(await new Response(await store.read("a.txt")).arrayBuffer()),
    );
    out.proxyAuth = proxy.auth;
  } finally {
    await server.close();
  }
} finally {
  await proxy.close();
}
console.log(JSON.stringify(out));
