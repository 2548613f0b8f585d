import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UsageError } from "../errors.ts";
import { maskKeyId, parseIni, resolveS3Settings, s3OptionsFrom } from "./s3_credentials.ts";

/** A temporary home with `.aws/credentials` and `.aws/config`. */
function home(credentials?: string, config?: string): { dir: string; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "spackle-aws-"));
  mkdirSync(join(dir, ".aws"));
  if (credentials !== undefined) writeFileSync(join(dir, ".aws", "credentials"), credentials);
  if (config !== undefined) writeFileSync(join(dir, ".aws", "config"), config);
  return { dir, done: () => rmSync(dir, { recursive: true, force: true }) };
}

const CREDS = `# comment
[default]
aws_access_key_id = AKIADEFAULT0001
aws_secret_access_key = default-secret

[dev]
aws_access_key_id=AKIADEV00000002
aws_secret_access_key=dev-secret
aws_session_token = dev-token
`;
const CONFIG = `[default]
region = eu-west-3

[profile dev]
region = us-west-2
s3 =
  endpoint_url = https://minio.example.org:9000

[profile regiononly]
region = ap-south-1
`;

Deno.test("explicit access_pair wins over environment and files", () => {
  const h = home(CREDS, CONFIG);
  try {
    const s = resolveS3Settings({
      accessPair: { id: "AKIAOPTION000003", secret: "opt-secret" },
      env: { AWS_ACCESS_KEY_ID: "AKIAENV", AWS_SECRET_ACCESS_KEY: "env-secret" },
      home: h.dir,
    });
    assert.deepEqual(s.credentials?.accessKeyId, "AKIAOPTION000003");
    assert.deepEqual(s.credentialSource, "access_pair");
  } finally {
    h.done();
  }
});

Deno.test("access_pair _variable forms read the named variables; an unset one is a UsageError", () => {
  const s = resolveS3Settings({
    accessPair: { id_variable: "MY_ID", secret_variable: "MY_SECRET" },
    env: { MY_ID: "AKIAVARIABLE0004", MY_SECRET: "var-secret" },
    home: "/nonexistent",
  });
  assert.deepEqual(s.credentials, {
    accessKeyId: "AKIAVARIABLE0004",
    secretAccessKey: "var-secret",
    sessionToken: undefined,
  });
  assert.match(s.credentialSource, /MY_ID, MY_SECRET/);
  assert.throws(
    () =>
      resolveS3Settings({
        accessPair: { id_variable: "MY_ID", secret_variable: "UNSET_SECRET" },
        env: { MY_ID: "x" },
        home: "/nonexistent",
      }),
    (e: unknown) => e instanceof UsageError && e.message.includes('"UNSET_SECRET"'),
  );
});

Deno.test("the environment wins over the shared files, with its session token", () => {
  const h = home(CREDS, CONFIG);
  try {
    const s = resolveS3Settings({
      env: {
        AWS_ACCESS_KEY_ID: "AKIAENV000000005",
        AWS_SECRET_ACCESS_KEY: "env-secret",
        AWS_SESSION_TOKEN: "tok",
      },
      home: h.dir,
    });
    assert.deepEqual(s.credentials?.accessKeyId, "AKIAENV000000005");
    assert.deepEqual(s.credentials?.sessionToken, "tok");
    assert.match(s.credentialSource, /^environment/);
    // Region still comes from the default profile of the config file.
    assert.deepEqual(s.region, "eu-west-3");
  } finally {
    h.done();
  }
});

Deno.test("an explicit profile option wins over the environment", () => {
  const h = home(CREDS, CONFIG);
  try {
    const s = resolveS3Settings({
      profile: "dev",
      env: { AWS_ACCESS_KEY_ID: "AKIAENV", AWS_SECRET_ACCESS_KEY: "env-secret" },
      home: h.dir,
    });
    assert.deepEqual(s.credentials?.accessKeyId, "AKIADEV00000002");
    assert.deepEqual(s.credentials?.sessionToken, "dev-token");
    assert.deepEqual(s.region, "us-west-2");
    assert.deepEqual(s.endpoint?.href, "https://minio.example.org:9000/");
    assert.deepEqual(s.pathStyle, true);
  } finally {
    h.done();
  }
});

