import assert from "node:assert/strict";
import { UsageError } from "../../errors.ts";
import { linkNext, parseChallenge } from "./client.ts";
import {
  apiBase,
  ensureValidTag,
  isOciUrl,
  ociUrl,
  parseImageRef,
  parseOciUrl,
} from "./reference.ts";

Deno.test("parseOciUrl() applies Docker Hub's naming rules as Spack does", () => {
  assert.deepEqual(parseOciUrl("oci://ghcr.io/Org/Cache"), {
    scheme: "https",
    domain: "ghcr.io",
    name: "org/cache",
  });
  assert.deepEqual(parseOciUrl("oci://ubuntu"), {
    scheme: "https",
    domain: "index.docker.io",
    name: "library/ubuntu",
  });
  assert.deepEqual(parseOciUrl("oci://user/cache"), {
    scheme: "https",
    domain: "index.docker.io",
    name: "user/cache",
  });
  assert.deepEqual(parseOciUrl("oci+http://localhost:5000/a/b/"), {
    scheme: "http",
    domain: "localhost:5000",
    name: "a/b",
  });
  assert.deepEqual(parseOciUrl("oci://docker.io/library/x").domain, "index.docker.io");
  assert.equal(apiBase(parseOciUrl("oci://user/cache")).href, "https://registry-1.docker.io/v2/");
  assert.equal(
    apiBase(parseOciUrl("oci+http://127.0.0.1:5000/r")).href,
    "http://127.0.0.1:5000/v2/",
  );
  assert.equal(ociUrl(parseOciUrl("oci+http://127.0.0.1:5000/r")), "oci+http://127.0.0.1:5000/r");
  assert.ok(isOciUrl("oci+http://x/y") && isOciUrl("OCI://x/y") && !isOciUrl("https://x/y"));
});

Deno.test("parseOciUrl() refuses tags, digests and bad names with a clear message", () => {
  assert.throws(() => parseOciUrl("oci://ghcr.io/org/cache:latest"), /without a tag/);
  assert.throws(() => parseOciUrl("oci://ghcr.io/org/cache@sha256:00"), UsageError);
  assert.throws(() => parseOciUrl("oci://"), /no repository/);
  assert.throws(() => parseOciUrl("oci://ghcr.io/org/-bad"), /not a valid repository name/);
});

Deno.test("ensureValidTag() replaces characters and keeps 64 + 64 of long tags (Spack's rule)", () => {
  assert.equal(ensureValidTag("zlib-1.3+x-abc.spack"), "zlib-1.3_x-abc.spack");
  const long = "a".repeat(100) + "-" + "b".repeat(100);
  const t = ensureValidTag(long);
  assert.equal(t.length, 128);
  assert.equal(t, long.slice(0, 64) + long.slice(-64));
});

Deno.test("parseChallenge() reads Bearer and Basic challenges; linkNext() the next page", () => {
  assert.deepEqual(
    parseChallenge(
      'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"',
    ),
    {
      scheme: "bearer",
      params: {
        realm: "https://auth.example/token",
        service: "registry.example",
        scope: "repository:a/b:pull",
      },
    },
  );
  assert.deepEqual(parseChallenge('Basic realm="x"'), { scheme: "basic", params: { realm: "x" } });
  assert.equal(parseChallenge("Negotiate"), undefined);
  assert.equal(
    linkNext('</v2/a/tags/list?n=2&last=b>; rel="next"'),
    "/v2/a/tags/list?n=2&last=b",
  );
  assert.equal(linkNext('<https://x/a>; rel="prev", <https://x/b>; rel=next'), "https://x/b");
  assert.equal(linkNext(null), undefined);
});

Deno.test("parseImageRef() reads NAME[:TAG][@DIGEST] with Docker's defaults", () => {
  assert.deepEqual(parseImageRef("ubuntu"), {
    scheme: "https",
    domain: "index.docker.io",
    name: "library/ubuntu",
    reference: "latest",
  });
  assert.deepEqual(parseImageRef("localhost:5000/base:1.0"), {
    scheme: "https",
    domain: "localhost:5000",
    name: "base",
    reference: "1.0",
  });
  const d = "sha256:" + "a".repeat(64);
  assert.equal(parseImageRef(`ghcr.io/o/i:t@${d}`).reference, d);
  assert.equal(parseImageRef("oci+http://127.0.0.1:5000/x").scheme, "http");
  assert.throws(() => parseImageRef("ghcr.io/o/i@sha256:12"), /digest must be/);
});
