/**
 * What interrupted writers leave is found and removed: push, sync and bundle killed (SIGKILL)
 * while their temporary files exist leave entries that `verify` reports and the next `prune
 * --delete` removes; a push into a full file system (a small tmpfs) fails with a clear error
 * and leaves nothing half-written.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { fixture, HAVE_FIXTURES, REPO_ROOT } from "./_fixtures.ts";
import { withTmpfs } from "./_tmpfs.ts";
import { main } from "../src/cli/app.ts";
import { findTemporaries } from "../src/core/pid.ts";
import { verifyMirror } from "../src/mirror/verify.ts";
import { FileStore } from "../src/storage/file.ts";

const FOOAPP = "iicodpd5dtmh5ijlchcoay25frkfkyuv";

function spawn(...args: string[]) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(REPO_ROOT, "cli.ts"), ...args],
    env: { NO_COLOR: "1" },
    stdout: "null",
    stderr: "piped",
  }).spawn();
}

async function run(...args: string[]) {
  const p = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(REPO_ROOT, "cli.ts"), ...args],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: p.code, out: dec.decode(p.stdout), err: dec.decode(p.stderr) };
}

/** Kills `p` with SIGKILL as soon as `dir` holds a temporary entry; true when it did. */
async function killWhenTemp(p: Deno.ChildProcess, dir: string): Promise<boolean> {
  let done = false;
  p.status.then(() => done = true);
  while (!done) {
    if (existsSync(dir) && findTemporaries(dir).length) {
      try {
        p.kill("SIGKILL");
      } catch { /* ended meanwhile */ }
      await p.status;
      return true;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  await p.stderr.cancel().catch(() => {});
  return false;
}

/** A tree with fooapp installed and 48 MB of random bytes added to its prefix. */
async function bigTree(base: string): Promise<string> {
  const root = join(base, "tree");
  assert.equal(
    await main([
      "--quiet",
      "install",
      "-m",
      fixture("v3-unsigned"),
      "--root",
      root,
      "--allow-unsigned",
      "fooapp",
    ]),
    0,
  );
  const big = new Uint8Array(48 << 20);
  for (let i = 0; i < big.length; i += 65536) crypto.getRandomValues(big.subarray(i, i + 65536));
  writeFileSync(join(root, "linux-x86_64", `fooapp-3.0-${FOOAPP}`, "share-big.bin"), big);
  return root;
}

Deno.test({
  name:
    "push, sync and bundle killed mid-write leave temporaries that verify reports and prune removes",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const base = await Deno.makeTempDir({ prefix: "sp-leftovers-" });
    try {
      const root = await bigTree(base);
      const m1 = join(base, "m1");
      // push: killed while its working directory exists
      const push = spawn("push", "--unsigned", "--root", root, m1, "fooapp");
      assert.ok(await killWhenTemp(push, m1), "push was killed while writing");
      assert.ok(findTemporaries(m1).length > 0);
      let v = await verifyMirror(new FileStore(pathToFileURL(m1 + "/")));
      assert.ok(
        v.findings.some((f) => f.code === "temporary_file" && /process is gone/.test(f.message)),
      );
      let r = await run("prune", m1, "--delete");
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /temporary dead-owner/);
      assert.deepEqual(findTemporaries(m1), []);
      r = await run("push", "--unsigned", "--update-index", "--root", root, m1, "fooapp");
      assert.equal(r.code, 0, r.err);

      // sync: killed while a blob is being written under a temporary name
      const m2 = join(base, "m2");
      const sync = spawn("sync", "--allow-unsigned", m1, m2);
      assert.ok(await killWhenTemp(sync, m2), "sync was killed while writing");
      v = await verifyMirror(new FileStore(pathToFileURL(m2 + "/")));
      assert.ok(v.findings.some((f) => f.code === "temporary_file"));
      r = await run("prune", m2);
      assert.match(r.out, /temporary dead-owner/);
      assert.ok(findTemporaries(m2).length > 0, "listing alone removes nothing");
      r = await run("prune", m2, "--delete");
      assert.equal(r.code, 0, r.err);
      assert.deepEqual(findTemporaries(m2), []);

      // bundle: killed while its working directory (beside the output) exists; the output
      // directory is a mirror here, so prune finds it; the next bundle removes it too.
      const out = join(m2, "site.bundle");
      const bundle = spawn("bundle", "--allow-unsigned", "fooapp", "-m", m1, "-o", out);
      assert.ok(await killWhenTemp(bundle, m2), "bundle was killed while writing");
      assert.ok(findTemporaries(m2).some((t) => t.path.startsWith(".spackle-bundle-")));
      r = await run("prune", m2, "--delete");
      assert.equal(r.code, 0, r.err);
      assert.deepEqual(findTemporaries(m2), []);
      const again = spawn("bundle", "--allow-unsigned", "fooapp", "-m", m1, "-o", out);
      assert.ok(await killWhenTemp(again, m2));
      r = await run("bundle", "--allow-unsigned", "fooapp", "-m", m1, "-o", out);
      assert.equal(r.code, 0, r.err);
      assert.deepEqual(findTemporaries(m2), [], "the bundle removed the killed one's directory");
      // bundle -o refuses an existing file unless --force
      r = await run("bundle", "--allow-unsigned", "fooapp", "-m", m1, "-o", out);
      assert.equal(r.code, 2);
      assert.match(r.err, /the file exists \(give --force to replace it\)/);
      r = await run("bundle", "--allow-unsigned", "fooapp", "-m", m1, "-o", out, "--force");
      assert.equal(r.code, 0, r.err);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "push into a full file system fails naming the path and the cause, leaving no half entry",
  ignore: !HAVE_FIXTURES || Deno.build.os !== "linux",
  async fn() {
    const base = await Deno.makeTempDir({ prefix: "sp-full-" });
    const small = join(base, "small");
    try {
      await withTmpfs(small, "12m", async () => {
        const root = await bigTree(base);
        const mirror = join(small, "m");
        const r = await run(
          "push",
          "--unsigned",
          "--update-index",
          "--root",
          root,
          mirror,
          "fooapp",
        );
        assert.equal(r.code, 1, r.err);
        assert.match(r.err, /no space left on the device \(ENOSPC\); free some space/);
        assert.match(r.err, new RegExp(mirror.replace(/[/.]/g, "\\$&")));
        assert.doesNotMatch(r.err, /^error: ENOSPC/m);
        // No manifest names a missing blob; no temporary is left; verify finds no corruption.
        assert.deepEqual(findTemporaries(mirror), []);
        const v = await verifyMirror(new FileStore(pathToFileURL(mirror + "/")));
        assert.deepEqual(v.findings.filter((f) => f.kind === "corrupt"), []);
        const specs = existsSync(join(mirror, "v3/manifests/spec"))
          ? readdirSync(join(mirror, "v3/manifests/spec"))
          : [];
        assert.ok(!specs.includes("fooapp"), "fooapp (too big) has no manifest");
      });
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  },
});
