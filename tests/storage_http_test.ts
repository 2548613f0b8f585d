/**
 * The HTTP client and the https store against in-process servers: retries, timeouts, HTML
 * pages where data was expected, proxies (and NO_PROXY), and the retry helper itself.
 */
import assert from "node:assert/strict";
import { NotFoundError, SpackleError, TransportError, UsageError } from "../src/errors.ts";
import { collect, collectText } from "../src/core/streams.ts";
import {
  bypassesProxy,
  makeFetch,
  proxyFor,
  redact,
  retryAfterMs,
} from "../src/storage/http_client.ts";
import { HttpsStore } from "../src/storage/http_store.ts";
import { openStore } from "../src/storage/open.ts";
import { backoffDelay, retryMessage, retryStore, withRetry } from "../src/storage/retry.ts";
import { startProxy, startServer, type TestServer } from "./_http_server.ts";

const direct = { noProxy: "127.0.0.1,localhost" };
const fast = { baseDelayMs: 1, maxDelayMs: 5 };

async function withServer(
  handler: Parameters<typeof startServer>[0],
  fn: (s: TestServer) => Promise<void>,
): Promise<void> {
  const s = await startServer(handler);
  try {
    await fn(s);
  } finally {
    await s.close();
  }
}

function test(name: string, fn: () => Promise<void>) {
  Deno.test({ name, fn, sanitizeOps: false, sanitizeResources: false });
}

test("a read retried after 503 succeeds on the second attempt", async () => {
  let n = 0;
  await withServer((_req, res) => {
    if (n++ === 0) res.writeHead(503).end("busy");
    else res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
  }, async (s) => {
    const store = await openStore(s.url, { http: direct, retry: fast });
    assert.equal(await collectText(await store.read("index.json")), '{"ok":true}');
    assert.equal(s.requests.length, 2);
  });
});

test("a 404 is not retried and gives NotFoundError", async () => {
  await withServer((_req, res) => void res.writeHead(404).end(), async (s) => {
    const store = await openStore(s.url, { http: direct, retry: fast });
    await assert.rejects(() => store.read("missing.json"), NotFoundError);
    assert.equal(s.requests.length, 1);
    assert.equal(await store.stat("missing.json"), undefined);
    assert.equal(s.requests.length, 2);
  });
});

test("a 403 is not retried and is a permanent TransportError with the status", async () => {
  await withServer((_req, res) => void res.writeHead(403).end(), async (s) => {
    const store = await openStore(s.url, { http: direct, retry: fast });
    await assert.rejects(
      () => store.read("secret.json"),
      (e: unknown) => e instanceof TransportError && e.status === 403 && !e.temporary,
    );
    assert.equal(s.requests.length, 1);
  });
});

test("429 is retried until the retries run out, then the last error is thrown", async () => {
  await withServer((_req, res) => void res.writeHead(429).end(), async (s) => {
    const retried: number[] = [];
    const store = await openStore(s.url, {
      http: direct,
      retry: { ...fast, retries: 3, onRetry: (_e, attempt) => retried.push(attempt) },
    });
    await assert.rejects(
      () => store.stat("x.json"),
      (e: unknown) => e instanceof TransportError && e.status === 429 && e.temporary,
    );
    assert.equal(s.requests.length, 4);
    assert.deepEqual(retried, [1, 2, 3]);
  });
});

test("Retry-After on a 503 is waited for before the next attempt", async () => {
  let n = 0;
  const times: number[] = [];
  await withServer((_req, res) => {
    times.push(performance.now());
    if (n++ === 0) res.writeHead(503, { "retry-after": "1" }).end();
    else res.writeHead(200, { "content-length": "2" }).end("ok");
  }, async (s) => {
    const store = await openStore(s.url, { http: direct, retry: { baseDelayMs: 1 } });
    assert.equal(await collectText(await store.read("a.bin")), "ok");
    assert.ok(times[1] - times[0] >= 950, `waited ${times[1] - times[0]} ms`);
  });
  assert.equal(retryAfterMs("120"), 120_000);
  assert.equal(
    retryAfterMs("Wed, 21 Oct 2015 07:28:10 GMT", Date.UTC(2015, 9, 21, 7, 28, 0)),
    10_000,
  );
  assert.equal(retryAfterMs("soon"), undefined);
});

test("a connection reset is a temporary error and is retried", async () => {
  let n = 0;
  await withServer((req, res) => {
    if (n++ < 2) req.socket.destroy();
    else res.writeHead(200, { "content-length": "2" }).end("ok");
  }, async (s) => {
    const store = await openStore(s.url, { http: direct, retry: fast });
    assert.equal(await collectText(await store.read("a.bin")), "ok");
    assert.equal(n, 3);
  });
});

