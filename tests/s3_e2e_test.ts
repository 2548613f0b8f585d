/**
 * spackle end to end on s3:// mirrors (the Swift s3api test server): fixture mirrors written by
 * real Spack are uploaded to buckets, then the CLI, run as a user runs it with the AWS
 * variables, verifies and installs from them; the installed trees equal those installed from
 * the same mirrors on disk. A wrong secret fails with a clear message. Ignored when
 * SPACKLE_TEST_S3_ENDPOINT is unset.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fixture, REPO_ROOT } from "./_fixtures.ts";
import { describePrefix, substTable } from "./_install_tree.ts";
import type { S3Store } from "../src/storage/s3.ts";
import {
  ACCESS,
  bucket,
  drop,
  ENDPOINT,
  IGNORE,
  REGION,
  s3Test,
  SECRET,
  spackleS3,
} from "./_s3.ts";
import { runProgram } from "./_run.ts";

const KEY = () => fixture("keys/oracle-test.pub.asc");

/** Uploads every file under `dir` to the store, keeping relative paths. */
async function upload(dir: string, store: S3Store): Promise<number> {
  let count = 0;
  const walk = async (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) {
        await store.write(relative(dir, p), readFileSync(p));
        count++;
      }
    }
  };
  await walk(dir);
  return count;
}

/** Installed prefixes under `root` (the projection's platform-target directory). */
function installed(root: string): { name: string; prefix: string }[] {
  const d = join(root, "linux-x86_64");
  return readdirSync(d).filter((e) => statSync(join(d, e)).isDirectory()).map((e) => ({
    name: e.replace(/-[^-]+-[a-z0-9]{32}$/, ""),
    prefix: join(d, e),
  })).sort((a, b) => a.name.localeCompare(b.name));
}

s3Test("e2e s3: spackle verify checks a signed v3 mirror in a bucket", async () => {
  const s = await bucket("verify");
  try {
    assert.ok(await upload(fixture("v3-signed"), s) > 10);
    const r = await spackleS3(["verify", `s3://${s.bucket}/cache`, "--key", KEY()]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /4 entries, 11 blobs.*signatures: 4 verified/);
  } finally {
    await drop(s);
  }
});

for (const name of ["v3-signed", "v2-signed"]) {
  s3Test(
    `e2e s3: spackle install from ${name} in a bucket gives the same tree as from disk`,
    async () => {
      const s = await bucket("install");
      // Both roots have the same length, so relocated binaries can be compared byte for byte.
      const top = await Deno.makeTempDir({ prefix: "sp-s3inst-" });
      const viaS3 = join(top, "s3"), viaFile = join(top, "fs");
      try {
        await upload(fixture(name), s);
        const r = await spackleS3([
          "install",
          "fooapp",
          "--root",
          viaS3,
          "-m",
          `s3://${s.bucket}/cache/`,
          "--key",
          KEY(),
        ]);
        assert.equal(r.code, 0, r.stderr);
        const f = await spackleS3([
          "install",
          "fooapp",
          "--root",
          viaFile,
          "-m",
          fixture(name),
          "--key",
          KEY(),
        ]);
        assert.equal(f.code, 0, f.stderr);
        const a = installed(viaS3), b = installed(viaFile);
        assert.deepEqual(a.map((x) => x.name), ["fooapp", "foodata", "libfoo", "libzz"]);
        assert.deepEqual(
          a.map((x) => relative(viaS3, x.prefix)),
          b.map((x) => relative(viaFile, x.prefix)),
        );
        for (let i = 0; i < a.length; i++) {
          const ta = describePrefix(a[i].prefix, substTable(a, viaS3));
          const tb = describePrefix(b[i].prefix, substTable(b, viaFile));
          assert.ok(ta.length > 3);
          assert.deepEqual(ta, tb, a[i].name);
        }
        const app = runProgram(join(a.find((x) => x.name === "fooapp")!.prefix, "bin/fooapp"));
        assert.equal(app.code, 0, app.stderr);
        assert.match(app.stdout, /bound=2026/);
      } finally {
        rmSync(top, { recursive: true, force: true });
        await drop(s);
      }
    },
  );
}

