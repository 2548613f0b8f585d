/**
 * OCI registries against a real registry (Debian's docker-registry, started by
 * scripts/services/registry.sh over TLS with a test CA; one instance without auth, one with
 * htpasswd Basic auth, one with Bearer tokens from a token service this file runs) and real
 * Spack 1.2 both ways: Spack pushes the fixtures and spackle lists, verifies and installs
 * them with the expected trees; spackle pushes and syncs and Spack installs the result.
 *
 * Runs only when SPACKLE_TEST_REGISTRY (and, for the Spack parts, SPACKLE_ORACLE_SPACK_V3) is
 * set.
 */
import assert from "node:assert/strict";
import { createHash, createPrivateKey, randomBytes, sign, X509Certificate } from "node:crypto";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { fixture, HAVE_FIXTURES, ORACLE, REPO_ROOT } from "./_fixtures.ts";
import { compareWithExpected } from "./_install_fixtures.ts";
import { compareTrees, type TreeEntry } from "./_install_tree.ts";
import { installSpecs } from "../src/install/mod.ts";
import { openMirror } from "../src/layout/open.ts";
import { RegistryClient } from "../src/storage/registry/client.ts";
import { parseOciUrl } from "../src/storage/registry/reference.ts";
import { RegistryStore } from "../src/storage/registry/store.ts";
import { collect, gzipBytes, writeTar } from "../src/core/mod.ts";

const env = (k: string) => Deno.env.get(k);
const REG = env("SPACKLE_TEST_REGISTRY");
const REG_BASIC = env("SPACKLE_TEST_REGISTRY_BASIC");
const REG_TOKEN = env("SPACKLE_TEST_REGISTRY_TOKEN");
const REG_HTTP = env("SPACKLE_TEST_REGISTRY_HTTP");
const CA = env("SPACKLE_TEST_REGISTRY_CA_FILE") ?? "";
const USER = env("SPACKLE_TEST_REGISTRY_USER") ?? "";
const PASSWORD = env("SPACKLE_TEST_REGISTRY_PASSWORD") ?? "";
const HAVE_REGISTRY = !!REG && HAVE_FIXTURES;
const SPACK_V3 = env("SPACKLE_ORACLE_SPACK_V3");
const HAVE_SPACK = HAVE_REGISTRY && !!SPACK_V3 && existsSync(join(SPACK_V3, "bin", "spack")) &&
  existsSync(join(ORACLE, "oracle-install.sh"));

const HASHES = {
  fooapp: "iicodpd5dtmh5ijlchcoay25frkfkyuv",
  libfoo: "qxhycnksfks5oi3io5ajg3tr2xzvfrso",
  libzz: "irttwv2f4rzhheesshe6vsy3xw3ezk2h",
  foodata: "ddk74w2rurmyrizbswgi6fj4tk2losox",
};

/** A fresh repository name on a registry. */
function repo(host = REG!): string {
  return `oci://${host}/spackle-test/r${randomBytes(5).toString("hex")}`;
}

/** Runs the spackle CLI with the test CA; returns exit code and what it printed. */
async function spackle(
  args: string[],
  extraEnv: Record<string, string> = {},
): Promise<{ code: number; out: string; err: string }> {
  const p = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(REPO_ROOT, "cli.ts"), "--ca-file", CA, ...args],
    env: { NO_COLOR: "1", ...extraEnv },
    stdin: "null",
  }).output();
  const dec = new TextDecoder();
  return { code: p.code, out: dec.decode(p.stdout), err: dec.decode(p.stderr) };
}

async function ok(...args: string[]): Promise<string> {
  const r = await spackle(args);
  assert.equal(r.code, 0, `spackle ${args.join(" ")} exited ${r.code}:\n${r.err}\n${r.out}`);
  return r.out;
}

