/**
 * The s3:// store against a real S3 server (Swift with s3api, started by
 * scripts/services/s3.sh): the shared behaviour suite, multipart uploads and their abort,
 * pagination, retries, error messages and credential sources. Ignored when
 * SPACKLE_TEST_S3_ENDPOINT is unset.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { collect, collectText } from "../src/core/streams.ts";
import { NotFoundError, TransportError } from "../src/errors.ts";
import { openS3Store, type S3Options, type S3Store } from "../src/storage/s3.ts";
import { openStore } from "../src/storage/open.ts";
import { isWritable } from "../src/storage/store.ts";
import { bytesOf, runStoreBehaviour } from "./storage_behaviour.ts";
import { startProxy } from "./_http_server.ts";
import { HAVE_BUN, runBunCheck } from "./_bun.ts";

const ENDPOINT = Deno.env.get("SPACKLE_TEST_S3_ENDPOINT");
const ACCESS = Deno.env.get("SPACKLE_TEST_S3_ACCESS_KEY") ?? "test:tester";
const SECRET = Deno.env.get("SPACKLE_TEST_S3_SECRET_KEY") ?? "testing";
const REGION = Deno.env.get("SPACKLE_TEST_S3_REGION") ?? "us-east-1";
const ignore = !ENDPOINT;

/** Options reaching the test server with the test credentials, and no other environment. */
function base(extra: S3Options = {}): S3Options {
  return {
    endpoint: ENDPOINT,
    region: REGION,
    accessPair: { id: ACCESS, secret: SECRET },
    env: {},
    home: "/nonexistent",
    ...extra,
  };
}

let counter = 0;
function bucketName(): string {
  return `spackle-${Date.now().toString(36)}-${(counter++).toString(36)}-${
    Math.floor(Math.random() * 1e6).toString(36)
  }`;
}

/** Deletes every object and the bucket. */
async function dropBucket(bucket: string): Promise<void> {
  const s = await openS3Store(`s3://${bucket}/`, base());
  try {
    for await (const k of s.list("")) await s.delete(k);
    await s.deleteBucket();
  } catch (e) {
    if (!(e instanceof NotFoundError)) throw e;
  }
}

/** A fresh bucket and a store on `s3://bucket/prefix/`. */
async function fresh(
  opts: S3Options = {},
  prefix = "mirror/",
  net: { fetch?: typeof fetch; retry?: { retries?: number; baseDelayMs?: number } } = {},
): Promise<{ store: S3Store; bucket: string; cleanup: () => Promise<void> }> {
  const bucket = bucketName();
  const store = await openS3Store(`s3://${bucket}/${prefix}`, base(opts), net);
  await store.createBucket();
  return { store, bucket, cleanup: () => dropBucket(bucket) };
}

/** A fetch that records each request (method, URL) and may replace answers. */
function recordingFetch(
  intercept?: (req: { method: string; url: URL; n: number }) => Response | undefined,
) {
  const calls: {
    method: string;
    url: URL;
    auth: string | null;
    copySource: string | null;
    copyRange: string | null;
  }[] = [];
  let inflight = 0, maxInflight = 0;
  const f = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const method = init?.method ?? "GET";
    const headers = new Headers(init?.headers);
    calls.push({
      method,
      url,
      auth: headers.get("authorization"),
      copySource: headers.get("x-amz-copy-source"),
      copyRange: headers.get("x-amz-copy-source-range"),
    });
    const fake = intercept?.({ method, url, n: calls.length });
    if (fake) return fake;
    inflight++;
    maxInflight = Math.max(maxInflight, inflight);
    try {
      return await fetch(input, init);
    } finally {
      inflight--;
    }
  };
  return { fetch: f as typeof fetch, calls, maxInflight: () => maxInflight };
}

const te = (s: string) => new TextEncoder().encode(s);

function t(name: string, fn: () => Promise<void>) {
  Deno.test({ name, ignore, sanitizeOps: false, sanitizeResources: false, fn });
}