/** A server whose first response breaks after `cut` bytes; Range requests get the rest. */
function breakingServer(body: Uint8Array, cut: number, etag: string | undefined) {
  let first = true;
  return startServer((req, res) => {
    const range = /^bytes=(\d+)-$/.exec(String(req.headers.range ?? ""));
    const headers: Record<string, string> = { "accept-ranges": "bytes" };
    if (etag) headers.etag = etag;
    if (range && !first) {
      const from = Number(range[1]);
      res.writeHead(206, {
        ...headers,
        "content-length": String(body.byteLength - from),
        "content-range": `bytes ${from}-${body.byteLength - 1}/${body.byteLength}`,
      });
      res.end(body.subarray(from));
      return;
    }
    res.writeHead(200, { ...headers, "content-length": String(body.byteLength) });
    if (first) {
      first = false;
      res.write(body.subarray(0, cut), () => setTimeout(() => req.socket.destroy(), 20));
    } else res.end(body);
  });
}

test("a body cut short by the network is resumed with a Range request", async () => {
  const body = new Uint8Array(300_000).map((_, i) => (i * 7) % 251);
  const s = await breakingServer(body, 100_000, '"v1"');
  try {
    const store = new HttpsStore(s.url, { http: direct });
    const got = await collect(await store.read("big.bin"));
    assert.equal(got.byteLength, body.byteLength);
    assert.deepEqual(got, body);
    assert.equal(s.requests.length, 2);
    assert.match(String(s.requests[1].headers.range), /^bytes=\d+-$/);
    assert.equal(s.requests[1].headers["if-range"], '"v1"');
  } finally {
    await s.close();
  }
});

test("a body cut short without an ETag is resumed when the range has the same total length", async () => {
  const body = new Uint8Array(300_000).map((_, i) => (i * 13) % 251);
  const s = await breakingServer(body, 100_000, undefined);
  try {
    const retries: string[] = [];
    const store = new HttpsStore(s.url, {
      http: direct,
      onRetry: (e, _n, ms) => retries.push(retryMessage(e, ms)),
    });
    const got = await collect(await store.read("big.bin"));
    assert.deepEqual(got, body);
    assert.equal(s.requests.length, 2);
    assert.equal(s.requests[1].headers["if-range"], undefined);
    assert.equal(retries.length, 1);
    assert.match(retries[0], /^retrying in \d+ ms: Cannot (read|reach) .*big\.bin/);
  } finally {
    await s.close();
  }
});

test("a cut body is read again from the start (bytes already delivered skipped) by a server without ranges", async () => {
  const body = new Uint8Array(200_000).map((_, i) => (i * 5) % 253);
  let first = true;
  const s = await startServer((req, res) => {
    res.writeHead(200, { "content-length": String(body.byteLength), etag: '"e1"' });
    if (first) {
      first = false;
      res.write(body.subarray(0, 70_000), () => setTimeout(() => req.socket.destroy(), 20));
    } else res.end(body);
  });
  try {
    const store = new HttpsStore(s.url, { http: direct });
    assert.deepEqual(await collect(await store.read("x.bin")), body);
    assert.equal(s.requests.length, 2);
  } finally {
    await s.close();
  }
});

test("a server that sends no response hits the connect timeout", async () => {
  await withServer(() => {/* never answers */}, async (s) => {
    const f = makeFetch({ ...direct, connectTimeoutMs: 150 });
    const t0 = performance.now();
    await assert.rejects(
      () => f(s.url + "slow.json"),
      (e: unknown) =>
        e instanceof TransportError && e.temporary && /No response within 150 ms/.test(e.message),
    );
    assert.ok(performance.now() - t0 < 2000);
  });
});

test("a body that stalls hits the read timeout while streaming", async () => {
  await withServer((_req, res) => {
    res.writeHead(200, { "content-length": "1000" });
    res.write(new Uint8Array(100));
    // ... and then nothing more.
  }, async (s) => {
    const store = new HttpsStore(s.url, {
      http: { ...direct, connectTimeoutMs: 2000, readTimeoutMs: 200 },
    });
    const body = await store.read("stall.bin");
    await assert.rejects(
      () => collect(body),
      (e: unknown) => e instanceof TransportError && /No data for 200 ms/.test(e.message),
    );
  });
});

test("a slow but steady body does not hit the read timeout", async () => {
  await withServer(async (_req, res) => {
    res.writeHead(200, { "content-length": "5" });
    for (let i = 0; i < 5; i++) {
      res.write("x");
      await new Promise((r) => setTimeout(r, 60));
    }
    res.end();
  }, async (s) => {
    const store = new HttpsStore(s.url, { http: { ...direct, readTimeoutMs: 200 } });
    assert.equal(await collectText(await store.read("drip.bin")), "xxxxx");
  });
});