s3Test(
  "e2e s3: a wrong secret fails the CLI with a message naming bucket, key and source",
  async () => {
    const s = await bucket("wrong");
    const top = await Deno.makeTempDir({ prefix: "sp-s3wrong-" });
    try {
      await upload(fixture("v3-unsigned"), s);
      const r = await spackleS3(
        ["install", "-m", `s3://${s.bucket}/cache`, "--root", top, "--allow-unsigned", "fooapp"],
        { AWS_SECRET_ACCESS_KEY: "definitely-wrong" },
      );
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /wrong credentials/);
      assert.ok(r.stderr.includes(`s3://${s.bucket}/cache/`), r.stderr);
      assert.match(r.stderr, /AWS_ACCESS_KEY_ID/);
      assert.ok(!r.stderr.includes("definitely-wrong"));
    } finally {
      rmSync(top, { recursive: true, force: true });
      await drop(s);
    }
  },
);

s3Test(
  "e2e s3: a configured mirror's endpoint_url and access_pair are used; --verbose names them",
  async () => {
    const s = await bucket("conf");
    const top = await Deno.makeTempDir({ prefix: "sp-s3conf-" });
    try {
      await upload(fixture("v3-unsigned"), s);
      const cfg = join(top, "spackle.yaml");
      Deno.writeTextFileSync(
        cfg,
        `mirrors:\n  site:\n    url: s3://${s.bucket}/cache\n    endpoint_url: ${ENDPOINT}\n` +
          `    region: ${REGION}\n    access_pair:\n      id_variable: SITE_ID\n` +
          `      secret_variable: SITE_SECRET\nspack_mirrors: false\n`,
      );
      // No endpoint and no credentials in the environment: they must come from the mirror entry.
      const noEnv = { S3_ENDPOINT_URL: "", AWS_ACCESS_KEY_ID: "", AWS_SECRET_ACCESS_KEY: "" };
      const ok = await spackleS3(["-C", cfg, "-v", "list", "-m", "site"], {
        ...noEnv,
        SITE_ID: ACCESS,
        SITE_SECRET: SECRET,
      });
      assert.equal(ok.code, 0, ok.stderr);
      assert.deepEqual(
        ok.stdout.trim().split("\n").map((l) => l.split(/\s+/)[0]),
        ["fooapp", "foodata", "libfoo", "libzz"],
      );
      assert.match(ok.stderr, /from the configuration of mirror "site"/);
      assert.match(ok.stderr, /access_pair of mirror "site" \(variables SITE_ID, SITE_SECRET\)/);
      assert.ok(!ok.stderr.includes(SECRET), "the secret is never printed");
      // Without --verbose the description is not printed.
      const quiet = await spackleS3(["-C", cfg, "list", "-m", "site"], {
        ...noEnv,
        SITE_ID: ACCESS,
        SITE_SECRET: SECRET,
      });
      assert.equal(quiet.code, 0, quiet.stderr);
      assert.doesNotMatch(quiet.stderr, /credentials:/);
      // A wrong secret in the named variable fails and names where the credentials came from.
      const bad = await spackleS3(["-C", cfg, "list", "-m", "site"], {
        ...noEnv,
        SITE_ID: ACCESS,
        SITE_SECRET: "definitely-wrong",
      });
      assert.equal(bad.code, 1, bad.stderr);
      assert.match(bad.stderr, /wrong credentials.*access_pair of mirror "site"/);
      // The variable named in access_pair missing: a usage error that names it.
      const missing = await spackleS3(["-C", cfg, "list", "-m", "site"], {
        ...noEnv,
        SITE_ID: ACCESS,
      });
      assert.equal(missing.code, 2, missing.stderr);
      assert.match(missing.stderr, /"SITE_SECRET" named in access_pair is not set/);
      // --s3-endpoint-url wins over the configuration (a wrong one fails, naming the flag).
      const flag = await spackleS3(
        ["-C", cfg, "-v", "--s3-endpoint-url", "http://127.0.0.1:9", "list", "-m", "site"],
        { ...noEnv, SITE_ID: ACCESS, SITE_SECRET: SECRET },
      );
      assert.equal(flag.code, 1, flag.stderr);
      assert.match(flag.stderr, /127\.0\.0\.1:9\/ \(from --s3-endpoint-url\)/);
    } finally {
      rmSync(top, { recursive: true, force: true });
      await drop(s);
    }
  },
);