runStoreBehaviour(
  "s3",
  async () => {
    const { store, cleanup } = await fresh();
    return {
      store,
      seed: (path, bytes) => store.write(path, bytes),
      cleanup,
    };
  },
  { write: true, list: true, copy: true },
  { ignore },
);

t("s3: object keys live under the URL's path, without a leading slash", async () => {
  const { store, bucket, cleanup } = await fresh({}, "deep/er/");
  try {
    await store.write("v3/x.json", te("x"));
    const root = await openS3Store(`s3://${bucket}`, base());
    const keys = [];
    for await (const k of root.list("")) keys.push(k);
    assert.deepEqual(keys, ["deep/er/v3/x.json"]);
    assert.deepEqual(store.url.href, `s3://${bucket}/deep/er/`);
  } finally {
    await cleanup();
  }
});

t("s3: a body above the threshold goes up as a multipart upload with parallel parts", async () => {
  const rec = recordingFetch();
  const { store, cleanup } = await fresh(
    { multipartThreshold: 1024 * 1024, partSize: 1024 * 1024, concurrency: 3 },
    "mirror/",
    { fetch: rec.fetch },
  );
  try {
    const big = bytesOf(5 * 1024 * 1024 + 12345, 11);
    // A stream without a declared size: the store finds out it is large while reading.
    let off = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        if (off >= big.byteLength) return c.close();
        c.enqueue(big.slice(off, off + 100_000));
        off += 100_000;
      },
    });
    await store.write("blobs/big.bin", body);
    const parts = rec.calls.filter((c) =>
      c.method === "PUT" && c.url.searchParams.has("partNumber")
    );
    assert.deepEqual(parts.length, 6);
    assert.ok(rec.calls.some((c) => c.method === "POST" && c.url.searchParams.has("uploads")));
    assert.ok(rec.maxInflight() > 1, "parts were uploaded one at a time");
    assert.ok(rec.maxInflight() <= 3, `${rec.maxInflight()} requests at once`);
    assert.deepEqual((await store.stat("blobs/big.bin"))?.size, big.byteLength);
    const got = await collect(await store.read("blobs/big.bin"));
    assert.deepEqual(got.byteLength, big.byteLength);
    assert.ok(got.every((b, i) => b === big[i]), "bytes differ");
    // A byte array above the threshold too.
    await store.write("blobs/big2.bin", big.subarray(0, 2 * 1024 * 1024 + 1));
    assert.deepEqual((await store.stat("blobs/big2.bin"))?.size, 2 * 1024 * 1024 + 1);
  } finally {
    await cleanup();
  }
});

t("s3: a failing part aborts the multipart upload and leaves no object", async () => {
  const rec = recordingFetch(({ method, url }) =>
    method === "PUT" && url.searchParams.get("partNumber") === "3"
      ? new Response("<Error><Code>InvalidPart</Code><Message>test</Message></Error>", {
        status: 400,
      })
      : undefined
  );
  const { store, cleanup } = await fresh(
    { multipartThreshold: 1024 * 1024, partSize: 1024 * 1024, concurrency: 2 },
    "mirror/",
    { fetch: rec.fetch },
  );
  try {
    await assert.rejects(
      () => store.write("blobs/fail.bin", bytesOf(4 * 1024 * 1024 + 5, 2)),
      (e: unknown) =>
        e instanceof TransportError && /part 3/.test(e.message) && /InvalidPart/.test(e.message),
    );
    const aborts = rec.calls.filter((c) =>
      c.method === "DELETE" && c.url.searchParams.has("uploadId")
    );
    assert.deepEqual(aborts.length, 1);
    assert.deepEqual(await store.stat("blobs/fail.bin"), undefined);
    // The server holds no unfinished upload any more.
    const res = await (store as any).send("GET", undefined, { uploads: "" }, {
      op: "list uploads of",
    });
    const xml = await res.text();
    assert.ok(!xml.includes("<Upload>"), xml);
  } finally {
    await cleanup();
  }
});

