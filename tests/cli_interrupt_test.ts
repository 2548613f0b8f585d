/**
 * SIGINT, SIGTERM and SIGHUP stop push, sync and bundle promptly: exit 130/143/129, a line
 * saying what was and was not done, and none of the run's working files left in the target.
 * (install and download: install_fixtures_test.ts, cli_read_test.ts.)
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { fixture, HAVE_FIXTURES, REPO_ROOT } from "./_fixtures.ts";
import { installSpecs } from "../src/install/mod.ts";
import { openMirror } from "../src/layout/open.ts";
import { ACCESS, bucket, drop, ENDPOINT, REGION, s3Test, SECRET } from "./_s3.ts";

/** Every path under `dir` (relative), hidden ones included. */
function walk(dir: string, rel = ""): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const r = rel ? `${rel}/${d.name}` : d.name;
    return d.isDirectory() ? [r + "/", ...walk(join(dir, d.name), r)] : [r];
  });
}

/** Runs the CLI, sends `sig` once `busy()` holds, and returns the outcome. */
async function interrupt(args: string[], sig: Deno.Signal, busy: () => boolean) {
  const child = new Deno.Command(join(REPO_ROOT, "node_modules/.bin/deno"), {
    args: ["run", "-A", join(REPO_ROOT, "cli.ts"), ...args],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const t0 = Date.now();
  while (!busy() && Date.now() - t0 < 30000) await new Promise((r) => setTimeout(r, 10));
  const sent = Date.now();
  child.kill(sig);
  const out = await child.output();
  return {
    code: out.code,
    stderr: new TextDecoder().decode(out.stderr),
    ms: Date.now() - sent,
  };
}

Deno.test({
  name: "push, sync and bundle stopped by a signal leave no working files and say so",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const base = await Deno.makeTempDir({ prefix: "sp-intr-" });
    try {
      // An installed fooapp with 96 MB of incompressible data: packing takes a while.
      const root = join(base, "tree");
      const res = await installSpecs(await openMirror(fixture("v3-unsigned")), ["fooapp"], {
        root,
        allowUnsigned: true,
      });
      const app = res.specs.find((s) => s.name === "fooapp")!.prefix;
      for (let i = 0; i < 6; i++) writeFileSync(join(app, `blob${i}`), randomBytes(16 << 20));

      // push, SIGINT while it packs.
      const m1 = join(base, "m1");
      const push = await interrupt(
        ["push", "--unsigned", "--root", root, m1, "fooapp"],
        "SIGINT",
        () => walk(m1).some((p) => p.includes(".spackle-push-") && !p.endsWith("/")),
      );
      assert.equal(push.code, 130, push.stderr);
      assert.match(
        push.stderr,
        /interrupted by SIGINT: [0-3] of 4 specs pushed or already there \(listed above\), [1-4] not pushed/,
      );
      assert.ok(push.ms < 5000, `${push.ms} ms`);
      assert.deepEqual(walk(m1).filter((p) => /\.spackle-|\.part-/.test(p)), []);

      // A whole push, then sync of it, SIGTERM while the big blob is copied.
      const whole = new Deno.Command(join(REPO_ROOT, "node_modules/.bin/deno"), {
        args: [
          "run",
          "-A",
          join(REPO_ROOT, "cli.ts"),
          "push",
          "--unsigned",
          "--root",
          root,
          m1,
          "fooapp",
        ],
      }).outputSync();
      assert.equal(whole.code, 0, new TextDecoder().decode(whole.stderr));
      const m2 = join(base, "m2");
      const sync = await interrupt(
        ["sync", "--allow-unsigned", m1, m2],
        "SIGTERM",
        () => walk(m2).some((p) => p.includes(".spackle-tmp-")),
      );
      assert.equal(sync.code, 143, sync.stderr);
      assert.match(sync.stderr, /interrupted by SIGTERM/);
      assert.deepEqual(walk(m2).filter((p) => /\.spackle-|\.part-/.test(p)), []);

      // bundle, SIGHUP while it copies into its working directory.
      const out = join(base, "b", "site.bundle");
      Deno.mkdirSync(join(base, "b"));
      const bundle = await interrupt(
        ["bundle", "--allow-unsigned", "-m", m1, "-o", out, "fooapp"],
        "SIGHUP",
        () => walk(join(base, "b")).some((p) => p.includes(".spackle-tmp-")),
      );
      assert.equal(bundle.code, 129, bundle.stderr);
      assert.match(bundle.stderr, /interrupted by SIGHUP/);
      assert.deepEqual(walk(join(base, "b")), []);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  },
});

s3Test("push to S3 stopped by SIGINT aborts its multipart upload", async () => {
  const base = await Deno.makeTempDir({ prefix: "sp-intr-s3-" });
  const store = await bucket("intr");
  const home = await Deno.makeTempDir({ prefix: "sp-s3home-" });
  try {
    const root = join(base, "tree");
    const res = await installSpecs(await openMirror(fixture("v3-unsigned")), ["fooapp"], {
      root,
      allowUnsigned: true,
    });
    const app = res.specs.find((s) => s.name === "fooapp")!.prefix;
    for (let i = 0; i < 6; i++) writeFileSync(join(app, `blob${i}`), randomBytes(16 << 20));
    const { AwsClient } = await import("aws4fetch");
    const aws = new AwsClient({
      accessKeyId: ACCESS,
      secretAccessKey: SECRET,
      region: REGION,
      service: "s3",
    });
    const uploads = async () => {
      const r = await aws.fetch(`${ENDPOINT}/${store.bucket}/?uploads`);
      const text = await r.text();
      assert.equal(r.status, 200, text);
      return [...text.matchAll(/<UploadId>([^<]+)<\/UploadId>/g)].map((m) => m[1]);
    };
    const child = new Deno.Command(join(REPO_ROOT, "node_modules/.bin/deno"), {
      args: [
        "run",
        "-A",
        join(REPO_ROOT, "cli.ts"),
        "push",
        "--unsigned",
        "--root",
        root,
        `s3://${store.bucket}/cache/`,
        "fooapp",
      ],
      env: {
        HOME: home,
        S3_ENDPOINT_URL: ENDPOINT!,
        AWS_ACCESS_KEY_ID: ACCESS,
        AWS_SECRET_ACCESS_KEY: SECRET,
        AWS_REGION: REGION,
      },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const t0 = Date.now();
    let seen: string[] = [];
    while (!seen.length && Date.now() - t0 < 60000) {
      seen = await uploads();
      if (!seen.length) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(seen.length, "a multipart upload was under way");
    child.kill("SIGINT");
    const out = await child.output();
    const err = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 130, err);
    assert.match(err, /interrupted by SIGINT/);
    assert.deepEqual(await uploads(), [], "no multipart upload left open");
  } finally {
    rmSync(base, { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
    await drop(store);
  }
});