s3Test(
  "e2e s3: --s3-endpoint-url and --s3-region with credentials from the environment",
  async () => {
    const s = await bucket("flags");
    try {
      await upload(fixture("v3-unsigned"), s);
      const r = await spackleS3(
        [
          "-v",
          "--s3-endpoint-url",
          ENDPOINT!,
          "--s3-region",
          REGION,
          "show",
          "-m",
          `s3://${s.bucket}/cache`,
          "--allow-unsigned",
          "fooapp",
        ],
        { S3_ENDPOINT_URL: "", AWS_REGION: "" },
      );
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /fooapp/);
      assert.match(r.stderr, /\(from --s3-endpoint-url\), region \S+ \(--s3-region\)/);
      assert.match(r.stderr, /credentials: key id \S+ from environment \(AWS_ACCESS_KEY_ID/);
    } finally {
      await drop(s);
    }
  },
);

/** Installs fooapp from each mirror into roots of the same length; the trees must be equal. */
async function installSame(mirrorA: string, mirrorB: string, skip: string[] = []): Promise<void> {
  const top = await Deno.makeTempDir({ prefix: "sp-s3same-" });
  try {
    const ra = join(top, "a"), rb = join(top, "b");
    for (const [m, r] of [[mirrorA, ra], [mirrorB, rb]]) {
      const res = await spackleS3(["install", "fooapp", "--root", r, "-m", m, "--key", KEY()]);
      assert.equal(res.code, 0, `${m}: ${res.stderr}`);
    }
    const a = installed(ra), b = installed(rb);
    assert.deepEqual(a.map((x) => x.name), ["fooapp", "foodata", "libfoo", "libzz"]);
    assert.deepEqual(a.map((x) => relative(ra, x.prefix)), b.map((x) => relative(rb, x.prefix)));
    for (let i = 0; i < a.length; i++) {
      const keep = (e: { path: string }) => !skip.includes(e.path);
      assert.deepEqual(
        describePrefix(a[i].prefix, substTable(a, ra)).filter(keep),
        describePrefix(b[i].prefix, substTable(b, rb)).filter(keep),
        a[i].name,
      );
    }
  } finally {
    rmSync(top, { recursive: true, force: true });
  }
}

s3Test(
  "e2e s3: push signed to a bucket, update-index, list, then install from it into a fresh root",
  async () => {
    const s = await bucket("push");
    const top = await Deno.makeTempDir({ prefix: "sp-s3push-" });
    try {
      const root = join(top, "tree");
      const inst = await spackleS3([
        "install",
        "fooapp",
        "--root",
        root,
        "-m",
        fixture("v3-signed"),
        "--key",
        KEY(),
      ]);
      assert.equal(inst.code, 0, inst.stderr);
      const url = `s3://${s.bucket}/cache`;
      const push = await spackleS3([
        "push",
        "--root",
        root,
        "--key",
        fixture("keys/oracle-test.sec.asc"),
        url,
        "fooapp",
      ]);
      assert.equal(push.code, 0, push.stderr);
      assert.match(push.stderr, /4 pushed, 0 already present, 0 failed/);
      // No index yet: update-index writes it from the manifests in the bucket.
      assert.deepEqual(await s.stat("v3/manifests/index/index.manifest.json"), undefined);
      const idx = await spackleS3(["update-index", url]);
      assert.equal(idx.code, 0, idx.stderr);
      assert.ok((await s.stat("v3/manifests/index/index.manifest.json"))?.size);
      const list = await spackleS3(["--json", "list", "-m", url]);
      assert.equal(list.code, 0, list.stderr);
      const listed = JSON.parse(list.stdout);
      assert.deepEqual(listed.mirrors[0].url, `s3://${s.bucket}/cache/`);
      const names = listed.specs.map((x: { name: string }) => x.name);
      assert.deepEqual([...names].sort(), ["fooapp", "foodata", "libfoo", "libzz"]);
      // A second push finds everything there.
      const again = await spackleS3(["push", "--root", root, "--unsigned", url, "fooapp"]);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stderr, /0 pushed, 4 already present/);
      const verify = await spackleS3(["verify", url, "--key", KEY()]);
      assert.equal(verify.code, 0, verify.stderr);
      assert.match(verify.stderr, /signatures: 4 verified/);
      // A re-push records the prefix it was packed from in .spack/binary_distribution (the
      // buildinfo), so that one file differs from the original mirror's; all else is equal.
      await installSame(url, fixture("v3-signed"), [".spack/binary_distribution"]);
    } finally {
      rmSync(top, { recursive: true, force: true });
      await drop(s);
    }
  },
);

