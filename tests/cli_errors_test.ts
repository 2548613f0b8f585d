/**
 * Errors that name what is involved (path, blob digest, spec, mirror) and say what to do, for
 * install, download, show, repl and mirror opening; never a raw "EACCES: ..." line. A damaged
 * index falls back to the manifests with one warning.
 */
import assert from "node:assert/strict";
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { fixture, HAVE_FIXTURES, REPO_ROOT } from "./_fixtures.ts";
import { buildProgram } from "../src/cli/app.ts";

function spackle(...args: string[]) {
  const out = new Deno.Command(join(REPO_ROOT, "node_modules/.bin/deno"), {
    args: ["run", "-A", join(REPO_ROOT, "cli.ts"), ...args],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).outputSync();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

const RAW = /\bE[A-Z]{2,}: /; // "EACCES: permission denied, mkdir ..."
const LIBFOO_BLOB = "668d1a36b7d4a007b7e1d92bd8fbf69a30569cc2c56008551f4c464c87a2894c";

const t = (name: string, fn: (dir: string) => void | Promise<void>) =>
  Deno.test({
    name,
    ignore: !HAVE_FIXTURES,
    async fn() {
      const dir = Deno.makeTempDirSync({ prefix: "sp-errors-" });
      try {
        await fn(dir);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  });

t(
  "a corrupt tarball names the spec, the blob digest and path, the mirror and what to do",
  (dir) => {
    const m = join(dir, "m");
    cpSync(fixture("v3-unsigned"), m, { recursive: true });
    const blob = join(m, "blobs/sha256/66", LIBFOO_BLOB);
    const data = readFileSync(blob);
    data[data.length >> 1] ^= 0xff;
    writeFileSync(blob, data);
    const r = spackle("install", "-m", m, "--root", join(dir, "r"), "--allow-unsigned", "fooapp");
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /Cannot install libfoo@2\.0\/qxhycnksfks5oi3io5ajg3tr2xzvfrso/);
    assert.ok(r.stderr.includes(`sha256:${LIBFOO_BLOB}`), r.stderr);
    assert.ok(r.stderr.includes(`of the mirror "file://${m}/"`), r.stderr);
    assert.match(r.stderr, /spackle verify/);
    assert.ok(!existsSync(join(dir, "r")));
  },
);

t("a mirror path that does not exist, or a plain file, is named as such", (dir) => {
  const missing = spackle("show", "-m", join(dir, "nope"), "fooapp");
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, new RegExp(`"${join(dir, "nope")}": no such directory`));
  writeFileSync(join(dir, "plain"), "hello\n");
  for (const cmd of [["list"], ["show", "fooapp"], ["install", "--root", join(dir, "r"), "x"]]) {
    const r = spackle(cmd[0], "-m", join(dir, "plain"), ...cmd.slice(1));
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /it is a plain file, not a mirror directory or a spackle bundle/);
    assert.doesNotMatch(r.stderr, /^spackle: error: Cannot read tar archive/m);
  }
  const under = spackle("list", "-m", join(dir, "plain", "sub"));
  assert.match(under.stderr, /a part of that path is a file, not a directory/);
  assert.doesNotMatch(missing.stderr + under.stderr, RAW);
});

t("-k with a file that holds no key names the file", (dir) => {
  writeFileSync(join(dir, "notakey.asc"), "hello\n");
  for (const cmd of [["show", "fooapp"], ["install", "--root", join(dir, "r"), "fooapp"]]) {
    const r = spackle(
      cmd[0],
      "-m",
      fixture("v3-signed"),
      "-k",
      join(dir, "notakey.asc"),
      ...cmd.slice(1),
    );
    assert.equal(r.code, 2, r.stderr);
    assert.ok(r.stderr.includes(`Cannot use "${join(dir, "notakey.asc")}" as a key (-k)`));
    assert.doesNotMatch(r.stderr, /trusted key #/);
  }
  assert.deepEqual(readdirSync(dir), ["notakey.asc"]);
});

t("repl -m with a mirror that cannot be opened fails at once", async (dir) => {
  const { runRepl } = await import("../src/repl/repl.ts");
  const { PassThrough } = await import("node:stream");
  await assert.rejects(
    runRepl({
      program: buildProgram,
      mirror: [join(dir, "nope")],
      input: new PassThrough(),
      output: new PassThrough(),
      historyFile: join(dir, "h"),
    }),
    /Cannot open the mirror ".*nope": no such directory/,
  );
});

t(
  "a corrupt or missing index blob: show and install use the manifests, with one warning",
  (dir) => {
    const m = join(dir, "m");
    cpSync(fixture("v3-unsigned"), m, { recursive: true });
    const manifest = JSON.parse(
      readFileSync(join(m, "v3/manifests/index/index.manifest.json"), "utf8"),
    );
    const sum: string = manifest.data[0].checksum;
    const blob = join(m, "blobs/sha256", sum.slice(0, 2), sum);
    const data = readFileSync(blob);
    data[10] ^= 0xff;
    writeFileSync(blob, data);
    const show = spackle("show", "-m", m, "--allow-unsigned", "fooapp");
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /^fooapp@3\.0\/iicodpd/);
    assert.equal(show.stderr.match(/cannot be used/g)?.length, 1, show.stderr);
    assert.match(show.stderr, /update-index/);
    rmSync(blob);
    const inst = spackle(
      "install",
      "-m",
      m,
      "--root",
      join(dir, "r"),
      "--allow-unsigned",
      "fooapp",
    );
    assert.equal(inst.code, 0, inst.stderr);
    assert.equal(inst.stderr.match(/cannot be used/g)?.length, 1, inst.stderr);
    assert.ok(existsSync(join(dir, "r/.spack-db/index.json")));
  },
);

t("a read-only root is refused before anything is done, without raw system errors", (dir) => {
  const ro = join(dir, "ro");
  mkdirSync(ro);
  const mount = new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", ro],
  })
    .outputSync();
  if (mount.code !== 0) return; // cannot mount here: nothing to check
  try {
    for (const root of [ro, join(ro, "sub", "tree")]) {
      const r = spackle(
        "install",
        "-m",
        fixture("v3-unsigned"),
        "--root",
        root,
        "--allow-unsigned",
        "fooapp",
      );
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`Cannot install into "${root}": .*read-only`));
      assert.match(r.stderr, /choose a --root/);
      assert.doesNotMatch(r.stderr, RAW);
    }
  } finally {
    new Deno.Command("umount", { args: [ro] }).outputSync();
  }
});