t("s3: list() follows continuation tokens over pages smaller than the listing", async () => {
  const rec = recordingFetch();
  const { store, cleanup } = await fresh({ maxKeys: 3 }, "mirror/", { fetch: rec.fetch });
  try {
    const names = Array.from({ length: 10 }, (_, i) => `p/k${String(i).padStart(2, "0")}.json`);
    for (const n of names) await store.write(n, te(n));
    await store.write("q/other.json", te("q"));
    rec.calls.length = 0;
    const got = [];
    for await (const k of store.list("p/")) got.push(k);
    assert.deepEqual(got.sort(), names);
    const lists = rec.calls.filter((c) => c.url.searchParams.get("list-type") === "2");
    assert.deepEqual(lists.length, 4);
    assert.ok(lists.slice(1).every((c) => c.url.searchParams.has("continuation-token")));
  } finally {
    await cleanup();
  }
});

t("s3: a temporary failure (503 SlowDown) is retried", async () => {
  let failed = 0;
  const rec = recordingFetch(({ method, url }) => {
    if (method === "PUT" && url.pathname.endsWith("/retry.json") && failed < 2) {
      failed++;
      return new Response(
        "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>",
        { status: 503 },
      );
    }
    return undefined;
  });
  const { store, cleanup } = await fresh({}, "mirror/", {
    fetch: rec.fetch,
    retry: { baseDelayMs: 1 },
  });
  try {
    await store.write("retry.json", te("after retries"));
    assert.deepEqual(failed, 2);
    assert.deepEqual(await collectText(await store.read("retry.json")), "after retries");
  } finally {
    await cleanup();
  }
});

t("s3: writeUnlessSameSize() skips an object of the same size", async () => {
  const rec = recordingFetch();
  const { store, cleanup } = await fresh({}, "mirror/", { fetch: rec.fetch });
  try {
    assert.deepEqual(await store.writeUnlessSameSize("b/x.bin", te("12345")), true);
    const puts = () => rec.calls.filter((c) => c.method === "PUT").length;
    const before = puts();
    assert.deepEqual(await store.writeUnlessSameSize("b/x.bin", te("abcde")), false);
    assert.deepEqual(puts(), before);
    assert.deepEqual(await store.writeUnlessSameSize("b/x.bin", te("longer")), true);
    assert.deepEqual(await collectText(await store.read("b/x.bin")), "longer");
  } finally {
    await cleanup();
  }
});

