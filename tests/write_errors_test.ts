/**
 * Errors of the writing commands name the path and say what to do: a read-only file system,
 * a path through a plain file, a directory given as a bundle file, a plain file given as a
 * push target; `migrate --dry-run --trust KEY SRC DST` (the documented form) parses.
 */
import assert from "node:assert/strict";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fixture, HAVE_FIXTURES, REPO_ROOT } from "./_fixtures.ts";
import { fsError } from "../src/core/fs_errors.ts";
import { type SpackleError, TransportError, UsageError } from "../src/errors.ts";

async function run(...args: string[]) {
  const p = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(REPO_ROOT, "cli.ts"), ...args],
    env: { NO_COLOR: "1", SPACKLE_KEYRING: join(Deno.env.get("TMPDIR") ?? "/tmp", "nokeyring") },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: p.code, out: dec.decode(p.stdout), err: dec.decode(p.stderr) };
}

/** No raw `EACCES: permission denied, mkdir '...'` style line reaches the user. */
function assertNoRawErrno(text: string) {
  assert.doesNotMatch(text, /(^|: )E[A-Z]+: [a-z ]+, [a-z]+ '/m, text);
}

Deno.test("fsError names the path, the cause and the way out for each errno", () => {
  const raw = (code: string, path?: string) =>
    Object.assign(new Error(`${code}: something, open '${path ?? "x"}'`), { code, path });
  const cases: [string, RegExp, typeof UsageError | typeof TransportError][] = [
    ["EACCES", /permission denied \(EACCES\); check that you may write there/, TransportError],
    ["EROFS", /read-only \(EROFS\); choose a location on a writable one/, TransportError],
    ["ENOTDIR", /is a file, not a directory \(ENOTDIR\)/, UsageError],
    ["ENOENT", /no such file or directory \(ENOENT\); check the path/, UsageError],
    ["EISDIR", /it is a directory \(EISDIR\); give a file name/, UsageError],
    ["ENOSPC", /no space left on the device \(ENOSPC\); free some space/, TransportError],
  ];
  for (const [code, re, cls] of cases) {
    const e = fsError(raw(code, "/m/blobs/x"), "/m", "write") as SpackleError;
    assert.ok(e instanceof cls, code);
    assert.match(e.message, /^Cannot write "\/m\/blobs\/x": /);
    assert.match(e.message, re);
    assert.equal(e.temporary, false);
  }
  const typed = new UsageError("x");
  assert.equal(fsError(typed, "/m", "write"), typed);
  const plain = new Error("not a system error");
  assert.equal(fsError(plain, "/m", "write"), plain);
});

Deno.test({
  name: "push, bundle and keys publish into a read-only file system say so, with the path",
  ignore: !HAVE_FIXTURES || Deno.build.os !== "linux",
  async fn() {
    const base = await Deno.makeTempDir({ prefix: "sp-werr-" });
    const ro = join(base, "ro");
    mkdirSync(ro);
    let mounted = false;
    try {
      const m = await new Deno.Command("mount", {
        args: ["-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", ro],
        stdout: "null",
        stderr: "null",
      }).output().catch(() => undefined);
      mounted = !!m?.success;
      if (!mounted) {
        console.warn("cannot mount a read-only tmpfs here (not root?): skipped");
        return;
      }
      let r = await run("sync", "--allow-unsigned", fixture("v3-unsigned"), join(ro, "m"));
      assert.equal(r.code, 1, r.err);
      assert.match(r.err, /read-only \(EROFS\); choose a location on a writable one/);
      assert.match(r.err, new RegExp(`"${ro}/m`));
      assertNoRawErrno(r.err);
      r = await run(
        "bundle",
        "--allow-unsigned",
        "fooapp",
        "-m",
        fixture("v3-unsigned"),
        "-o",
        join(ro, "b.bundle"),
      );
      assert.equal(r.code, 1, r.err);
      assert.match(r.err, /read-only \(EROFS\)/);
      assert.match(r.err, new RegExp(ro));
      assertNoRawErrno(r.err);
      r = await run("keys", "publish", join(ro, "m"), fixture("keys", "oracle-test.pub.asc"));
      assert.equal(r.code, 1, r.err);
      assert.match(r.err, /read-only \(EROFS\)/);
      assertNoRawErrno(r.err);
      r = await run("push", "--unsigned", join(ro, "m"), join(base, "nothing"));
      assert.notEqual(r.code, 0);
      assertNoRawErrno(r.err);
    } finally {
      if (mounted) await new Deno.Command("umount", { args: [ro] }).output();
      rmSync(base, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name:
    "a path through a plain file, a directory as bundle output and a file as push target are explained",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const base = await Deno.makeTempDir({ prefix: "sp-werr-" });
    try {
      const file = join(base, "plain");
      writeFileSync(file, "not a directory\n");
      let r = await run("sync", "--allow-unsigned", fixture("v3-unsigned"), join(file, "m"));
      assert.equal(r.code, 2, r.err);
      assert.match(r.err, /a part of th(?:e|at) path is a file, not a directory/);
      assert.match(r.err, new RegExp(file));
      assertNoRawErrno(r.err);
      r = await run(
        "bundle",
        "--allow-unsigned",
        "fooapp",
        "-m",
        fixture("v3-unsigned"),
        "-o",
        base,
      );
      assert.equal(r.code, 2, r.err);
      assert.match(r.err, /it is a directory; give a file name/);
      r = await run("update-index", file);
      assert.equal(r.code, 2, r.err);
      assert.match(r.err, /it is a file, not a mirror directory/);
      assert.doesNotMatch(r.err, /a bundle file is read-only/);
      r = await run("keys", "publish", join(file, "m"), fixture("keys", "oracle-test.pub.asc"));
      assert.equal(r.code, 2, r.err);
      assert.match(r.err, /a part of th(?:e|at) path is a file, not a directory|ENOTDIR/);
      assertNoRawErrno(r.err);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "migrate --dry-run --trust KEY SRC DST parses (--trust takes one file, repeatable)",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const base = await Deno.makeTempDir({ prefix: "sp-werr-" });
    try {
      const key = fixture("keys", "oracle-test.pub.asc");
      const r = await run(
        "migrate",
        "--dry-run",
        "--trust",
        key,
        "--trust",
        key,
        fixture("v2-signed"),
        join(base, "v3"),
      );
      assert.notEqual(r.code, 2, r.err);
      assert.doesNotMatch(r.err, /missing required argument/);
      assert.match(r.err, /can be migrated/);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  },
});
