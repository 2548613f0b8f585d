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