t(
  "s3: a wrong secret fails with 'wrong credentials', naming bucket, key and source, not the secret",
  async () => {
    const { store, bucket, cleanup } = await fresh();
    try {
      await store.write("a.json", te("{}"));
      const bad = await openS3Store(`s3://${bucket}/mirror/`, {
        ...base(),
        accessPair: undefined,
        env: { AWS_ACCESS_KEY_ID: ACCESS, AWS_SECRET_ACCESS_KEY: "not-the-secret" },
      });
      for (const call of [() => bad.read("a.json"), () => bad.stat("a.json")]) {
        await assert.rejects(call, (e: unknown) => {
          assert.ok(e instanceof TransportError, String(e));
          assert.match(e.message, /wrong credentials/);
          assert.match(e.message, /SignatureDoesNotMatch/);
          assert.ok(e.message.includes(`s3://${bucket}/mirror/a.json`), e.message);
          assert.match(e.message, /environment \(AWS_ACCESS_KEY_ID/);
          assert.ok(!e.message.includes("not-the-secret"));
          assert.deepEqual(e.temporary, false);
          return true;
        });
      }
      await assert.rejects(() => bad.write("b.json", te("x")), /wrong credentials/);
    } finally {
      await cleanup();
    }
  },
);

t(
  "s3: a missing bucket is a NotFoundError naming the bucket, also for stat() and list()",
  async () => {
    const bucket = bucketName();
    const s = await openS3Store(`s3://${bucket}/m/`, base());
    for (
      const call of [
        () => s.read("x.json"),
        () => s.stat("x.json"),
        async () => {
          for await (const _ of s.list("")) break;
        },
      ]
    ) {
      await assert.rejects(call, (e: unknown) => {
        assert.ok(e instanceof NotFoundError, String(e));
        assert.ok(e.message.includes(`the bucket "${bucket}" does not exist`), e.message);
        return true;
      });
    }
  },
);

t(
  "s3: anonymous requests are unsigned and their failure says no credentials were used",
  async () => {
    const { bucket, cleanup } = await fresh();
    try {
      const rec = recordingFetch();
      const anon = await openS3Store(`s3://${bucket}/mirror/`, {
        endpoint: ENDPOINT,
        env: {},
        home: "/nonexistent",
      }, { fetch: rec.fetch });
      assert.deepEqual(anon.settings.credentials, undefined);
      assert.match(anon.describe(), /anonymous \(no credentials found\)/);
      // Swift's s3api has no public buckets: the request is refused, and the message says why.
      await assert.rejects(() => anon.read("x.json"), /anonymous/);
      assert.ok(rec.calls.length > 0 && rec.calls.every((c) => c.auth === null));
    } finally {
      await cleanup();
    }
  },
);

t("s3: credentials from a profile in a shared credentials file sign valid requests", async () => {
  const dir = mkdtempSync(join(tmpdir(), "spackle-s3-"));
  const { bucket, cleanup } = await fresh();
  try {
    writeFileSync(
      join(dir, "creds"),
      `[default]\naws_access_key_id = nobody\naws_secret_access_key = wrong\n\n[ci]\naws_access_key_id = ${ACCESS}\naws_secret_access_key = ${SECRET}\n`,
    );
    const s = await openS3Store(`s3://${bucket}/mirror/`, {
      endpoint: ENDPOINT,
      env: { AWS_PROFILE: "ci", AWS_SHARED_CREDENTIALS_FILE: join(dir, "creds") },
      home: dir,
    });
    await s.write("p.json", te("via profile"));
    assert.deepEqual(await collectText(await s.read("p.json")), "via profile");
    assert.match(s.describe(), /profile "ci"/);
    assert.ok(!s.describe().includes(SECRET));
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await cleanup();
  }
});

t("s3: openStore() opens s3:// URLs with mirror settings in Spack's spelling", async () => {
  const { bucket, cleanup } = await fresh();
  try {
    const s = await openStore(`s3://${bucket}/spack`, {
      writable: true,
      s3: {
        endpoint_url: ENDPOINT,
        region: REGION,
        access_pair: { id_variable: "TEST_ID", secret_variable: "TEST_SECRET" },
        env: { TEST_ID: ACCESS, TEST_SECRET: SECRET },
        home: "/nonexistent",
      },
    });
    assert.ok(isWritable(s));
    await s.write("v3/layout.json", te('{"signing": "gpg"}'));
    assert.deepEqual(await collectText(await s.read("v3/layout.json")), '{"signing": "gpg"}');
    assert.match((s as S3Store).describe(), /access_pair \(variables TEST_ID, TEST_SECRET\)/);
  } finally {
    await cleanup();
  }
});

Deno.test({
  name: "s3: under Bun, signing, multipart upload, listing and the wrong-secret error work",
  ignore: ignore || !HAVE_BUN,
  async fn() {
    const r = await runBunCheck("_bun_s3_check.ts");
    assert.equal(r.runtime, "bun");
    assert.equal(r.same, true);
    assert.deepEqual(r.keys, ["big.bin", "small+x.json"]);
    assert.match(r.wrong, /wrong credentials.*SignatureDoesNotMatch/);
  },
});

/** A response whose body breaks (like a reset connection) after `cut` bytes. */
async function cutShort(res: Response, cut: number): Promise<Response> {
  const reader = res.body!.getReader();
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    async pull(c) {
      if (sent >= cut) {
        await reader.cancel();
        return c.error(new TypeError("connection reset by peer"));
      }
      const { value, done } = await reader.read();
      if (done) return c.close();
      const part = value.subarray(0, Math.min(value.byteLength, cut - sent));
      sent += part.byteLength;
      c.enqueue(part);
    },
  });
  return new Response(body, { status: res.status, headers: res.headers });
}