test("aborting a read by the caller's signal stops it with the caller's reason", async () => {
  await withServer(() => {/* never answers */}, async (s) => {
    const store = await openStore(s.url, { http: direct, retry: fast });
    const c = new AbortController();
    setTimeout(() => c.abort(new Error("user pressed ^C")), 50);
    await assert.rejects(() => store.read("a.json", { signal: c.signal }), /user pressed \^C/);
    assert.equal(s.requests.length, 1, "an abort is not retried");
  });
});

test("an HTML page served as text/html where JSON was expected names a captive portal", async () => {
  await withServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end("<html><body>Please log in to the hotel Wi-Fi</body></html>");
  }, async (s) => {
    const store = await openStore(s.url, { http: direct, retry: fast });
    for (const call of [() => store.read("v3/layout.json"), () => store.stat("v3/layout.json")]) {
      await assert.rejects(
        call,
        (e: unknown) =>
          e instanceof TransportError && /captive portal/.test(e.message) &&
          e.message.includes(s.url + "v3/layout.json"),
      );
    }
    assert.equal(s.requests.length, 2, "not retried");
  });
});

test("an HTML body under another content type is detected by its first bytes", async () => {
  let redirected = false;
  await withServer((req, res) => {
    if (req.url !== "/portal") {
      redirected = true;
      res.writeHead(302, { location: "/portal" }).end();
      return;
    }
    res.writeHead(200, { "content-type": "application/octet-stream" });
    res.end("\n  <!DOCTYPE html>\n<html><p>Access to this site is blocked</p></html>");
  }, async (s) => {
    const store = new HttpsStore(s.url, { http: direct });
    await assert.rejects(
      () => store.read("blobs/sha256/ab/abcd"),
      (e: unknown) =>
        e instanceof TransportError && /proxy's block page/.test(e.message) &&
        /redirected to .*\/portal/.test(e.message),
    );
    assert.ok(redirected);
  });
});

test("data that merely contains '<html' later is not mistaken for a portal page", async () => {
  const body = '{"note": "<html> is fine inside JSON"}';
  await withServer((_req, res) => {
    res.writeHead(200, { "content-type": "application/json" }).end(body);
  }, async (s) => {
    const store = new HttpsStore(s.url, { http: direct });
    assert.equal(await collectText(await store.read("a.json")), body);
  });
});

test("an explicit proxy relays plain http requests", async () => {
  const proxy = await startProxy();
  try {
    await withServer((_req, res) => void res.writeHead(200).end("via proxy"), async (s) => {
      const store = new HttpsStore(s.url, { http: { proxy: proxy.url, noProxy: "" } });
      assert.equal(await collectText(await store.read("a.txt")), "via proxy");
      assert.ok(proxy.seen.some((l) => l === `GET ${s.url}a.txt`), proxy.seen.join("; "));
    });
  } finally {
    await proxy.close();
  }
});

test("credentials in the proxy URL are sent to the proxy, never in messages", async () => {
  const proxy = await startProxy();
  try {
    await withServer((_req, res) => void res.writeHead(200).end("ok"), async (s) => {
      const withCreds = proxy.url.replace("http://", "http://alice:s%40cret@");
      const store = new HttpsStore(s.url, { http: { proxy: withCreds, noProxy: "" } });
      assert.equal(await collectText(await store.read("a.txt")), "ok");
      assert.deepEqual(proxy.auth, ["Basic " + btoa("alice:s@cret")]);
    });
  } finally {
    await proxy.close();
  }
  assert.equal(redact(new URL("https://u:p@h.example/x?sig=1")), "https://h.example/x");
});

test("NO_PROXY sends matching hosts direct, past a configured proxy", async () => {
  const proxy = await startProxy();
  try {
    await withServer((_req, res) => void res.writeHead(200).end("direct"), async (s) => {
      const store = new HttpsStore(s.url, {
        http: { proxy: proxy.url, noProxy: "example.org,127.0.0.1" },
      });
      assert.equal(await collectText(await store.read("a.txt")), "direct");
      assert.deepEqual(proxy.seen, []);
      assert.equal(s.requests.length, 1);
    });
  } finally {
    await proxy.close();
  }
});

const HTTPS_URL = Deno.env.get("SPACKLE_TEST_HTTPS_URL");
const CA_FILE = Deno.env.get("SPACKLE_TEST_CA_FILE");
Deno.test({
  name: "https through a CONNECT proxy works together with a custom CA bundle",
  ignore: !HTTPS_URL || !CA_FILE,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const proxy = await startProxy();
    try {
      const store = new HttpsStore(HTTPS_URL!, {
        http: { caFile: CA_FILE, env: { HTTPS_PROXY: proxy.url } },
      });
      assert.ok((await store.stat("fixtures.json"))!.size > 0);
      const host = new URL(HTTPS_URL!).host;
      assert.ok(proxy.seen.includes(`CONNECT ${host}`), proxy.seen.join("; "));
    } finally {
      await proxy.close();
    }
  },
});