s3Test(
  "e2e s3: migrate a v2 mirror in one bucket to v3 in another, as Spack's migration installs",
  async () => {
    const src = await bucket("v2", { prefix: "old/" });
    const dst = await bucket("v3", { prefix: "new/" });
    try {
      await upload(fixture("v2-signed"), src);
      const r = await spackleS3([
        "migrate",
        "--trust",
        KEY(),
        "--key",
        fixture("keys/oracle-test.sec.asc"),
        `s3://${src.bucket}/old`,
        `s3://${dst.bucket}/new`,
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /4 migrated or present, 0 left/);
      const keys = [];
      for await (const k of dst.list("")) keys.push(k);
      assert.ok(keys.includes("v3/layout.json"), keys.join(" "));
      assert.ok(keys.some((k) => k.startsWith("v3/manifests/spec/fooapp/")), keys.join(" "));
      // The source bucket keeps its v2 layout only.
      for await (const k of src.list("")) assert.ok(!k.startsWith("v3/"), k);
      const verify = await spackleS3(["verify", `s3://${dst.bucket}/new`, "--key", KEY()]);
      assert.equal(verify.code, 0, verify.stderr);
      assert.match(verify.stderr, /layout v3.*4 entries.*signatures: 4 verified/);
      // Spack's own migration of the same mirror (fixtures/v2-migrated-signed) installs the same.
      await installSame(`s3://${dst.bucket}/new`, fixture("v2-migrated-signed"));
    } finally {
      await drop(src);
      await drop(dst);
    }
  },
);

const EXE = join(REPO_ROOT, "dist/spackle");
/** The executable, when built after the S3 backend last changed (scripts/test builds it first). */
const exeFresh = (() => {
  try {
    return statSync(EXE).mtimeMs >= statSync(join(REPO_ROOT, "src/storage/s3.ts")).mtimeMs;
  } catch {
    return false;
  }
})();

Deno.test({
  name: "e2e s3: the compiled executable lists and verifies a mirror in a bucket",
  ignore: IGNORE || !exeFresh,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const s = await bucket("exe");
    const home = await Deno.makeTempDir({ prefix: "sp-s3exe-" });
    try {
      await upload(fixture("v3-signed"), s);
      const run = async (...args: string[]) => {
        const p = await new Deno.Command(EXE, {
          args,
          env: {
            NO_COLOR: "1",
            HOME: home,
            SPACKLE_KEYRING: join(home, "kr"),
            AWS_ENDPOINT_URL: ENDPOINT!,
            AWS_ACCESS_KEY_ID: ACCESS,
            AWS_SECRET_ACCESS_KEY: SECRET,
            AWS_DEFAULT_REGION: REGION,
          },
          stdout: "piped",
          stderr: "piped",
        }).output();
        const dec = new TextDecoder();
        return { code: p.code, stdout: dec.decode(p.stdout), stderr: dec.decode(p.stderr) };
      };
      const list = await run("list", "-m", `s3://${s.bucket}/cache`);
      assert.equal(list.code, 0, list.stderr);
      assert.match(list.stdout, /fooapp\s+3\.0\s+iicodpd/);
      const v = await run("verify", `s3://${s.bucket}/cache`, "--key", KEY());
      assert.equal(v.code, 0, v.stderr);
      assert.match(v.stderr, /signatures: 4 verified/);
    } finally {
      rmSync(home, { recursive: true, force: true });
      await drop(s);
    }
  },
});