t(
  "s3: a read cut short by the network resumes with a Range request guarded by the ETag",
  async () => {
    const ranges: (string | null)[] = [];
    const { store, cleanup } = await fresh({}, "mirror/", {
      fetch: (async (input: RequestInfo | URL, init?: RequestInit) => {
        const res = await fetch(input, init);
        const url = new URL(String(input));
        if ((init?.method ?? "GET") !== "GET" || !url.pathname.endsWith("/cut.bin")) return res;
        const range = new Headers(init?.headers).get("range");
        ranges.push(range);
        return ranges.length <= 2 ? cutShort(res, 700_000) : res;
      }) as typeof fetch,
    });
    try {
      const big = bytesOf(2_000_000, 5);
      await store.write("cut.bin", big);
      const got = await collect(await store.read("cut.bin"));
      assert.deepEqual(got.byteLength, big.byteLength);
      assert.ok(got.every((b, i) => b === big[i]), "bytes differ");
      assert.deepEqual(ranges, [null, "bytes=700000-", "bytes=1400000-"]);
      // With resuming off, the break surfaces as a temporary transport error.
      ranges.length = 0;
      const once = await openS3Store(store.url, base({ maxResumes: 0 }), {
        fetch: (async (input: RequestInfo | URL, init?: RequestInit) =>
          cutShort(await fetch(input, init), 1000)) as typeof fetch,
      });
      await assert.rejects(
        async () => await collect(await once.read("cut.bin")),
        (e: unknown) => e instanceof TransportError && e.temporary && /reset/.test(e.message),
      );
    } finally {
      await cleanup();
    }
  },
);

t("s3: requests go through an HTTP proxy with their signatures intact", async () => {
  const proxy = await startProxy();
  const bucket = bucketName();
  try {
    const s = await openS3Store(`s3://${bucket}/m/`, base(), {
      http: { proxy: proxy.url, noProxy: "" },
    });
    await s.createBucket();
    await s.write("via/proxy.json", te("proxied"));
    assert.deepEqual(await collectText(await s.read("via/proxy.json")), "proxied");
    const keys = [];
    for await (const k of s.list("")) keys.push(k);
    assert.deepEqual(keys, ["via/proxy.json"]);
    const host = new URL(ENDPOINT!).host;
    assert.ok(
      proxy.seen.some((l) => l === `PUT http://${host}/${bucket}/m/via/proxy.json`),
      proxy.seen.join("; "),
    );
    assert.ok(proxy.seen.some((l) => l.startsWith(`GET http://${host}/${bucket}/?list-type=2`)));
  } finally {
    await proxy.close();
    await dropBucket(bucket);
  }
});

t("s3: a body stream that fails during a multipart upload aborts it", async () => {
  const rec = recordingFetch();
  const { store, cleanup } = await fresh(
    { multipartThreshold: 1024 * 1024, partSize: 1024 * 1024, concurrency: 2 },
    "mirror/",
    { fetch: rec.fetch },
  );
  try {
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent >= 3 * 1024 * 1024) return c.error(new Error("disk read failed"));
        c.enqueue(bytesOf(256 * 1024, sent + 1));
        sent += 256 * 1024;
      },
    });
    await assert.rejects(() => store.write("blobs/broken.bin", body), /disk read failed/);
    assert.ok(rec.calls.some((c) => c.method === "POST" && c.url.searchParams.has("uploads")));
    const aborts = rec.calls.filter((c) =>
      c.method === "DELETE" && c.url.searchParams.has("uploadId")
    );
    assert.deepEqual(aborts.length, 1);
    assert.deepEqual(await store.stat("blobs/broken.bin"), undefined);
    const res = await (store as any).send("GET", undefined, { uploads: "" }, {
      op: "list uploads of",
    });
    assert.ok(!(await res.text()).includes("<Upload>"));
  } finally {
    await cleanup();
  }
});

const CA_FILE = Deno.env.get("SPACKLE_TEST_CA_FILE");

