import assert from "node:assert/strict";
import { encodeKey, openS3Store } from "./s3.ts";

const none = { env: {}, home: "/nonexistent" };

Deno.test("keys are percent-encoded per segment, slashes kept", () => {
  assert.deepEqual(encodeKey("a b/c+d=e@f/(x)!*'"), "a%20b/c%2Bd%3De%40f/%28x%29%21%2A%27");
});

Deno.test("URLs: virtual-hosted on AWS, path-style for dotted buckets and custom endpoints", async () => {
  const aws = await openS3Store("s3://my-bucket/mirror", { ...none, region: "eu-west-1" });
  assert.deepEqual(aws.prefix, "mirror/");
  assert.deepEqual(
    aws.httpUrl("mirror/a+b.json").href,
    "https://my-bucket.s3.eu-west-1.amazonaws.com/mirror/a%2Bb.json",
  );
  const dotted = await openS3Store("s3://my.bucket/", { ...none, region: "eu-west-1" });
  assert.deepEqual(
    dotted.httpUrl("k", { "list-type": "2", prefix: "a/b" }).href,
    "https://s3.eu-west-1.amazonaws.com/my.bucket/k?list-type=2&prefix=a%2Fb",
  );
  const custom = await openS3Store("s3://b/p/", { ...none, endpoint: "minio.example:9000" });
  assert.deepEqual(custom.httpUrl("p/x").href, "https://minio.example:9000/b/p/x");
  assert.deepEqual(
    custom.httpUrl(undefined, { uploads: "" }).href,
    "https://minio.example:9000/b/?uploads",
  );
});

Deno.test("requests carry a SigV4 Authorization, the payload hash and the session token", async () => {
  const seen: Headers[] = [];
  const fake = (async (_u: RequestInfo | URL, init?: RequestInit) => {
    seen.push(new Headers(init?.headers));
    return new Response(null, { status: 200 });
  }) as typeof fetch;
  const s = await openS3Store("s3://b/", {
    ...none,
    endpoint: "http://127.0.0.1:1",
    region: "eu-central-1",
    accessPair: { id: "AKIDEXAMPLE", secret: "s" },
    sessionToken: "TOKEN",
  }, { fetch: fake });
  await s.write("x.json", new TextEncoder().encode("hello"));
  const h = seen[0];
  assert.match(
    h.get("authorization") ?? "",
    /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-central-1\/s3\/aws4_request, SignedHeaders=[^,]*x-amz-content-sha256/,
  );
  assert.deepEqual(
    h.get("x-amz-content-sha256"),
    "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
  );
  assert.deepEqual(h.get("x-amz-security-token"), "TOKEN");
});

Deno.test("s3 URLs without a bucket or with credentials in them are refused", async () => {
  await assert.rejects(() => openS3Store("s3:///x", none), /names no bucket/);
  await assert.rejects(() => openS3Store("s3://id:secret@b/x", none), /carries credentials/);
});

Deno.test("on AWS, a bucket in another region is followed there once and signed for it", async () => {
  const seen: { url: string; auth: string }[] = [];
  const fake = (async (u: RequestInfo | URL, init?: RequestInit) => {
    const auth = new Headers(init?.headers).get("authorization") ?? "";
    seen.push({ url: String(u), auth });
    if (String(u).includes(".us-east-1.")) {
      return new Response(
        "<Error><Code>AuthorizationHeaderMalformed</Code><Message>wrong region</Message></Error>",
        { status: 400, headers: { "x-amz-bucket-region": "eu-north-1" } },
      );
    }
    return new Response("data", { status: 200, headers: { "content-length": "4" } });
  }) as typeof fetch;
  const s = await openS3Store("s3://bkt/", {
    ...none,
    accessPair: { id: "AKIDEXAMPLE", secret: "s" },
  }, { fetch: fake });
  assert.deepEqual(await new Response(await s.read("k")).text(), "data");
  assert.deepEqual(seen.map((x) => x.url), [
    "https://bkt.s3.us-east-1.amazonaws.com/k",
    "https://bkt.s3.eu-north-1.amazonaws.com/k",
  ]);
  assert.match(seen[1].auth, /\/eu-north-1\/s3\/aws4_request/);
  assert.match(s.describe(), /region eu-north-1 \(the bucket's region/);
});

Deno.test("a skewed clock and an access denial are explained, and neither is retried", async () => {
  let calls = 0;
  const answer = (code: string, status: number) =>
    (async () => {
      calls++;
      return new Response(`<Error><Code>${code}</Code><Message>m</Message></Error>`, { status });
    }) as unknown as typeof fetch;
  const creds = { ...none, endpoint: "http://127.0.0.1:1", accessPair: { id: "A", secret: "s" } };
  const skew = await openS3Store("s3://b/", creds, { fetch: answer("RequestTimeTooSkewed", 403) });
  await assert.rejects(() => skew.read("k"), /clock of this machine/);
  assert.deepEqual(calls, 1);
  calls = 0;
  const denied = await openS3Store("s3://b/", { ...none, endpoint: "http://127.0.0.1:1" }, {
    fetch: answer("AccessDenied", 403),
  });
  await assert.rejects(
    () => denied.read("k"),
    /Cannot read "s3:\/\/b\/k": HTTP 403 AccessDenied: m \(access denied; no credentials \(anonymous request\)\); set AWS_ACCESS_KEY_ID/,
  );
  assert.deepEqual(calls, 1);
});

Deno.test("5xx and SlowDown answers are retried, then reported as temporary", async () => {
  let calls = 0;
  const fake = (async () => {
    calls++;
    return new Response("<Error><Code>SlowDown</Code><Message>slow</Message></Error>", {
      status: 503,
    });
  }) as unknown as typeof fetch;
  const s = await openS3Store("s3://b/", { ...none, endpoint: "http://127.0.0.1:1" }, {
    fetch: fake,
    retry: { retries: 2, baseDelayMs: 1 },
  });
  await assert.rejects(
    () => s.stat("k"),
    (e: unknown) =>
      (e as { temporary?: boolean }).temporary === true && /SlowDown|503/.test(String(e)),
  );
  assert.deepEqual(calls, 3);
});

Deno.test("the log option receives the store's description once at open, without the secret", async () => {
  const lines: string[] = [];
  await openS3Store("s3://b/p", {
    ...none,
    endpoint: "http://127.0.0.1:1",
    accessPair: { id: "AKIDEXAMPLE", secret: "very-secret" },
    log: (l: string) => lines.push(l),
  });
  assert.deepEqual(lines.length, 1);
  assert.match(lines[0], /^s3:\/\/b\/p\/: S3: endpoint http:\/\/127\.0\.0\.1:1\/ .*access_pair/);
  assert.ok(!lines[0].includes("very-secret"));
});

Deno.test("anonymous access reads a public bucket with unsigned requests", async () => {
  const seen: Headers[] = [];
  const fake = (async (_u: RequestInfo | URL, init?: RequestInit) => {
    seen.push(new Headers(init?.headers));
    return new Response("public", { status: 200, headers: { "content-length": "6" } });
  }) as typeof fetch;
  const s = await openS3Store("s3://spack-binaries/develop", { ...none }, { fetch: fake });
  assert.deepEqual(s.settings.credentials, undefined);
  assert.deepEqual(await new Response(await s.read("build_cache/index.json")).text(), "public");
  assert.deepEqual(seen.length, 1);
  assert.deepEqual(seen[0].get("authorization"), null);
  assert.deepEqual(seen[0].get("x-amz-content-sha256"), null);
});