Deno.test("AWS_PROFILE and the default profile come from ~/.aws files", () => {
  const h = home(CREDS, CONFIG);
  try {
    const dflt = resolveS3Settings({ env: {}, home: h.dir });
    assert.deepEqual(dflt.credentials?.accessKeyId, "AKIADEFAULT0001");
    assert.match(dflt.credentialSource, /profile "default" in ".*credentials"/);
    const dev = resolveS3Settings({ env: { AWS_PROFILE: "dev" }, home: h.dir });
    assert.deepEqual(dev.credentials?.accessKeyId, "AKIADEV00000002");
    assert.throws(
      () => resolveS3Settings({ env: { AWS_PROFILE: "absent" }, home: h.dir }),
      (e: unknown) => e instanceof UsageError && /"absent" \(from AWS_PROFILE\)/.test(e.message),
    );
    assert.throws(
      () => resolveS3Settings({ env: { AWS_PROFILE: "regiononly" }, home: h.dir }),
      /has no aws_access_key_id/,
    );
  } finally {
    h.done();
  }
});

Deno.test("AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE replace the ~/.aws files", () => {
  const h = home(CREDS, CONFIG);
  try {
    writeFileSync(
      join(h.dir, "other-creds"),
      "[default]\naws_access_key_id = AKIAOTHER0000006\naws_secret_access_key = s\n",
    );
    writeFileSync(join(h.dir, "other-config"), "[default]\nregion = sa-east-1\n");
    const s = resolveS3Settings({
      env: {
        AWS_SHARED_CREDENTIALS_FILE: join(h.dir, "other-creds"),
        AWS_CONFIG_FILE: join(h.dir, "other-config"),
      },
      home: h.dir,
    });
    assert.deepEqual(s.credentials?.accessKeyId, "AKIAOTHER0000006");
    assert.deepEqual(s.region, "sa-east-1");
  } finally {
    h.done();
  }
});

Deno.test("no credentials anywhere means anonymous; half a pair is a UsageError", () => {
  const s = resolveS3Settings({ env: {}, home: "/nonexistent" });
  assert.deepEqual(s.credentials, undefined);
  assert.deepEqual(s.credentialSource, "anonymous");
  assert.match(s.describe(), /anonymous \(no credentials found\)/);
  assert.throws(
    () => resolveS3Settings({ env: { AWS_ACCESS_KEY_ID: "x" }, home: "/nonexistent" }),
    /AWS_SECRET_ACCESS_KEY is not/,
  );
  assert.throws(
    () => resolveS3Settings({ accessPair: { id: "x" }, env: {}, home: "/nonexistent" }),
    /no secret/,
  );
  const asked = resolveS3Settings({
    anonymous: true,
    env: { AWS_ACCESS_KEY_ID: "a", AWS_SECRET_ACCESS_KEY: "b" },
    home: "/nonexistent",
  });
  assert.deepEqual(asked.credentials, undefined);
});

Deno.test("endpoint: option, then S3_ENDPOINT_URL, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL; scheme-less gets https", () => {
  const env = {
    S3_ENDPOINT_URL: "s3.one.example",
    AWS_ENDPOINT_URL_S3: "http://two.example:8000",
    AWS_ENDPOINT_URL: "https://three.example",
  };
  const r = (o: Record<string, unknown>, e: Record<string, string>) =>
    resolveS3Settings({ ...o, env: e, home: "/nonexistent" });
  assert.deepEqual(r({ endpoint: "http://opt:1" }, env).endpoint?.href, "http://opt:1/");
  assert.deepEqual(r({}, env).endpoint?.href, "https://s3.one.example/");
  assert.deepEqual(r({}, env).endpointSource, "S3_ENDPOINT_URL");
  const { S3_ENDPOINT_URL: _a, ...e2 } = env;
  assert.deepEqual(r({}, e2).endpoint?.href, "http://two.example:8000/");
  const { AWS_ENDPOINT_URL_S3: _b, ...e3 } = e2;
  assert.deepEqual(r({}, e3).endpoint?.href, "https://three.example/");
  assert.deepEqual(r({}, {}).endpoint, undefined);
  assert.throws(() => r({ endpoint: "ftp://x" }, {}), UsageError);
});