/** An https endpoint (the nginx test CA's server certificate) relaying to the S3 server. */
async function tlsFront(): Promise<{ url: string; close: () => Promise<void> }> {
  const dir = dirname(CA_FILE!);
  const target = new URL(ENDPOINT!);
  const server = createHttpsServer({
    cert: readFileSync(join(dir, "server.crt")),
    key: readFileSync(join(dir, "server.key")),
  }, (req, res) => {
    const up = httpRequest({
      host: target.hostname,
      port: target.port,
      method: req.method,
      path: req.url,
      headers: req.headers,
    }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      ur.pipe(res);
    });
    up.on("error", () => res.writeHead(502).end());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `https://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

Deno.test({
  name:
    "s3: an https endpoint with a private CA works with the CA bundle and fails clearly without",
  ignore: ignore || !CA_FILE,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const front = await tlsFront();
    const bucket = bucketName();
    try {
      const s = await openS3Store(`s3://${bucket}/m/`, base({ endpoint: front.url }), {
        http: { caFile: CA_FILE },
      });
      await s.createBucket();
      await s.write("tls.json", te("over tls"));
      assert.deepEqual(await collectText(await s.read("tls.json")), "over tls");
      let calls = 0;
      const plain = await openS3Store(`s3://${bucket}/m/`, base({ endpoint: front.url }), {
        http: { env: {} },
        retry: { baseDelayMs: 1, onRetry: () => calls++ },
      });
      await assert.rejects(
        () => plain.read("tls.json"),
        (e: unknown) =>
          e instanceof TransportError && !e.temporary && /SSL_CERT_FILE/.test(e.message),
      );
      assert.deepEqual(calls, 0, "a certificate error is not retried");
    } finally {
      await dropBucket(bucket).catch(() => {});
      await front.close();
    }
  },
});

t("s3: copyFrom() copies between buckets of one endpoint on the server", async () => {
  const a = await fresh({}, "src/");
  const rec = recordingFetch();
  const b = await fresh({}, "dst/", { fetch: rec.fetch });
  try {
    const data = bytesOf(300_000, 5);
    await a.store.write("blobs/x.bin", data);
    rec.calls.splice(0); // the bucket's creation
    assert.ok(b.store.canCopyFrom(a.store));
    assert.ok(b.store.canCopyFrom(b.store));
    await b.store.copyFrom(a.store, "blobs/x.bin", "blobs/y.bin", { size: data.byteLength });
    // One request, a CopyObject naming the source bucket and key; no bytes went up.
    assert.deepEqual(rec.calls.map((c) => [c.method, c.copySource]), [
      ["PUT", `/${a.bucket}/src/blobs/x.bin`],
    ]);
    assert.deepEqual(await collect(await b.store.read("blobs/y.bin")), data);
    // Without a size the source is asked for it first.
    await b.store.copyFrom(a.store, "blobs/x.bin", "blobs/z.bin");
    assert.equal((await b.store.stat("blobs/z.bin"))?.size, data.byteLength);
    // An absent source is a NotFoundError naming it.
    await assert.rejects(
      () => b.store.copyFrom(a.store, "blobs/absent.bin", "blobs/w.bin", { size: 1 }),
      (e: Error) =>
        e instanceof NotFoundError && e.message.includes(`${a.bucket}/src/blobs/absent`),
    );
  } finally {
    await a.cleanup();
    await b.cleanup();
  }
});

t("s3: copyFrom() with ifMatch refuses a source that changed since its stat", async () => {
  const { store, cleanup } = await fresh();
  try {
    await store.write("a.bin", te("first"));
    const st = await store.stat("a.bin");
    assert.ok(st?.etag);
    await store.write("a.bin", te("other"));
    await assert.rejects(
      () => store.copyFrom(store, "a.bin", "b.bin", { size: 5, ifMatch: st!.etag }),
      (e: Error) => e instanceof TransportError && /changed since it was checked/.test(e.message),
    );
    assert.equal(await store.stat("b.bin"), undefined);
    await assert.rejects(
      () => store.read("a.bin", { ifMatch: st!.etag }),
      /changed since it was checked/,
    );
    const now = await store.stat("a.bin");
    await store.copyFrom(store, "a.bin", "b.bin", { ifMatch: now!.etag });
    assert.equal(await collectText(await store.read("b.bin", { ifMatch: now!.etag })), "other");
  } finally {
    await cleanup();
  }
});