/** Runs a bash script with the oracle helpers loaded (`sp`, `make_instance`, ...). */
function oracleBash(script: string, extraEnv: Record<string, string> = {}): string {
  const out = new Deno.Command("bash", {
    args: ["-c", `set -euo pipefail; . "${ORACLE}/common.sh"; ${script}`],
    env: { SPACK_V3: SPACK_V3!, SPACK_EXTRA_ENV: `SSL_CERT_FILE=${CA}`, ...extraEnv },
  }).outputSync();
  const log = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, `oracle script failed:\n${log.slice(-3000)}`);
  return log;
}

/** Spack installs every spec of `mirror` into `dest` (its own instance); returns the tree. */
function oracleInstall(mirror: string, dest: string) {
  const tree = `${dest}.tree.json`;
  oracleBash(
    `bash "${ORACLE}/oracle-install.sh" --spack v3 --unsigned --check-fixtures --tree "${tree}" "${mirror}" "${dest}"`,
  );
  return JSON.parse(readFileSync(tree, "utf8")) as {
    prefixes: Record<string, { name: string; entries: TreeEntry[] }>;
  };
}

function assertSameTrees(actual: ReturnType<typeof oracleInstall>) {
  const exp = JSON.parse(readFileSync(fixture("expected", "v3-install-tree.json"), "utf8")) as {
    prefixes: Record<string, { name: string; entries: TreeEntry[] }>;
  };
  assert.deepEqual(Object.keys(actual.prefixes).sort(), Object.keys(exp.prefixes).sort());
  for (const [k, e] of Object.entries(exp.prefixes)) {
    assert.deepEqual(compareTrees(e.entries, actual.prefixes[k].entries), [], k);
  }
}

/** Installs fooapp from `mirror` with the library and compares with fixtures/expected. */
async function installAndCompare(mirror: string, root: string) {
  const m = await openMirror(mirror, { store: { http: { caFile: CA } } });
  const res = await installSpecs(m, ["fooapp"], { root, allowUnsigned: true, jobs: 3 });
  assert.equal(res.specs.length, 4);
  assert.ok(res.specs.every((s) => s.installed));
  const specs = res.specs.map((s) => ({ name: s.name, prefix: s.prefix }));
  assert.deepEqual(compareWithExpected(3, root, specs), []);
}