Deno.test("proxyFor() picks HTTPS_PROXY or HTTP_PROXY by scheme and honours NO_PROXY", () => {
  const env = {
    HTTPS_PROXY: "http://sec:3128",
    http_proxy: "plain:8080",
    NO_PROXY: ".internal.example, 10.0.0.0/8,localhost:9000",
  };
  assert.equal(proxyFor(new URL("https://mirror.spack.io/x"), { env }), "http://sec:3128");
  assert.equal(proxyFor(new URL("http://mirror.spack.io/x"), { env }), "http://plain:8080");
  assert.equal(proxyFor(new URL("https://cache.internal.example/x"), { env }), undefined);
  assert.equal(proxyFor(new URL("https://internal.example/x"), { env }), undefined);
  assert.equal(proxyFor(new URL("https://10.20.30.40/x"), { env }), undefined);
  assert.equal(proxyFor(new URL("https://11.0.0.1/x"), { env }), "http://sec:3128");
  assert.equal(proxyFor(new URL("http://localhost:9000/x"), { env }), undefined);
  assert.equal(proxyFor(new URL("http://localhost:9001/x"), { env }), "http://plain:8080");
  assert.equal(proxyFor(new URL("https://a.b/x"), { env, proxy: false }), undefined);
  assert.equal(proxyFor(new URL("https://a.b/x"), { env: {} }), undefined);
  assert.equal(bypassesProxy(new URL("https://anything/"), "*"), true);
  assert.equal(bypassesProxy(new URL("https://notexample.org/"), "example.org"), false);
});

Deno.test("a CA bundle that does not exist or holds no certificate is a usage error", () => {
  assert.throws(() => makeFetch({ caFile: "/nonexistent/ca.pem" }), UsageError);
  assert.throws(() => makeFetch({ caFile: "/dev/null" }), /holds no PEM certificate/);
  assert.throws(() => makeFetch({ env: { SSL_CERT_FILE: "/nonexistent/ca.pem" } }), UsageError);
});

Deno.test("withRetry() retries temporary errors only, and backoff grows and is capped", async () => {
  let calls = 0;
  const out = await withRetry(async () => {
    if (++calls < 3) throw new TransportError("reset", { temporary: true });
    return "done";
  }, fast);
  assert.equal(out, "done");
  assert.equal(calls, 3);
  calls = 0;
  await assert.rejects(
    () =>
      withRetry(async () => {
        calls++;
        throw new SpackleError("integrity", "bad digest");
      }, fast),
    /bad digest/,
  );
  assert.equal(calls, 1);
  const one = () => 0.999999;
  assert.equal(backoffDelay(1, { baseDelayMs: 100, random: one }), 100);
  assert.equal(backoffDelay(3, { baseDelayMs: 100, random: one }), 400);
  assert.equal(backoffDelay(30, { baseDelayMs: 100, maxDelayMs: 5000, random: one }), 5000);
  assert.equal(backoffDelay(3, { baseDelayMs: 100, random: () => 0 }), 0);
});

Deno.test("retryStore() keeps the backend's class and retries list() before its first item", async () => {
  let failures = 1;
  const flaky = new (class extends HttpsStore {
    async *list(prefix: string) {
      if (failures-- > 0) throw new TransportError("reset", { temporary: true });
      yield prefix + "a";
      yield prefix + "b";
    }
  })("http://127.0.0.1:9/");
  const s = retryStore(flaky, fast);
  assert.ok(s instanceof HttpsStore);
  const got = [];
  for await (const p of s.list!("x/")) got.push(p);
  assert.deepEqual(got, ["x/a", "x/b"]);
});

test("withRetry stops when another attempt would end past the total time budget, reporting each retry", async () => {
  const seen: string[] = [];
  let calls = 0;
  const t0 = performance.now();
  await assert.rejects(
    () =>
      withRetry(async () => {
        calls++;
        await new Promise((r) => setTimeout(r, 120));
        throw new TransportError("No response within 120 ms", { temporary: true });
      }, {
        retries: 10,
        baseDelayMs: 1,
        maxDelayMs: 2,
        maxElapsedMs: 400,
        onRetry: (e, _n, ms) => seen.push(retryMessage(e, ms)),
      }),
    /No response within 120 ms/,
  );
  assert.ok(calls >= 2 && calls <= 3, `calls: ${calls}`);
  assert.equal(seen.length, calls - 1);
  assert.match(seen[0], /^retrying in \d+ ms: No response within 120 ms$/);
  assert.ok(performance.now() - t0 < 600);
});