t("s3: copyFrom() above copyThreshold copies in UploadPartCopy ranges", async () => {
  const a = await fresh({}, "src/");
  const rec = recordingFetch();
  const b = await fresh({ copyThreshold: 1024 * 1024, copyPartSize: 1024 * 1024 }, "dst/", {
    fetch: rec.fetch,
  });
  try {
    const data = bytesOf(3 * 1024 * 1024 + 777, 9);
    await a.store.write("big.bin", data);
    const etag = (await a.store.stat("big.bin"))!.etag;
    rec.calls.splice(0); // the bucket's creation
    await b.store.copyFrom(a.store, "big.bin", "big.bin", { size: data.byteLength, ifMatch: etag });
    const parts = rec.calls.filter((c) => c.url.searchParams.has("partNumber"));
    assert.deepEqual(parts.map((c) => c.copyRange).sort(), [
      "bytes=0-1048575",
      "bytes=1048576-2097151",
      "bytes=2097152-3145727",
      `bytes=3145728-${data.byteLength - 1}`,
    ]);
    assert.ok(parts.every((c) => c.copySource === `/${a.bucket}/src/big.bin`));
    assert.ok(!rec.calls.some((c) => c.method === "PUT" && !c.copySource));
    const got = await collect(await b.store.read("big.bin"));
    assert.equal(got.byteLength, data.byteLength);
    assert.ok(got.every((x, i) => x === data[i]), "bytes differ");
    // A failing part aborts the upload: no object, no upload left.
    const bad = await fresh({ copyThreshold: 1024 * 1024, copyPartSize: 1024 * 1024 }, "d2/", {
      fetch: recordingFetch(({ url }) =>
        url.searchParams.get("partNumber") === "2"
          ? new Response("<Error><Code>InvalidRequest</Code><Message>test</Message></Error>", {
            status: 400,
          })
          : undefined
      ).fetch,
    });
    try {
      await assert.rejects(
        () => bad.store.copyFrom(a.store, "big.bin", "big.bin", { size: data.byteLength }),
        /copy part 2 to/,
      );
      assert.equal(await bad.store.stat("big.bin"), undefined);
    } finally {
      await bad.cleanup();
    }
  } finally {
    await a.cleanup();
    await b.cleanup();
  }
});

t("s3: canCopyFrom() wants the same endpoint and credentials", async () => {
  const a = await openS3Store("s3://one/", base());
  const other = await openS3Store(
    "s3://two/",
    base({ accessPair: { id: ACCESS, secret: SECRET + "x" } }),
  );
  const elsewhere = await openS3Store("s3://two/", base({ endpoint: "http://127.0.0.1:9/" }));
  const anonymous = await openS3Store("s3://two/", { ...base(), accessPair: undefined });
  assert.ok(a.canCopyFrom(await openS3Store("s3://two/p/", base())));
  assert.ok(!a.canCopyFrom(other));
  assert.ok(!a.canCopyFrom(elsewhere));
  assert.ok(!a.canCopyFrom(anonymous));
  assert.ok(!a.canCopyFrom(await openStore("memory:x")));
  await assert.rejects(() => a.copyFrom(other, "x", "y", { size: 1 }), /not the same endpoint/);
});

t("s3: listStat() lists objects with their sizes and ETags; read() reports the ETag", async () => {
  const { store, cleanup } = await fresh({ maxKeys: 2 });
  try {
    await store.write("d/a.bin", te("aaa"));
    await store.write("d/b.bin", te("bbbbb"));
    await store.write("d/c.bin", te(""));
    const got = [];
    for await (const o of store.listStat("d/")) got.push(o);
    got.sort((x, y) => x.path.localeCompare(y.path));
    assert.deepEqual(got.map((o) => [o.path, o.size]), [["d/a.bin", 3], ["d/b.bin", 5], [
      "d/c.bin",
      0,
    ]]);
    for (const o of got) assert.equal(o.etag, (await store.stat(o.path))!.etag);
    let etag: string | undefined;
    await collect(await store.read("d/b.bin", { onEtag: (e) => etag = e }));
    assert.equal(etag, got[1].etag);
  } finally {
    await cleanup();
  }
});
