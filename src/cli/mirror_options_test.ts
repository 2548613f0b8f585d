import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  cliStoreOptions,
  mirrorSources,
  resolveMirrorArg,
  setMirrorNameResolver,
} from "./mirror_options.ts";
import { UsageError } from "../errors.ts";
import { trustedVerifier } from "../mirror/trust_policy.ts";

Deno.test("mirrorSources keeps paths and URLs and asks the resolver for names", async () => {
  try {
    setMirrorNameResolver({
      resolve: (n) =>
        n === "site"
          ? {
            url: "https://cache.example.org/spack",
            view: "dev",
            push: { url: "s3://bucket/spack", s3: { profile: "writer" } },
          }
          : undefined,
      defaults: () => ["site"],
    });
    const site = {
      source: "https://cache.example.org/spack",
      name: "site",
      view: "dev",
      s3: undefined,
    };
    assert.deepEqual(await mirrorSources({ mirror: ["./m", "s3://b/p", "site"] }), [
      { source: "./m" },
      { source: "s3://b/p" },
      site,
    ]);
    assert.deepEqual(await mirrorSources({}), [site]);
    // Writing commands take the push side, with its own connection settings.
    assert.deepEqual(await resolveMirrorArg("site", "push"), {
      source: "s3://bucket/spack",
      name: "site",
      s3: { profile: "writer" },
    });
    assert.deepEqual(await resolveMirrorArg("./m", "push"), { source: "./m" });
    await assert.rejects(
      mirrorSources({ mirror: ["nosuch"] }),
      (e: unknown) =>
        e instanceof UsageError && /no configured mirror has that name/.test(e.message),
    );
  } finally {
    setMirrorNameResolver(undefined);
  }
  await assert.rejects(mirrorSources({}), /No mirror was given/);
  await assert.rejects(mirrorSources({ mirror: ["nosuch"] }), /Unknown mirror "nosuch"/);
});

Deno.test("trustedVerifier is undefined without keys and refuses unreadable key files", async () => {
  const dir = await mkdtemp(join(tmpdir(), "spackle-keyring-"));
  try {
    assert.equal(trustedVerifier({ keyring: dir }), undefined);
    assert.throws(
      () => trustedVerifier({ keyring: dir, key: [join(dir, "missing.asc")] }),
      UsageError,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

Deno.test("a bare word names a configured mirror before a directory of that name, else the directory", async () => {
  const dir = await mkdtemp(join(tmpdir(), "spackle-names-"));
  const cwd = Deno.cwd();
  try {
    Deno.chdir(dir);
    await Deno.mkdir(join(dir, "site"));
    await Deno.mkdir(join(dir, "local"));
    setMirrorNameResolver({
      resolve: (n) => n === "site" ? { url: "https://cache.example.org/spack" } : undefined,
    });
    assert.deepEqual(await mirrorSources({ mirror: ["site", "local", "./site"] }), [
      { source: "https://cache.example.org/spack", name: "site", view: undefined, s3: undefined },
      { source: "local" },
      { source: "./site" },
    ]);
  } finally {
    setMirrorNameResolver(undefined);
    Deno.chdir(cwd);
    await rm(dir, { recursive: true });
  }
});

Deno.test("cliStoreOptions: --s3-* flags win over a configured mirror's settings, and say so", () => {
  const conf = {
    endpoint_url: "https://conf.example.org",
    region: "eu-1",
    access_pair: { id: "AK", secret: "SK" },
  };
  const lines: string[] = [];
  const o = cliStoreOptions(
    { s3EndpointUrl: "https://flag.example.org", s3Profile: "p", connectTimeout: 1.5 },
    { s3: conf, name: "site", out: { debug: (l) => lines.push(l) } },
  );
  const s3 = o.s3 as Record<string, unknown>;
  assert.equal(s3.endpoint_url, "https://flag.example.org");
  assert.equal(s3.region, "eu-1");
  assert.equal(s3.profile, "p");
  assert.equal(s3.access_pair, undefined, "a profile flag replaces the configured access pair");
  assert.deepEqual(s3.origin, {
    endpoint: "--s3-endpoint-url",
    region: 'the configuration of mirror "site"',
    profile: "--s3-profile",
    accessPair: 'mirror "site"',
  });
  assert.equal(o.http?.connectTimeoutMs, 1500);
  assert.equal(o.http?.readTimeoutMs, undefined);
  (s3.log as (l: string) => void)("S3: x");
  assert.deepEqual(lines, ["s3: S3: x"]);
  assert.equal(conf.endpoint_url, "https://conf.example.org", "the configuration is not changed");
});