Deno.test({
  name:
    "Spack 1.2 pushes the fixtures to a registry; spackle lists, verifies and installs them with the expected trees",
  ignore: !HAVE_SPACK,
  async fn() {
    const base = await Deno.makeTempDir({ prefix: "sp-oci-" });
    try {
      const url = repo();
      // Spack installs the fixtures into its store ("s"), then pushes them to the registry.
      oracleBash(
        `bash "${ORACLE}/oracle-install.sh" --unsigned "${
          fixture("v3-unsigned")
        }" "${base}/s" >/dev/null; sp "${base}/s.oracle" buildcache push --unsigned --update-index "${url}" fooapp`,
      );
      const listed = JSON.parse(await ok("--json", "list", "-m", url)) as {
        specs: { hash: string }[];
      };
      assert.deepEqual(listed.specs.map((r) => r.hash).sort(), Object.values(HASHES).sort());
      const shown = await ok("show", "-m", url, "fooapp");
      assert.match(shown, /signature:\s+unsigned/);
      await ok("verify", url);
      // The prefixes Spack recorded are as long as "r": relocation needs no growth.
      await installAndCompare(url, join(base, "r"));
      // download: the config (spec) and the tarball layer, named by digest.
      await ok("download", "-m", url, "--to", join(base, "dl"), "libzz");
      assert.ok(readdirSync(join(base, "dl", "blobs", "sha256")).length >= 2);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "Spack 1.2 installs what spackle pushed to a registry, and what spackle synced into one",
  ignore: !HAVE_SPACK,
  async fn() {
    const base = await Deno.makeTempDir({ prefix: "sp-oci-" });
    try {
      // spackle install from the fixture mirror into a deep root, then push to the registry.
      const root = join(base, "tree-" + "x".repeat(60));
      await ok(
        "install",
        "-m",
        fixture("v3-unsigned"),
        "--allow-unsigned",
        "--root",
        root,
        "fooapp",
      );
      const pushed = repo();
      await ok("push", "--root", root, "--update-index", pushed, "fooapp");
      assertSameTrees(oracleInstall(pushed, join(base, "s1")));
      // sync: the v3 fixture mirror becomes images without installing anything.
      const synced = repo();
      await ok("sync", "--allow-unsigned", fixture("v3-unsigned"), synced);
      assertSameTrees(oracleInstall(synced, join(base, "s2")));
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  },
});

/** Pushes a small Docker-format base image (one layer, an Env) to `url`:`tag`. */
async function makeBaseImage(url: string, tag: string): Promise<{ layer: string; diff: string }> {
  const c = new RegistryClient(parseOciUrl(url), { http: { caFile: CA } });
  const body = new TextEncoder().encode("from the base image\n");
  const tar = await collect(writeTar([{
    header: { name: "etc/base-marker", type: "file" as const, mode: 0o644 },
    body,
  }]));
  const gz = gzipBytes(tar);
  const sha = (b: Uint8Array) => "sha256:" + createHash("sha256").update(b).digest("hex");
  await c.uploadBlob(sha(gz), gz.length, gz);
  const config = new TextEncoder().encode(JSON.stringify({
    architecture: "amd64",
    os: "linux",
    config: { Env: ["PATH=/usr/local/bin:/usr/bin:/bin", "BASE_VAR=from-base"] },
    rootfs: { type: "layers", diff_ids: [sha(tar)] },
  }));
  await c.uploadBlob(sha(config), config.length, config);
  const docker = "application/vnd.docker.distribution.manifest.v2+json";
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: docker,
    config: {
      mediaType: "application/vnd.docker.container.image.v1+json",
      digest: sha(config),
      size: config.length,
    },
    layers: [{
      mediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip",
      digest: sha(gz),
      size: gz.length,
    }],
  });
  await c.putManifest(tag, new TextEncoder().encode(manifest), docker);
  return { layer: sha(gz), diff: sha(tar) };
}

Deno.test({
  name:
    "push --base-image builds Docker-format images on the base's layers, copied from another registry",
  ignore: !HAVE_REGISTRY || !REG_HTTP,
  async fn() {
    const base = await Deno.makeTempDir({ prefix: "sp-oci-base-" });
    try {
      const baseUrl = repo(REG_HTTP).replace(/^oci:/, "oci+http:");
      const { layer, diff } = await makeBaseImage(baseUrl, "1.0");
      const root = join(base, "tree-" + "x".repeat(60));
      await ok(
        "install",
        "-m",
        fixture("v3-unsigned"),
        "--allow-unsigned",
        "--root",
        root,
        "fooapp",
      );
      const url = repo();
      await ok(
        "push",
        "--root",
        root,
        "--update-index",
        "--base-image",
        `${baseUrl}:1.0`,
        url,
        "fooapp",
      );
      const c = new RegistryClient(parseOciUrl(url), { http: { caFile: CA } });
      const m = JSON.parse(
        new TextDecoder().decode((await c.getManifest(`fooapp-3.0-${HASHES.fooapp}.spack`)).bytes),
      );
      assert.equal(m.mediaType, "application/vnd.docker.distribution.manifest.v2+json");
      assert.equal(m.config.mediaType, "application/vnd.docker.container.image.v1+json");
      assert.equal(m.annotations, undefined);
      assert.equal(m.layers[0].digest, layer);
      assert.equal(m.layers.length, 5);
      assert.ok(
        m.layers.slice(1).every((l: { mediaType: string }) =>
          l.mediaType === "application/vnd.docker.image.rootfs.diff.tar.gzip"
        ),
      );
      const cfg = JSON.parse(
        new TextDecoder().decode(await c.readBlobBytes(m.config.digest, m.config.size)),
      );
      assert.equal(cfg.rootfs.diff_ids[0], diff);
      assert.equal(cfg.rootfs.diff_ids.length, 5);
      assert.ok(cfg.config.Env.includes("BASE_VAR=from-base"));
      assert.ok(cfg.config.Env.includes("PATH=/usr/local/bin:/usr/bin:/bin"));
      assert.notEqual(await c.blobSize(layer), undefined, "the base layer was copied");
      await ok("verify", url);
      await installAndCompare(url, join(base, "r"));
      if (HAVE_SPACK) assertSameTrees(oracleInstall(url, join(base, "s")));
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name:
    "sync copies a URL cache into a registry and back unchanged, mounts within a registry, and a rerun is a no-op",
  ignore: !HAVE_REGISTRY,
  async fn() {
    const base = await Deno.makeTempDir({ prefix: "sp-oci-" });
    try {
      const a = repo(), b = repo();
      const first = JSON.parse(
        await ok("--json", "sync", "--allow-unsigned", fixture("v3-unsigned"), a),
      );
      assert.equal(
        first.entries.filter((e: { status: string }) => e.status === "copied").length,
        4,
      );
      assert.equal(first.blobsCopied, 4);
      const again = JSON.parse(
        await ok("--json", "sync", "--allow-unsigned", fixture("v3-unsigned"), a),
      );
      assert.equal(
        again.entries.filter((e: { status: string }) => e.status === "present").length,
        4,
      );
      assert.equal(again.blobsCopied, 0);
      assert.equal(again.indexSpecs, undefined, "a no-op rerun leaves the index alone");
      // Registry to registry on one host: blobs are mounted, not downloaded.
      const mounted = JSON.parse(await ok("--json", "sync", a, b));
      assert.equal(mounted.serverSideCopies, 4);
      assert.equal(mounted.bytesCopied, 0);
      await ok("verify", b);
      // A bundle made from a registry holds the closure as a v3 mirror.
      const bundle = join(base, "fooapp.bundle");
      await ok("bundle", "-m", b, "-o", bundle, "fooapp");
      assert.equal(
        (JSON.parse(await ok("--json", "list", "-m", bundle)) as { specs: unknown[] }).specs.length,
        4,
      );
      // Back to a URL cache: the tarball blobs are the fixture's, byte for byte.
      const back = join(base, "back");
      await ok("sync", b, back);
      const fixtureTarballs = JSON.parse(await ok("--json", "verify", fixture("v3-unsigned")));
      assert.equal(fixtureTarballs.flags, 0);
      for (const h of Object.values(HASHES)) {
        const src = await (await openMirror(fixture("v3-unsigned"))).entry(h, {
          requireSignature: false,
        });
        assert.ok(
          existsSync(
            join(back, "blobs", "sha256", src.tarball.checksum.slice(0, 2), src.tarball.checksum),
          ),
          `tarball of ${h} is in the synced-back mirror`,
        );
      }
      assert.equal(JSON.parse(await ok("--json", "verify", back)).flags, 0);
      await installAndCompare(back, await Deno.makeTempDir({ dir: base, prefix: "i" }));
      const noop = JSON.parse(await ok("--json", "sync", b, back));
      assert.equal(noop.blobsCopied, 0);
      assert.equal(
        noop.entries.filter((e: { status: string }) => e.status === "present").length,
        4,
      );
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name:
    "the registry client uploads large blobs in PATCH chunks, skips present blobs, mounts across repositories and follows tag pagination",
  ignore: !HAVE_REGISTRY,
  async fn() {
    const ref = parseOciUrl(repo());
    const client = new RegistryClient(ref, { http: { caFile: CA }, chunkSize: 1 << 20 });
    const data = randomBytes(3 * (1 << 20) + 12345);
    const digest = "sha256:" + createHash("sha256").update(data).digest("hex");
    assert.equal(await client.uploadBlob(digest, data.length, new Uint8Array(data)), "uploaded");
    assert.ok(client.stats.requests >= 6, `chunked: ${client.stats.requests} requests`);
    assert.equal(await client.blobSize(digest), data.length);
    const back = new Uint8Array(await new Response(await client.getBlob(digest)).arrayBuffer());
    assert.deepEqual(back, new Uint8Array(data));
    const resumed = new Uint8Array(
      await new Response(await client.getBlob(digest, { offset: 1000 })).arrayBuffer(),
    );
    assert.deepEqual(resumed, new Uint8Array(data).subarray(1000));
    assert.equal(await client.uploadBlob(digest, data.length, new Uint8Array(data)), "present");
    const other = new RegistryClient(parseOciUrl(repo()), { http: { caFile: CA } });
    assert.equal(
      await other.uploadBlob(digest, data.length, () => Promise.reject(new Error("not read")), {
        mountFrom: ref.name,
      }),
      "mounted",
    );
  },
});

Deno.test({
  name: "tag lists follow Link pagination (relative and absolute next links)",
  async fn() {
    // docker-registry 2.8 does not paginate tag lists, so a small server plays one that does.
    const pages: Record<string, { tags: string[]; next?: string }> = {
      "": { tags: ["a", "b"], next: '</v2/r/tags/list?n=2&last=b>; rel="next"' },
      "b": { tags: ["c", "d"], next: "" },
      "d": { tags: ["e"] },
    };
    let seen = 0;
    const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, (req) => {
      seen++;
      const u = new URL(req.url);
      const page = pages[u.searchParams.get("last") ?? ""];
      const headers = new Headers({ "docker-distribution-api-version": "registry/2.0" });
      if (page.next !== undefined) {
        headers.set(
          "link",
          page.next || `<http://127.0.0.1:${server.addr.port}/v2/r/tags/list?last=d>; rel="next"`,
        );
      }
      return Response.json({ name: "r", tags: page.tags }, { headers });
    });
    try {
      const c = new RegistryClient(parseOciUrl(`oci+http://127.0.0.1:${server.addr.port}/r`));
      const tags: string[] = [];
      for await (const t of c.tags({ pageSize: 2 })) tags.push(t);
      assert.deepEqual(tags, ["a", "b", "c", "d", "e"]);
      assert.equal(seen, 3);
    } finally {
      await server.shutdown();
    }
  },
});

Deno.test({
  name:
    "a registry with Basic auth: refused without credentials (naming the realm), used with flags, access_pair, docker config and a credential helper",
  ignore: !HAVE_REGISTRY || !REG_BASIC,
  async fn() {
    const base = await Deno.makeTempDir({ prefix: "sp-oci-auth-" });
    const e = { HOME: base, SPACKLE_TEST_PW: PASSWORD, PATH: env("PATH") ?? "/usr/bin:/bin" };
    try {
      const url = repo(REG_BASIC);
      const refused = await spackle(["sync", "--allow-unsigned", fixture("v3-unsigned"), url], e);
      assert.equal(refused.code, 1);
      assert.match(
        refused.err,
        /Unauthorized at registry .*Basic credentials \(realm "spackle-basic"/,
      );
      assert.match(refused.err, /scope "repository:spackle-test\/r[0-9a-f]+:pull/);
      // Flags.
      const v = await spackle([
        "--verbose",
        "--oci-username",
        USER,
        "--oci-password-variable",
        "SPACKLE_TEST_PW",
        "sync",
        "--allow-unsigned",
        fixture("v3-unsigned"),
        url,
      ], e);
      assert.equal(v.code, 0, v.err);
      assert.match(v.err, /credentials from the command line/);
      assert.ok(!(v.err + v.out).includes(PASSWORD), "the secret is never printed");
      // A configured mirror's access_pair (Spack's mirrors.yaml).
      const yaml = join(base, "mirrors.yaml");
      writeFileSync(
        yaml,
        `mirrors:\n  reg:\n    url: ${url}\n    access_pair:\n      id: ${USER}\n      secret_variable: SPACKLE_TEST_PW\n`,
      );
      const listed = await spackle(["--verbose", "--mirrors-file", yaml, "list", "-m", "reg"], e);
      assert.equal(listed.code, 0, listed.err);
      assert.match(listed.err, /credentials from the access_pair of mirror "reg"/);
      assert.match(listed.out + listed.err, /4 specs/);
      // Docker's config.json with a base64 auth.
      mkdirSync(join(base, ".docker"));
      writeFileSync(
        join(base, ".docker", "config.json"),
        JSON.stringify({ auths: { [REG_BASIC!]: { auth: btoa(`${USER}:${PASSWORD}`) } } }),
      );
      const viaDocker = await spackle(["--verbose", "list", "-m", url], e);
      assert.equal(viaDocker.code, 0, viaDocker.err);
      assert.match(viaDocker.err, /\.docker\/config\.json \(auths/);
      // A credential helper named by credHelpers, run as docker-credential-NAME get.
      const bin = join(base, "bin");
      mkdirSync(bin);
      writeFileSync(
        join(bin, "docker-credential-spackletest"),
        `#!/bin/sh\nread host\n[ "$host" = "${REG_BASIC}" ] || exit 1\nprintf '{"ServerURL":"%s","Username":"${USER}","Secret":"${PASSWORD}"}' "$host"\n`,
      );
      chmodSync(join(bin, "docker-credential-spackletest"), 0o755);
      writeFileSync(
        join(base, ".docker", "config.json"),
        JSON.stringify({ credHelpers: { [REG_BASIC!]: "spackletest" } }),
      );
      const viaHelper = await spackle(["--verbose", "list", "-m", url], {
        ...e,
        PATH: `${bin}:${e.PATH}`,
      });
      assert.equal(viaHelper.code, 0, viaHelper.err);
      assert.match(viaHelper.err, /credential helper docker-credential-spackletest/);
      // Wrong password: refused, naming where the credentials came from.
      const wrong = await spackle(
        ["--oci-username", USER, "--oci-password-variable", "SPACKLE_TEST_PW", "list", "-m", url],
        { ...e, SPACKLE_TEST_PW: "wrong" },
      );
      assert.equal(wrong.code, 1);
      assert.match(wrong.err, /refused the credentials from the command line/);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  },
});

const IDENTITY = "identity-token-for-tests";

/** A token service as the registry's `auth: token` expects: RS256 JWTs with an x5c header. */
function tokenServer(port: number, log: { scope: string[]; user?: string }[]) {
  const key = createPrivateKey(readFileSync(env("SPACKLE_TEST_REGISTRY_TOKEN_KEY")!, "utf8"));
  const cert = new X509Certificate(readFileSync(env("SPACKLE_TEST_REGISTRY_TOKEN_CERT")!, "utf8"));
  const b64 = (b: Uint8Array | string) => Buffer.from(b).toString("base64url");
  return Deno.serve({ port, hostname: "127.0.0.1", onListen() {} }, async (req) => {
    const u = new URL(req.url);
    let scopes = u.searchParams.getAll("scope");
    const auth = req.headers.get("authorization");
    let user: string | undefined;
    if (req.method === "POST") {
      // OAuth2: an identity token (the refresh token docker login stores) for an access token.
      const form = new URLSearchParams(await req.text());
      if (form.get("grant_type") !== "refresh_token" || form.get("refresh_token") !== IDENTITY) {
        return new Response("bad refresh token", { status: 401 });
      }
      user = USER;
      scopes = (form.get("scope") ?? "").split(" ").filter(Boolean);
      u.searchParams.set("service", form.get("service") ?? "");
    } else if (auth?.startsWith("Basic ")) {
      const [n, p] = atob(auth.slice(6)).split(":");
      if (n !== USER || p !== PASSWORD) return new Response("bad credentials", { status: 401 });
      user = n;
    }
    log.push({ scope: scopes, user });
    const access = scopes.map((s) => {
      const [type, name, actions] = s.split(":");
      const wanted = actions.split(",");
      // Anonymous users may only pull.
      return { type, name, actions: user ? wanted : wanted.filter((a) => a === "pull") };
    });
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: "RS256", typ: "JWT", x5c: [cert.raw.toString("base64")] };
    const claims = {
      iss: "spackle-test-issuer",
      sub: user ?? "",
      aud: u.searchParams.get("service"),
      exp: now + 300,
      nbf: now - 10,
      iat: now,
      jti: randomBytes(8).toString("hex"),
      access,
    };
    const input = `${b64(JSON.stringify(header))}.${b64(JSON.stringify(claims))}`;
    const sig = sign("RSA-SHA256", Buffer.from(input), key);
    return Response.json({ token: `${input}.${b64(sig)}` });
  });
}

Deno.test({
  name:
    "a registry with Bearer tokens: anonymous pull tokens, push with credentials, and a clear refusal for anonymous pushes",
  ignore: !HAVE_REGISTRY || !REG_TOKEN,
  async fn() {
    const log: { scope: string[]; user?: string }[] = [];
    const server = tokenServer(Number(env("SPACKLE_TEST_REGISTRY_TOKEN_PORT")), log);
    try {
      const url = repo(REG_TOKEN);
      const creds = ["--oci-username", USER, "--oci-password-variable", "SPACKLE_TEST_PW"];
      const pushed = await spackle([
        ...creds,
        "sync",
        "--allow-unsigned",
        fixture("v3-unsigned"),
        url,
      ], {
        SPACKLE_TEST_PW: PASSWORD,
      });
      assert.equal(pushed.code, 0, pushed.err);
      assert.ok(log.some((l) => l.user === USER && l.scope.some((s) => s.endsWith(":pull,push"))));
      log.length = 0;
      // Anyone may pull: an anonymous token is asked for, then used.
      const listed = await spackle(["list", "-m", url]);
      assert.equal(listed.code, 0, listed.err);
      assert.match(listed.out + listed.err, /4 specs/);
      assert.ok(log.length >= 1 && log.every((l) => l.user === undefined));
      // An identity token in Docker's config.json is exchanged by an OAuth2 POST.
      const home = await Deno.makeTempDir({ prefix: "sp-oci-home-" });
      mkdirSync(join(home, ".docker"));
      writeFileSync(
        join(home, ".docker", "config.json"),
        JSON.stringify({ auths: { [REG_TOKEN!]: { identitytoken: IDENTITY } } }),
      );
      log.length = 0;
      const viaIdentity = await spackle([
        "sync",
        "--allow-unsigned",
        fixture("v3-unsigned"),
        repo(REG_TOKEN),
      ], {
        HOME: home,
      });
      rmSync(home, { recursive: true, force: true });
      assert.equal(viaIdentity.code, 0, viaIdentity.err);
      assert.ok(log.some((l) => l.user === USER && l.scope.some((s) => s.endsWith(":pull,push"))));
      // An anonymous push is refused with the realm and scope.
      const refused = await spackle([
        "sync",
        "--allow-unsigned",
        fixture("v3-unsigned"),
        repo(REG_TOKEN),
      ]);
      assert.equal(refused.code, 1);
      assert.match(refused.err, /Unauthorized|denied/);
      assert.match(refused.err, /realm "http:\/\/127\.0\.0\.1:\d+\/token"/);
    } finally {
      await server.shutdown();
    }
  },
});

Deno.test({
  name:
    "registry errors name the problem: unknown repository, missing tag, a server that is no registry, rate limiting, denied",
  ignore: !HAVE_REGISTRY,
  async fn() {
    const unknown = await spackle(["list", "-m", repo()]);
    assert.equal(unknown.code, 1);
    assert.match(
      unknown.err,
      /repository "spackle-test\/r[0-9a-f]+" does not exist|manifest unknown/,
    );
    // A tag the index names but that is gone.
    const url = repo();
    await ok("sync", "--allow-unsigned", fixture("v3-unsigned"), url);
    await RegistryStore.open(url, { http: { caFile: CA } }).delete(
      `manifests/libzz-1.2.3-${HASHES.libzz}.spack`,
    );
    const gone = await spackle(["show", "-m", url, "libzz"]);
    assert.equal(gone.code, 1);
    assert.match(
      gone.err,
      /its image "libzz-1\.2\.3-irttwv2f4rzhheesshe6vsy3xw3ezk2h\.spack" is missing/,
    );
    const verify = await spackle(["--json", "verify", url]);
    assert.notEqual(verify.code, 0);
    assert.match(verify.out, /index_lists_missing/);
    // Not a registry: a web server answering 404 pages.
    let calls = 0;
    const web = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, (req) => {
      calls++;
      if (new URL(req.url).pathname.startsWith("/limited/") || req.url.includes("/v2/limited/")) {
        return new Response(
          JSON.stringify({ errors: [{ code: "TOOMANYREQUESTS", message: "slow down" }] }),
          {
            status: 429,
            headers: { "retry-after": "0", "content-type": "application/json" },
          },
        );
      }
      if (req.url.includes("/v2/denied/")) {
        return Response.json({
          errors: [{ code: "DENIED", message: "requested access to the resource is denied" }],
        }, { status: 403 });
      }
      return new Response("<html><body>Not found</body></html>", {
        status: 404,
        headers: { "content-type": "text/html" },
      });
    });
    try {
      const port = web.addr.port;
      const notReg = await spackle(["list", "-m", `oci+http://127.0.0.1:${port}/some/repo`]);
      assert.equal(notReg.code, 2);
      assert.match(notReg.err, /is not an OCI registry/);
      calls = 0;
      const limited = await spackle(["list", "-m", `oci+http://127.0.0.1:${port}/limited`]);
      assert.equal(limited.code, 1);
      assert.match(limited.err, /rate limited by 127\.0\.0\.1:\d+ \(HTTP 429, Retry-After 0 s/);
      assert.ok(calls >= 5, `retried (${calls} requests)`);
      const denied = await spackle(["list", "-m", `oci+http://127.0.0.1:${port}/denied`]);
      assert.equal(denied.code, 1);
      assert.match(denied.err, /denied by 127\.0\.0\.1:\d+ \(DENIED \(requested access/);
    } finally {
      await web.shutdown();
    }
  },
});

Deno.test({
  name: "a blob download cut short is resumed with a Range request from where it broke",
  async fn() {
    // The real registry cannot be made to drop a connection; this server does it once.
    const data = new Uint8Array(randomBytes(300_000));
    const digest = "sha256:" + createHash("sha256").update(data).digest("hex");
    const ranges: string[] = [];
    const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, (req) => {
      const range = req.headers.get("range");
      if (range) {
        ranges.push(range);
        const from = Number(/^bytes=(\d+)-$/.exec(range)![1]);
        return new Response(data.subarray(from), {
          status: 206,
          headers: { "content-range": `bytes ${from}-${data.length - 1}/${data.length}` },
        });
      }
      let sent = false;
      const body = new ReadableStream<Uint8Array>({
        pull(c) {
          if (sent) return c.error(new Error("connection dropped"));
          sent = true;
          c.enqueue(data.subarray(0, 100_000));
        },
      });
      return new Response(body, { headers: { "content-length": String(data.length) } });
    });
    try {
      const c = new RegistryClient(parseOciUrl(`oci+http://127.0.0.1:${server.addr.port}/r`));
      const got = new Uint8Array(await new Response(await c.getBlob(digest)).arrayBuffer());
      assert.equal(got.length, data.length);
      assert.deepEqual(got, data);
      assert.equal(ranges.length, 1);
      assert.match(ranges[0], /^bytes=\d+-$/);
      assert.ok(Number(/\d+/.exec(ranges[0])![0]) > 0, "resumed past the start");
    } finally {
      await server.shutdown();
    }
  },
});

Deno.test({
  name: "oci+http:// reaches a plain-HTTP registry: sync in, list, verify, install",
  ignore: !HAVE_REGISTRY || !REG_HTTP,
  async fn() {
    const base = await Deno.makeTempDir({ prefix: "sp-oci-http-" });
    try {
      const url = repo(REG_HTTP).replace(/^oci:/, "oci+http:");
      await ok("sync", "--allow-unsigned", fixture("v3-unsigned"), url);
      const listed = JSON.parse(await ok("--json", "list", "-m", url)) as { specs: unknown[] };
      assert.equal(listed.specs.length, 4);
      await ok("verify", url);
      await installAndCompare(url, join(base, "root"));
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  },
});
