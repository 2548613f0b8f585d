/**
 * Install-tree integrity: nothing is recorded that was not extracted (a prefix that exists but
 * is not in the database is refused, or replaced with --overwrite), a failed run leaves the
 * root as it found it, an external asked for by hash is registered, and a full disk is a clear
 * error that leaves no partial prefix and an intact database.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { hostname } from "node:os";
import { fixture, HAVE_FIXTURES, REPO_ROOT } from "./_fixtures.ts";
import { installSpecs } from "../src/install/mod.ts";
import { openMirror } from "../src/layout/open.ts";
import { SpackleError } from "../src/errors.ts";

const FOOAPP = "iicodpd5dtmh5ijlchcoay25frkfkyuv";
const BUILDTOOL = "f57lmd4dmdanikdfw3efel7doqszvgro"; // external /usr in v3-unsigned

function spackle(args: string[]) {
  const out = new Deno.Command(join(REPO_ROOT, "node_modules/.bin/deno"), {
    args: ["run", "-A", join(REPO_ROOT, "cli.ts"), ...args],
    stdout: "piped",
    stderr: "piped",
  }).outputSync();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

function dbInstalls(root: string): Record<string, Record<string, unknown>> {
  return JSON.parse(readFileSync(join(root, ".spack-db/index.json"), "utf8")).database.installs;
}

Deno.test({
  name: "install refuses a prefix that exists but is not in the database; --overwrite replaces it",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "sp-integ-" });
    try {
      const mirror = await openMirror(fixture("v3-unsigned"));
      const first = await installSpecs(mirror, ["fooapp"], { root, allowUnsigned: true });
      const app = first.specs.find((s) => s.name === "fooapp")!;
      // Another tree: the same prefix made by hand (empty), no database.
      const other = await Deno.makeTempDir({ prefix: "sp-integ-" });
      try {
        const prefix = app.prefix.replace(root, other);
        mkdirSync(prefix, { recursive: true });
        const before = readdirSync(other);
        await assert.rejects(
          installSpecs(mirror, ["fooapp"], { root: other, allowUnsigned: true }),
          (e: unknown) =>
            e instanceof SpackleError && e.message.includes(`"${prefix}"`) &&
            e.message.includes("--overwrite") && e.message.includes("remove it"),
        );
        // Nothing recorded, nothing left but what was there.
        assert.ok(!existsSync(join(other, ".spack-db/index.json")));
        assert.deepEqual(readdirSync(other), before);
        assert.deepEqual(readdirSync(prefix), []);
        // The CLI says the same, exit 1.
        const cli = spackle([
          "install",
          "-m",
          fixture("v3-unsigned"),
          "--root",
          other,
          "--allow-unsigned",
          "fooapp",
        ]);
        assert.equal(cli.code, 1, cli.stderr);
        assert.match(cli.stderr, /exists but the install database .* does not list it/);
        assert.doesNotMatch(cli.stderr, /\d+ installed/);
        // --overwrite replaces the empty directory with the real prefix.
        const ok = spackle([
          "install",
          "-m",
          fixture("v3-unsigned"),
          "--root",
          other,
          "--allow-unsigned",
          "--overwrite",
          "fooapp",
        ]);
        assert.equal(ok.code, 0, ok.stderr);
        assert.ok(existsSync(join(prefix, "bin/fooapp")));
        assert.equal(dbInstalls(other)[FOOAPP].path, prefix);
        assert.ok(!existsSync(join(other, ".spackle-staging")));
      } finally {
        rmSync(other, { recursive: true, force: true });
      }
      // A prefix deleted behind the database's back is installed again.
      rmSync(app.prefix, { recursive: true });
      const again = await installSpecs(mirror, ["fooapp"], { root, allowUnsigned: true });
      assert.ok(again.specs.find((s) => s.name === "fooapp")!.installed);
      assert.ok(existsSync(join(app.prefix, "bin/fooapp")));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "a failed install (no such spec, read-only root, file as root) leaves the root as it was",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const base = await Deno.makeTempDir({ prefix: "sp-integ-" });
    try {
      const root = join(base, "tree");
      const r1 = spackle([
        "install",
        "-m",
        fixture("v3-unsigned"),
        "--root",
        root,
        "--allow-unsigned",
        "no-such-package",
      ]);
      assert.equal(r1.code, 1);
      assert.match(r1.stderr, /no-such-package/);
      assert.ok(!existsSync(root), "the root was not created");
      // A plain file as the root: a usage error naming it, nothing written.
      const file = join(base, "file");
      writeFileSync(file, "x");
      const r2 = spackle([
        "install",
        "-m",
        fixture("v3-unsigned"),
        "--root",
        file,
        "--allow-unsigned",
        "fooapp",
      ]);
      assert.equal(r2.code, 2, r2.stderr);
      assert.match(r2.stderr, new RegExp(`"${file}": it is a file, not a directory`));
      const r3 = spackle([
        "install",
        "-m",
        fixture("v3-unsigned"),
        "--root",
        join(file, "sub"),
        "--allow-unsigned",
        "fooapp",
      ]);
      assert.equal(r3.code, 2, r3.stderr);
      assert.match(r3.stderr, /is a file, not a directory/);
      assert.doesNotMatch(r2.stderr + r3.stderr, /E[A-Z]+:/);
      assert.equal(readFileSync(file, "utf8"), "x");
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "install /HASH of an external registers it, reports it as external, exit 0",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "sp-integ-" });
    try {
      const r = spackle([
        "install",
        "-m",
        fixture("v3-unsigned"),
        "--root",
        root,
        "--allow-unsigned",
        `/${BUILDTOOL}`,
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /foo-buildtool@1\.0\/f57lmd4 \/usr \(external\)/);
      assert.match(r.stderr, /registered external foo-buildtool\/f57lmd4/);
      const rec = dbInstalls(root)[BUILDTOOL];
      assert.equal(rec.path, "/usr");
      assert.equal(rec.explicit, true);
      assert.equal(rec.installed, true);
      // Nothing extracted: only the database.
      assert.deepEqual(readdirSync(root).sort(), [".spack-db"]);
      const json = spackle([
        "--json",
        "install",
        "-m",
        fixture("v3-unsigned"),
        "--root",
        root,
        "--allow-unsigned",
        `/${BUILDTOOL}`,
      ]);
      assert.equal(json.code, 0, json.stderr);
      const spec = JSON.parse(json.stdout).specs[0];
      assert.equal(spec.external, true);
      assert.equal(spec.installed, false);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "a run killed between moving prefixes into place and recording them is completed next time",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "sp-integ-" });
    try {
      const mirror = await openMirror(fixture("v3-unsigned"));
      const first = await installSpecs(mirror, ["fooapp"], { root, allowUnsigned: true });
      const app = first.specs.find((s) => s.name === "fooapp")!;
      // The state a SIGKILL right after the renames leaves: prefixes there, not recorded, and
      // the dead run's journal in its staging directory.
      const dbPath = join(root, ".spack-db/index.json");
      const db = JSON.parse(readFileSync(dbPath, "utf8"));
      const record = db.database.installs[FOOAPP];
      delete db.database.installs[FOOAPP];
      writeFileSync(dbPath, JSON.stringify(db));
      const dead = join(root, ".spackle-staging", `${hostname()}-2147483646-k1ll3d`);
      mkdirSync(dead, { recursive: true });
      writeFileSync(join(dead, "commit.json"), JSON.stringify([{ hash: FOOAPP, record }]));
      const warnings: string[] = [];
      const again = await installSpecs(mirror, ["fooapp"], {
        root,
        allowUnsigned: true,
        onProgress: (p) => p.phase === "warning" && warnings.push(p.message!),
      });
      assert.match(warnings.join("\n"), /recorded fooapp\/iicodpd in the install database/);
      assert.ok(again.specs.every((s) => !s.installed), "nothing extracted again");
      assert.equal(dbInstalls(root)[FOOAPP].path, app.prefix);
      assert.equal(dbInstalls(root)[FOOAPP].explicit, true);
      assert.ok(!existsSync(join(root, ".spackle-staging")));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "a read-only install tree without Spack's lock files is read unlocked, with one warning",
  ignore: !HAVE_FIXTURES || Deno.uid() !== 0,
  async fn() {
    const disk = await Deno.makeTempDir({ prefix: "sp-ro-" });
    const mirror = await Deno.makeTempDir({ prefix: "sp-ro-mirror-" });
    const m = new Deno.Command("mount", { args: ["-t", "tmpfs", "-o", "size=8m", "tmpfs", disk] })
      .outputSync();
    if (m.code !== 0) return; // cannot mount here
    try {
      await installSpecs(await openMirror(fixture("v3-unsigned")), ["fooapp"], {
        root: disk,
        allowUnsigned: true,
      });
      rmSync(join(disk, ".spack-db/lock"));
      rmSync(join(disk, ".spack-db/prefix_lock"));
      const ro = new Deno.Command("mount", { args: ["-o", "remount,ro", disk] }).outputSync();
      assert.equal(ro.code, 0);
      const r = spackle(["push", "--unsigned", "--root", disk, mirror, "fooapp"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr.match(/Cannot take POSIX locks/g)?.length, 1, r.stderr);
      assert.match(r.stderr, /cannot be created \(a read-only tree\?\)/);
      // Installing into it is refused up front.
      const i = spackle([
        "install",
        "-m",
        fixture("v3-unsigned"),
        "--root",
        disk,
        "--allow-unsigned",
        "--overwrite",
        "fooapp",
      ]);
      assert.equal(i.code, 1, i.stderr);
      assert.match(i.stderr, /read-only/);
    } finally {
      new Deno.Command("umount", { args: [disk] }).outputSync();
      rmSync(disk, { recursive: true, force: true });
      rmSync(mirror, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "a tree whose database Spack 0.2x wrote (version 7) is refused, untouched",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "sp-integ-" });
    try {
      mkdirSync(join(root, ".spack-db"));
      const text = JSON.stringify({ database: { version: "7", installs: {} } });
      writeFileSync(join(root, ".spack-db/index.json"), text);
      const r = spackle([
        "install",
        "-m",
        fixture("v3-unsigned"),
        "--root",
        root,
        "--allow-unsigned",
        "fooapp",
      ]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /is version 7 \(Spack 0\.2x\).*use a new --root/);
      assert.equal(readFileSync(join(root, ".spack-db/index.json"), "utf8"), text);
      assert.deepEqual(readdirSync(root), [".spack-db"]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  },
});