Deno.test("region: option, AWS_REGION, AWS_DEFAULT_REGION, profile, else us-east-1", () => {
  const h = home(undefined, CONFIG);
  try {
    const r = (o: Record<string, unknown>, env: Record<string, string>) =>
      resolveS3Settings({ ...o, env, home: h.dir }).region;
    const env = { AWS_REGION: "r-env", AWS_DEFAULT_REGION: "r-default" };
    assert.deepEqual(r({ region: "r-opt" }, env), "r-opt");
    assert.deepEqual(r({}, env), "r-env");
    assert.deepEqual(r({}, { AWS_DEFAULT_REGION: "r-default" }), "r-default");
    assert.deepEqual(r({}, {}), "eu-west-3");
    assert.deepEqual(
      resolveS3Settings({ env: {}, home: "/nonexistent" }).region,
      "us-east-1",
    );
  } finally {
    h.done();
  }
});

Deno.test("addressing: path-style for custom endpoints and dotted buckets, virtual-hosted on AWS", () => {
  const r = (o: Record<string, unknown>, bucket = "b") =>
    resolveS3Settings({ ...o, env: {}, home: "/nonexistent" }, bucket).pathStyle;
  assert.deepEqual(r({ endpoint: "http://127.0.0.1:8090" }), true);
  assert.deepEqual(r({}), false);
  assert.deepEqual(r({}, "my.dotted.bucket"), true);
  assert.deepEqual(r({ endpoint: "https://x", addressing: "virtual" }), false);
  assert.deepEqual(r({ addressing: "path" }), true);
});

Deno.test("describe() names sources and never the secret or the whole key id", () => {
  const s = resolveS3Settings({
    endpoint: "http://127.0.0.1:8090",
    accessPair: { id: "AKIAIOSFODNN7EXAMPLE", secret: "wJalrXUtnFEMI/K7MDENG" },
    env: {},
    home: "/nonexistent",
  });
  const d = s.describe();
  assert.ok(!d.includes("wJalrXUtnFEMI"), d);
  assert.ok(!d.includes("AKIAIOSFODNN7EXAMPLE"), d);
  assert.ok(d.includes("MPLE"), d);
  assert.match(d, /endpoint http:\/\/127\.0\.0\.1:8090\/ \(from the endpoint option\)/);
  assert.match(d, /path-style/);
  assert.deepEqual(maskKeyId("abc"), "****");
});

Deno.test("s3OptionsFrom() reads Spack's mirror configuration spelling", () => {
  const o = s3OptionsFrom({
    endpoint_url: "https://ceph.example",
    access_pair: { id_variable: "ID", secret_variable: "SECRET" },
    access_token: "tok",
    profile: "p",
  });
  assert.deepEqual(o.endpoint, "https://ceph.example");
  assert.deepEqual(o.accessPair?.id_variable, "ID");
  assert.deepEqual(o.accessPair?.secret_variable, "SECRET");
  assert.deepEqual(o.sessionToken, "tok");
  assert.deepEqual(o.profile, "p");
  assert.deepEqual(s3OptionsFrom({ access_pair: ["i", "s"] }).accessPair, {
    id: "i",
    secret: "s",
  });
  assert.throws(() => s3OptionsFrom({ addressing: "sideways" }), UsageError);
});

Deno.test("parseIni() reads sections, comments and nested values", () => {
  const ini = parseIni(CONFIG + "\n; c\n[x]\nk = v ; trailing\n");
  assert.deepEqual(
    ini.get("profile dev")?.get("s3.endpoint_url"),
    "https://minio.example.org:9000",
  );
  assert.deepEqual(ini.get("x")?.get("k"), "v");
  assert.deepEqual(ini.get("default")?.get("region"), "eu-west-3");
});

Deno.test("access_token and access_token_variable give the session token of an access_pair", () => {
  const o = s3OptionsFrom({
    access_pair: { id: "AKIAX", secret_variable: "SEC" },
    access_token_variable: "TOK",
  });
  const s = resolveS3Settings({ ...o, env: { SEC: "s", TOK: "the-token" }, home: "/nonexistent" });
  assert.deepEqual(s.credentials?.sessionToken, "the-token");
  assert.match(s.describe(), /with a session token/);
  assert.ok(!s.describe().includes("the-token"));
  assert.throws(
    () => resolveS3Settings({ ...o, env: { SEC: "s" }, home: "/nonexistent" }),
    /"TOK" named in access_token_variable is not set/,
  );
  const direct = s3OptionsFrom({ access_pair: { id: "a", secret: "b" }, access_token: "t" });
  assert.deepEqual(
    resolveS3Settings({ ...direct, env: {}, home: "/nonexistent" }).credentials?.sessionToken,
    "t",
  );
});
