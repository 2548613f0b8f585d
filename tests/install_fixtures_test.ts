/**
 * `installSpecs()` and `spackle install` on the fixture mirrors written by real Spack: the
 * installed trees match what Spack installed (fixtures/expected), the relocated programs run,
 * the database and sbang are there; failures (digest mismatch, missing manifest, a prefix too
 * long for the binaries, SIGKILL) leave no partial prefix; concurrent installs agree.
 */
import assert from "node:assert/strict";
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { hostname } from "node:os";
import { fixture, HAVE_FIXTURES, ORACLE, REPO_ROOT } from "./_fixtures.ts";
import { collect, gzipBytes, sha256Hex, type TarWriteEntry, writeTar } from "../src/core/mod.ts";
import { type InstallSource, installSpecs } from "../src/install/mod.ts";
import { openMirror } from "../src/layout/open.ts";
import { verifierFromKeys } from "../src/mirror/trusted_keys.ts";
import { IntegrityError, NotFoundError, SignatureError, UnsupportedError } from "../src/errors.ts";
import { compareWithExpected } from "./_install_fixtures.ts";
import { makeElf } from "./_elf.ts";
import { parseElf } from "../src/install/relocate_elf.ts";
import { runCliSync } from "./_cli.ts";
import { base32Encode } from "../src/core/base32.ts";

const MIRRORS: [string, 2 | 3, boolean][] = [
  ["v3-signed", 3, true],
  ["v3-unsigned", 3, false],
  ["v2-signed", 2, true],
  ["v2-unsigned", 2, false],
  ["v2-migrated-signed", 2, true],
  ["v2-migrated-unsigned", 2, false],
];

async function source(dir: string, signed: boolean): Promise<InstallSource> {
  const verifier = signed
    ? await verifierFromKeys([readFileSync(fixture("keys/oracle-test.pub.asc"), "utf8")])
    : undefined;
  return await openMirror(dir, { verifier });
}

function run(cmd: string, args: string[] = []) {
  const out = new Deno.Command(cmd, { args, env: { PATH: "/usr/bin:/bin" }, clearEnv: true })
    .outputSync();
  return { code: out.code, stdout: new TextDecoder().decode(out.stdout) };
}

/** Prefixes that exist under root's projection directory. */
function prefixes(root: string): string[] {
  const d = join(root, "linux-x86_64");
  return existsSync(d) ? readdirSync(d) : [];
}

for (const [name, layout, signed] of MIRRORS) {
  Deno.test({
    name: `installSpecs() installs fooapp from ${name} as Spack does, and its programs run`,
    ignore: !HAVE_FIXTURES,
    async fn() {
      const root = await Deno.makeTempDir({ prefix: "sp-inst-" });
      try {
        const phases: string[] = [];
        let planned: number | undefined;
        const res = await installSpecs(await source(fixture(name), signed), ["fooapp"], {
          root,
          allowUnsigned: !signed,
          jobs: 3,
          onProgress: (p) => {
            phases.push(p.phase);
            if (p.phase === "planned") planned = p.count;
          },
        });
        assert.equal(res.specs.length, 4);
        // One "planned" event with the packages to stage, before the first is fetched.
        assert.equal(planned, 4);
        assert.equal(phases.filter((p) => p === "planned").length, 1);
        assert.ok(phases.indexOf("planned") < phases.indexOf("fetch"));
        assert.ok(res.specs.every((s) => s.installed));
        const specs = res.specs.map((s) => ({ name: s.name, prefix: s.prefix }));
        assert.deepEqual(compareWithExpected(layout, root, specs), []);
        const pfx = Object.fromEntries(specs.map((s) => [s.name, s.prefix]));
        const app = run(join(pfx.fooapp, "bin/fooapp"));
        assert.equal(app.code, 0);
        for (const k of ["fooapp", "foodata", "libfoo", "libzz"]) {
          const line = app.stdout.split("\n").find((l) => l.startsWith(`${k}=`))!;
          assert.equal("/" + line.slice(k.length + 1).replace(/^\/+/, ""), pfx[k]);
        }
        assert.match(app.stdout, /bound=2026/);
        assert.equal(
          run(join(pfx.libfoo, "bin/foo-config"), ["--prefix"]).stdout.trim(),
          pfx.libfoo,
        );
        const viaSbang = run(join(pfx.fooapp, "bin/fooapp-run"));
        assert.equal(viaSbang.code, 0);
        assert.ok(viaSbang.stdout.includes(`${pfx.fooapp}\n`));
        assert.ok(
          readFileSync(join(pfx.fooapp, "bin/fooapp-run"), "utf8").startsWith(
            `#!/bin/sh ${root}/bin/sbang\n`,
          ),
        );
        // The database lists the four installs (explicit root) and the external build tool.
        const db = JSON.parse(readFileSync(join(root, ".spack-db/index.json"), "utf8"));
        assert.equal(db.database.version, "8");
        const recs = Object.values(db.database.installs) as Record<string, any>[];
        assert.equal(recs.length, 5);
        const app3 = recs.find((r) => r.spec.name === "fooapp")!;
        assert.equal(app3.path, pfx.fooapp);
        assert.equal(app3.explicit, true);
        assert.equal(recs.find((r) => r.spec.name === "libzz")!.ref_count, 2);
        assert.equal(recs.find((r) => r.spec.name === "foo-buildtool")!.path, "/usr");
        assert.ok(!existsSync(join(root, ".spackle-staging")));
        // A second run installs nothing.
        const again = await installSpecs(await source(fixture(name), signed), ["fooapp"], {
          root,
          allowUnsigned: !signed,
        });
        assert.ok(again.specs.every((s) => !s.installed));
        // Spack's own run-time checks of the fixture DAG, when Python is there.
        if (layout === 3 && existsSync(join(ORACLE, "check_fixture_install.py"))) {
          const report = join(root, "report.json");
          writeFileSync(report, JSON.stringify({ specs: specs }));
          const chk = run("python3", [join(ORACLE, "check_fixture_install.py"), report]);
          assert.equal(chk.code, 0, chk.stdout);
        }
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    },
  });
}

/** A temporary copy of a fixture mirror. */
async function copyMirror(name: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "sp-mirror-" });
  cpSync(fixture(name), dir, { recursive: true });
  return dir;
}

Deno.test({
  name: "installSpecs() refuses a tarball whose digest does not match and installs nothing",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const mirror = await copyMirror("v3-unsigned");
    const root = await Deno.makeTempDir({ prefix: "sp-inst-" });
    try {
      // libfoo's tarball: one byte changed near the end (still valid gzip framing up to there).
      const blob = join(
        mirror,
        "blobs/sha256/66/668d1a36b7d4a007b7e1d92bd8fbf69a30569cc2c56008551f4c464c87a2894c",
      );
      const data = readFileSync(blob);
      data[data.length - 12] ^= 0xff;
      writeFileSync(blob, data);
      await assert.rejects(
        installSpecs(await source(mirror, false), ["fooapp"], { root, allowUnsigned: true }),
        (e: unknown) => e instanceof IntegrityError,
      );
      assert.deepEqual(prefixes(root), []);
      // A failed run leaves the root as it found it (empty).
      assert.deepEqual(readdirSync(root), []);
    } finally {
      rmSync(mirror, { recursive: true, force: true });
      rmSync(root, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "installSpecs() names a manifest the index lists but the mirror lacks, installs nothing",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const mirror = await copyMirror("v3-unsigned");
    const root = await Deno.makeTempDir({ prefix: "sp-inst-" });
    try {
      rmSync(join(mirror, "v3/manifests/spec/libzz"), { recursive: true });
      await assert.rejects(
        installSpecs(await source(mirror, false), ["fooapp"], { root, allowUnsigned: true }),
        (e: unknown) => e instanceof NotFoundError && /manifest .* is missing/.test(e.message),
      );
      assert.deepEqual(prefixes(root), []);
    } finally {
      rmSync(mirror, { recursive: true, force: true });
      rmSync(root, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "installSpecs() refuses a root longer than the build prefix before installing anything",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const base = await Deno.makeTempDir({ prefix: "sp-inst-" });
    const root = join(base, "x".repeat(200), "y".repeat(100));
    try {
      await assert.rejects(
        installSpecs(await source(fixture("v3-unsigned"), false), ["fooapp"], {
          root,
          allowUnsigned: true,
        }),
        (e: unknown) => {
          assert.ok(e instanceof UnsupportedError, String(e));
          assert.match(e.message, /lib\/libzz\.so\.1\.2\.3|bin\/fooapp|lib\/libfoo\.so\.2\.0/);
          assert.match(e.message, /\d+ bytes/);
          assert.match(e.message, /shorter path|padded_length/);
          return true;
        },
      );
      assert.deepEqual(prefixes(root), []);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "two installSpecs() at once on one root both succeed and leave one consistent tree",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "sp-inst-" });
    try {
      const go = async () =>
        installSpecs(await source(fixture("v3-unsigned"), false), ["fooapp"], {
          root,
          allowUnsigned: true,
        });
      const [a, b] = await Promise.all([go(), go()]);
      assert.equal(a.specs.length, 4);
      assert.equal(b.specs.length, 4);
      assert.equal(prefixes(root).length, 4);
      const db = JSON.parse(readFileSync(join(root, ".spack-db/index.json"), "utf8"));
      assert.equal(Object.keys(db.database.installs).length, 5);
      assert.equal(
        run(join(a.specs.find((s) => s.name === "fooapp")!.prefix, "bin/fooapp")).code,
        0,
      );
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  },
});

const BIG_HASH = "a".repeat(32);
const BIG_BUILD = "/tmp/build-root/" + "_".repeat(100);
/** Member name of the package prefix in the tarballs below. */
const BIG_PFX = `${BIG_BUILD}/linux-x86_64/big-1.0-${BIG_HASH}`.slice(1);

/** Writes a v3 mirror with one package `big` holding `mb` MiB of incompressible data. */
function bigMirror(dir: string, mb: number): Promise<string> {
  const rnd = new Uint8Array(1 << 20);
  return writeMirror(
    dir,
    Array.from({ length: mb }, (_, i) => {
      crypto.getRandomValues(rnd.subarray(0, 65536));
      for (let o = 65536; o < rnd.length; o += 65536) rnd.copyWithin(o, 0, 65536);
      rnd[0] = i;
      return {
        header: { name: `${BIG_PFX}/data/f${i}`, type: "file" as const, mode: 0o644 },
        body: rnd.slice(),
      };
    }),
  );
}

/** Writes a v3 mirror with one package `big` whose tarball holds `members` (and buildinfo). */
async function writeMirror(
  dir: string,
  members: TarWriteEntry[],
  textfiles: string[] = [],
  binaries: string[] = [],
  arch: unknown = { platform: "linux", platform_os: "x", target: "x86_64" },
): Promise<string> {
  const hash = BIG_HASH;
  const build = BIG_BUILD;
  const pfx = BIG_PFX;
  const entries: TarWriteEntry[] = [
    { header: { name: pfx, type: "directory" as const, mode: 0o755 } },
    ...members,
    { header: { name: `${pfx}/.spack`, type: "directory" as const, mode: 0o755 } },
    {
      header: { name: `${pfx}/.spack/binary_distribution`, type: "file" as const, mode: 0o644 },
      body: new TextEncoder().encode(
        `{buildpath: ${build}, hash_to_prefix: {${hash}: /${pfx}}, relocate_textfiles: [${
          textfiles.join(", ")
        }], relocate_binaries: [${binaries.join(", ")}], relocate_links: []}`,
      ),
    },
  ];
  const tgz = gzipBytes(await collect(writeTar(entries)), 1);
  const node = {
    name: "big",
    version: "1.0",
    arch,
    hash,
  };
  const spec = gzipBytes(
    JSON.stringify({
      spec: { _meta: { version: 5 }, nodes: [node] },
      buildcache_layout_version: 2,
    }),
  );
  const index = new TextEncoder().encode(
    JSON.stringify({
      database: { version: "8", installs: { [hash]: { spec: node, in_buildcache: true } } },
    }),
  );
  const put = (bytes: Uint8Array) => {
    const sum = sha256Hex(bytes);
    Deno.mkdirSync(join(dir, "blobs/sha256", sum.slice(0, 2)), { recursive: true });
    writeFileSync(join(dir, "blobs/sha256", sum.slice(0, 2), sum), bytes);
    return { sum, size: bytes.byteLength };
  };
  const t = put(tgz), s = put(spec), ix = put(index);
  Deno.mkdirSync(join(dir, "v3/manifests/spec/big"), { recursive: true });
  Deno.mkdirSync(join(dir, "v3/manifests/index"), { recursive: true });
  writeFileSync(join(dir, "v3/layout.json"), '{"signing": "gpg"}');
  const rec = (r: { sum: string; size: number }, mediaType: string, compression: string) => ({
    contentLength: r.size,
    mediaType,
    compression,
    checksumAlgorithm: "sha256",
    checksum: r.sum,
  });
  writeFileSync(
    join(dir, `v3/manifests/spec/big/big-1.0-${hash}.spec.manifest.json`),
    JSON.stringify({
      version: 3,
      data: [
        rec(t, "application/vnd.spack.install.v2.tar+gzip", "gzip"),
        rec(s, "application/vnd.spack.spec.v5+json", "gzip"),
      ],
    }),
  );
  writeFileSync(
    join(dir, "v3/manifests/index/index.manifest.json"),
    JSON.stringify({ version: 3, data: [rec(ix, "application/vnd.spack.db.v8+json", "none")] }),
  );
  return `linux-x86_64/big-1.0-${hash}`;
}

Deno.test({
  name:
    "spackle install killed with SIGKILL leaves no partial prefix; the next run cleans up and completes",
  async fn() {
    const mirror = await Deno.makeTempDir({ prefix: "sp-big-" });
    const root = await Deno.makeTempDir({ prefix: "sp-inst-" });
    try {
      const rel = await bigMirror(mirror, 150);
      const args = [
        "run",
        "-A",
        join(REPO_ROOT, "cli.ts"),
        "install",
        "-m",
        mirror,
        "--root",
        root,
        "--allow-unsigned",
        "big",
      ];
      const deno = join(REPO_ROOT, "node_modules/.bin/deno");
      const child = new Deno.Command(deno, { args, stdout: "null", stderr: "null" }).spawn();
      // Kill once extraction has started (the staging directory holds data).
      const t0 = Date.now();
      for (;;) {
        const st = join(root, ".spackle-staging");
        const busy = existsSync(st) &&
          readdirSync(st).some((d) => existsSync(join(st, d, "a".repeat(32), "t")));
        if (busy || Date.now() - t0 > 20000) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      child.kill("SIGKILL");
      await child.status;
      assert.ok(!existsSync(join(root, rel)), "no prefix after the kill");
      assert.ok(
        readdirSync(join(root, ".spackle-staging")).length > 0,
        "the kill left staging data",
      );
      const again = new Deno.Command(deno, { args, stdout: "piped", stderr: "piped" }).outputSync();
      assert.equal(again.code, 0, new TextDecoder().decode(again.stderr));
      assert.equal(readdirSync(join(root, rel, "data")).length, 150);
      assert.ok(!existsSync(join(root, ".spackle-staging")));
    } finally {
      rmSync(mirror, { recursive: true, force: true });
      rmSync(root, { recursive: true, force: true });
    }
  },
});

/** True when the oracle scripts can run the real Spack 1.2 here. */
const HAVE_SPACK = HAVE_FIXTURES && existsSync(join(ORACLE, "common.sh")) &&
  new Deno.Command("bash", {
      args: ["-c", `. "${join(ORACLE, "common.sh")}" && [ -x "$(spack_root_for v3)/bin/spack" ]`],
      stdout: "null",
      stderr: "null",
    }).outputSync().code === 0;

Deno.test({
  name: "real Spack 1.2 configured with the root as its install tree sees what spackle installed",
  ignore: !HAVE_SPACK,
  async fn() {
    const base = await Deno.makeTempDir({ prefix: "sp-oracle-" });
    try {
      const root = join(base, "store");
      const res = await installSpecs(await source(fixture("v3-unsigned"), false), ["fooapp"], {
        root,
        allowUnsigned: true,
      });
      const script = `. "${join(ORACLE, "common.sh")}"
make_instance v3 "${base}/inst" "${root}" 0 >/dev/null
cd "${base}/inst/tmp"
sp "${base}/inst" find --no-groups -p
echo "explicit: $(sp "${base}/inst" find --no-groups --explicit)"`;
      const out = new Deno.Command("bash", { args: ["-c", script] }).outputSync();
      const text = new TextDecoder().decode(out.stdout);
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      for (const s of res.specs) assert.ok(text.includes(s.prefix), `${s.prefix} in:\n${text}`);
      assert.match(text, /explicit: fooapp@3\.0/);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  },
});

const HOSTILE: [string, TarWriteEntry[]][] = [
  ["a member escaping with ..", [{
    header: {
      name: `${BIG_PFX}/../../../../../../../../../../evil-${BIG_HASH}`,
      type: "file",
      mode: 0o644,
    },
    body: new TextEncoder().encode("x"),
  }]],
  ["a write through a symlink", [
    { header: { name: `${BIG_PFX}/lib`, type: "symlink", mode: 0o777, linkname: "/tmp" } },
    {
      header: { name: `${BIG_PFX}/lib/evil-${BIG_HASH}`, type: "file", mode: 0o644 },
      body: new TextEncoder().encode("x"),
    },
  ]],
  ["an absolute member", [{
    header: { name: `/tmp/evil-${BIG_HASH}`, type: "file", mode: 0o644 },
    body: new TextEncoder().encode("x"),
  }]],
  ["a FIFO", [{ header: { name: `${BIG_PFX}/fifo`, type: "fifo", mode: 0o644 } }]],
];

for (const [what, members] of HOSTILE) {
  Deno.test(`spackle install refuses a mirror whose tarball has ${what}: exit 1, nothing installed`, async () => {
    const mirror = await Deno.makeTempDir({ prefix: "sp-hostile-" });
    const root = await Deno.makeTempDir({ prefix: "sp-inst-" });
    try {
      const rel = await writeMirror(mirror, members);
      const out = runCliSync(["install", "-m", mirror, "--root", root, "--allow-unsigned", "big"]);
      const err = out.stderr;
      assert.equal(out.code, 1, err);
      assert.match(err, /Refusing to extract/);
      assert.ok(!existsSync(join(root, rel)));
      assert.ok(!existsSync(`/tmp/evil-${BIG_HASH}`));
      // A failed run leaves the root as it found it (empty).
      assert.deepEqual(readdirSync(root), []);
    } finally {
      rmSync(mirror, { recursive: true, force: true });
      rmSync(root, { recursive: true, force: true });
    }
  });
}

Deno.test({
  name: "spackle --json install prints the installed specs; a second run reports them present",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "sp-inst-" });
    try {
      const args = [
        "--json",
        "install",
        "-m",
        fixture("v2-unsigned"),
        "--root",
        root,
        "--allow-unsigned",
        "-j",
        "2",
        "libfoo@2.0",
      ];
      const first = runCliSync(args);
      assert.equal(first.code, 0, first.stderr);
      const doc = JSON.parse(first.stdout);
      assert.deepEqual(doc.specs.map((s: { name: string }) => s.name).sort(), ["libfoo", "libzz"]);
      assert.ok(doc.specs.every((s: { installed: boolean }) => s.installed));
      const second = JSON.parse(runCliSync(args).stdout);
      assert.ok(second.specs.every((s: { installed: boolean }) => !s.installed));
      const missing = runCliSync([...args.slice(0, -1), "nosuchpkg"]);
      assert.equal(missing.code, 1);
      const msg = missing.stdout + missing.stderr;
      assert.match(msg, /nosuchpkg/);
      assert.match(msg, /"not_found"/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  },
});

for (const listed of [true, false]) {
  Deno.test(
    `installSpecs() relocates a text file with its prefix only when the buildinfo lists it (${
      listed ? "listed" : "not listed"
    }), with or without in-stream relocation`,
    async () => {
      for (const speculate of [true, false]) {
        const mirror = await Deno.makeTempDir({ prefix: "sp-mirror-" });
        const root = await Deno.makeTempDir({ prefix: "sp-inst-" });
        try {
          const text = `prefix=/${BIG_PFX}\nlib=/${BIG_PFX}/lib -L/${BIG_PFX}/lib64\n`;
          const rel = await writeMirror(
            mirror,
            [
              { header: { name: `${BIG_PFX}/share`, type: "directory", mode: 0o755 } },
              {
                header: { name: `${BIG_PFX}/share/t.txt`, type: "file", mode: 0o644 },
                body: new TextEncoder().encode(text),
              },
            ],
            listed ? ["share/t.txt"] : [],
          );
          const src = await openMirror(mirror);
          await installSpecs(src, ["big"], { root, allowUnsigned: true, speculate });
          const prefix = join(root, rel);
          const got = readFileSync(join(prefix, "share/t.txt"), "utf8");
          assert.equal(got, listed ? text.replaceAll(`/${BIG_PFX}`, prefix) : text);
        } finally {
          rmSync(mirror, { recursive: true, force: true });
          rmSync(root, { recursive: true, force: true });
        }
      }
    },
  );
}

Deno.test("installSpecs() drops RPATH entries that do not exist, as Spack's post-install hook does", async () => {
  const mirror = await Deno.makeTempDir({ prefix: "sp-mirror-" });
  const root = await Deno.makeTempDir({ prefix: "sp-inst-" });
  try {
    // (An entry far longer than any prefix, as a hostile binary may hold, is dropped too.)
    const rpath = `/${BIG_PFX}/lib:/${BIG_PFX}/lib64:$ORIGIN/../lib::/nonexistent-${BIG_HASH}/lib` +
      `:/${BIG_PFX}/${"d/".repeat(20000)}lib:rel/dir`;
    const elf = makeElf({ is64: true, le: true, runpath: true, rpath, interp: "/lib64/ld.so" });
    const rel = await writeMirror(
      mirror,
      [
        { header: { name: `${BIG_PFX}/lib`, type: "directory", mode: 0o755 } },
        { header: { name: `${BIG_PFX}/lib/libx.so`, type: "file", mode: 0o755 }, body: elf },
      ],
      [],
      ["lib/libx.so"],
    );
    const src = await openMirror(mirror);
    await installSpecs(src, ["big"], { root, allowUnsigned: true });
    const prefix = join(root, rel);
    const info = parseElf(new Uint8Array(readFileSync(join(prefix, "lib/libx.so"))))!;
    assert.equal(new TextDecoder().decode(info.rpath!.value), `${prefix}/lib:$ORIGIN/../lib`);
    assert.equal(info.rpath!.runpath, true);
  } finally {
    rmSync(mirror, { recursive: true, force: true });
    rmSync(root, { recursive: true, force: true });
  }
});

Deno.test({
  name: "installSpecs() honours a projection, uses Spack's lock files and writes index_verifier",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "sp-inst-" });
    try {
      // Staging left by a process that does not exist is removed.
      const dead = join(root, ".spackle-staging", `${hostname()}-2147483646-abc123`);
      Deno.mkdirSync(join(dead, "x"), { recursive: true });
      const res = await installSpecs(await source(fixture("v3-unsigned"), false), ["fooapp"], {
        root,
        allowUnsigned: true,
        projection: "{name}/{version}-{hash:7}",
      });
      const app = res.specs.find((s) => s.name === "fooapp")!;
      assert.equal(app.prefix, join(root, "fooapp/3.0-iicodpd"));
      const out = run(join(app.prefix, "bin/fooapp"));
      assert.equal(out.code, 0);
      assert.ok(out.stdout.includes(join(root, "libzz/1.2.3-irttwv2")));
      assert.ok(!existsSync(join(root, ".spackle-staging")));
      // Spack's lock files (never spackle's own) and a fresh verifier (a UUID).
      assert.deepEqual(
        readdirSync(join(root, ".spack-db")).sort(),
        ["index.json", "index_verifier", "lock", "prefix_lock"],
      );
      assert.match(
        readFileSync(join(root, ".spack-db/index_verifier"), "utf8"),
        /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
      );
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "installSpecs() refuses unsigned metadata unless allowed, and a tampered signed manifest",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "sp-inst-" });
    const mirror = await copyMirror("v3-signed");
    try {
      await assert.rejects(
        installSpecs(await source(fixture("v3-unsigned"), false), ["fooapp"], { root }),
        (e: unknown) => e instanceof SignatureError && /not signed/.test(e.message),
      );
      // One character of libzz's signed manifest changed: its signature no longer verifies.
      const dir = join(mirror, "v3/manifests/spec/libzz");
      const file = join(dir, readdirSync(dir)[0]);
      writeFileSync(file, readFileSync(file, "utf8").replace('"version":3', '"version": 3'));
      await assert.rejects(
        installSpecs(await source(mirror, true), ["fooapp"], { root }),
        (e: unknown) => e instanceof SignatureError,
      );
      assert.deepEqual(prefixes(root), []);
    } finally {
      rmSync(mirror, { recursive: true, force: true });
      rmSync(root, { recursive: true, force: true });
    }
  },
});

Deno.test("installSpecs() routes an executable with a too long shebang through ROOT/bin/sbang, and it runs", async () => {
  const mirror = await Deno.makeTempDir({ prefix: "sp-mirror-" });
  const root = await Deno.makeTempDir({ prefix: "sp-inst-" });
  try {
    const script = `#!/bin/sh ${"-e ".repeat(50)}\necho sbang-ok\n`;
    const rel = await writeMirror(mirror, [
      { header: { name: `${BIG_PFX}/bin`, type: "directory", mode: 0o755 } },
      {
        header: { name: `${BIG_PFX}/bin/tool`, type: "file", mode: 0o755 },
        body: new TextEncoder().encode(script),
      },
    ]);
    const src = await openMirror(mirror);
    await installSpecs(src, ["big"], { root, allowUnsigned: true });
    const tool = join(root, rel, "bin/tool");
    assert.equal(readFileSync(tool, "utf8"), `#!/bin/sh ${root}/bin/sbang\n${script}`);
    const out = run(tool);
    assert.equal(out.code, 0);
    assert.equal(out.stdout, "sbang-ok\n");
  } finally {
    rmSync(mirror, { recursive: true, force: true });
    rmSync(root, { recursive: true, force: true });
  }
});

Deno.test("installSpecs() writes .spack/install_manifest.json as Spack does when the tarball has none", async () => {
  const mirror = await Deno.makeTempDir({ prefix: "sp-mirror-" });
  const root = await Deno.makeTempDir({ prefix: "sp-inst-" });
  const big = Uint8Array.from({ length: (600 << 10) + 7 }, (_, i) => (i * 7 + (i >> 11)) & 255);
  try {
    const rel = await writeMirror(mirror, [
      { header: { name: `${BIG_PFX}/share`, type: "directory", mode: 0o755 } },
      {
        header: { name: `${BIG_PFX}/share/abc.txt`, type: "file", mode: 0o644 },
        body: new TextEncoder().encode("abc"),
      },
      {
        header: {
          name: `${BIG_PFX}/share/link`,
          type: "symlink",
          mode: 0o777,
          linkname: "abc.txt",
        },
      },
      // Longer than the buffer files are hashed through (256 KiB), and not a multiple of it.
      { header: { name: `${BIG_PFX}/share/big.bin`, type: "file", mode: 0o644 }, body: big },
    ]);
    const src = await openMirror(mirror);
    await installSpecs(src, ["big"], { root, allowUnsigned: true });
    const prefix = join(root, rel);
    const m = JSON.parse(readFileSync(join(prefix, ".spack/install_manifest.json"), "utf8"));
    // base32(sha1("abc")), as Spack's verify.compute_hash gives it.
    assert.equal(m[`${prefix}/share/abc.txt`].hash, "VGMT4NSHA2AWVOR6EVYXQUGCNSONBWE5");
    assert.equal(m[`${prefix}/share/abc.txt`].size, 3);
    const bigSha1 = createHash("sha1").update(big).digest();
    assert.equal(m[`${prefix}/share/big.bin`].hash, base32Encode(bigSha1, true).toUpperCase());
    assert.equal(m[`${prefix}/share/big.bin`].size, big.byteLength);
    assert.equal(m[`${prefix}/share/link`].dest, "abc.txt");
    assert.ok(m[prefix].mode > 0);
    assert.ok(m[`${prefix}/.spack/binary_distribution`]);
  } finally {
    rmSync(mirror, { recursive: true, force: true });
    rmSync(root, { recursive: true, force: true });
  }
});

Deno.test("spackle install drops setuid/setgid bits with a warning and installs the file 0755", async () => {
  const mirror = await Deno.makeTempDir({ prefix: "sp-mirror-" });
  const root = await Deno.makeTempDir({ prefix: "sp-inst-" });
  try {
    const rel = await writeMirror(mirror, [
      { header: { name: `${BIG_PFX}/bin`, type: "directory", mode: 0o755 } },
      {
        header: { name: `${BIG_PFX}/bin/su-like`, type: "file", mode: 0o6755 },
        body: new TextEncoder().encode("#!/bin/sh\n"),
      },
    ]);
    const out = runCliSync(["install", "-m", mirror, "--root", root, "--allow-unsigned", "big"]);
    const err = out.stderr;
    assert.equal(out.code, 0, err);
    assert.match(err, /setuid\/setgid\/sticky bits dropped from "bin\/su-like"/);
    assert.equal(Deno.statSync(join(root, rel, "bin/su-like")).mode! & 0o7777, 0o755);
  } finally {
    rmSync(mirror, { recursive: true, force: true });
    rmSync(root, { recursive: true, force: true });
  }
});

for (const [sig, code] of [["SIGINT", 130], ["SIGTERM", 143], ["SIGHUP", 129]] as const) {
  Deno.test({
    name: `spackle install stopped by ${sig} removes its staging files, says so, exits ${code}`,
    async fn() {
      const mirror = await Deno.makeTempDir({ prefix: "sp-big-" });
      const root = await Deno.makeTempDir({ prefix: "sp-inst-" });
      try {
        const rel = await bigMirror(mirror, 150);
        const deno = join(REPO_ROOT, "node_modules/.bin/deno");
        const child = new Deno.Command(deno, {
          args: [
            "run",
            "-A",
            join(REPO_ROOT, "cli.ts"),
            "install",
            "-m",
            mirror,
            "--root",
            root,
            "--allow-unsigned",
            "big",
          ],
          stdout: "piped",
          stderr: "piped",
        }).spawn();
        const t0 = Date.now();
        for (;;) {
          const st = join(root, ".spackle-staging");
          const busy = existsSync(st) &&
            readdirSync(st).some((d) => existsSync(join(st, d, "a".repeat(32), "t")));
          if (busy || Date.now() - t0 > 20000) break;
          await new Promise((r) => setTimeout(r, 20));
        }
        const sent = Date.now();
        child.kill(sig);
        const out = await child.output();
        const stopped = Date.now() - sent;
        const err = new TextDecoder().decode(out.stderr);
        assert.equal(out.code, code, err);
        assert.ok(stopped < 5000, `stopped ${stopped} ms after the signal`);
        assert.match(err, new RegExp(`interrupted by ${sig}: nothing installed`));
        assert.match(err, /the install tree is as it was/);
        assert.ok(!existsSync(join(root, rel)));
        // The root is as it was before the run: empty.
        assert.deepEqual(readdirSync(root), []);
      } finally {
        rmSync(mirror, { recursive: true, force: true });
        rmSync(root, { recursive: true, force: true });
      }
    },
  });
}

/** Mounts a tmpfs of `size` at a new directory (undefined when this user cannot mount). */
function smallDisk(size: string): string | undefined {
  const dir = Deno.makeTempDirSync({ prefix: "sp-full-" });
  const r = new Deno.Command("mount", { args: ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir] })
    .outputSync();
  if (r.code === 0) return dir;
  rmSync(dir, { recursive: true, force: true });
  return undefined;
}

Deno.test({
  name: "install into a full disk: a clear error, no partial prefix, the database intact",
  ignore: !HAVE_FIXTURES || Deno.uid() !== 0,
  async fn() {
    const disk = smallDisk("4m");
    if (!disk) return; // no tmpfs here (not root in this sandbox)
    const mirror = await Deno.makeTempDir({ prefix: "sp-big-" });
    try {
      const root = join(disk, "tree");
      await installSpecs(await source(fixture("v3-unsigned"), false), ["fooapp"], {
        root,
        allowUnsigned: true,
      });
      const dbBefore = readFileSync(join(root, ".spack-db/index.json"), "utf8");
      const before = readdirSync(root).sort();
      const rel = await bigMirror(mirror, 8);
      const out = new Deno.Command(join(REPO_ROOT, "node_modules/.bin/deno"), {
        args: [
          "run",
          "-A",
          join(REPO_ROOT, "cli.ts"),
          "install",
          "-m",
          mirror,
          "--root",
          root,
          "--allow-unsigned",
          "big",
        ],
        stderr: "piped",
      }).outputSync();
      const err = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 1, err);
      assert.match(err, new RegExp(`Cannot install into "${root}": no space left on the device`));
      assert.match(err, /free some space or choose another --root/);
      assert.doesNotMatch(err, /ENOSPC:/);
      assert.ok(!existsSync(join(root, rel)), "no partial prefix");
      assert.deepEqual(readdirSync(root).sort(), before, "nothing left behind");
      assert.equal(readFileSync(join(root, ".spack-db/index.json"), "utf8"), dbBefore);
      // The space is given back.
      const df = new Deno.Command("df", { args: ["--output=used", "-B1", disk] }).outputSync();
      assert.ok(Number(new TextDecoder().decode(df.stdout).split("\n")[1]) < 2 << 20);
    } finally {
      rmSync(mirror, { recursive: true, force: true });
      new Deno.Command("umount", { args: [disk] }).outputSync();
      rmSync(disk, { recursive: true, force: true });
    }
  },
});

Deno.test("install checks the target: another family refused, missing features warned or refused", async () => {
  const base = await Deno.makeTempDir({ prefix: "sp-target-" });
  const file = (name: string) => ({
    header: { name: `${BIG_PFX}/${name}`, type: "file" as const, mode: 0o644 },
    body: new TextEncoder().encode("x"),
  });
  const cli = (mirror: string, root: string, ...extra: string[]) => {
    const out = new Deno.Command(join(REPO_ROOT, "node_modules/.bin/deno"), {
      args: [
        "run",
        "-A",
        join(REPO_ROOT, "cli.ts"),
        "install",
        "-m",
        mirror,
        "--root",
        root,
        "--allow-unsigned",
        ...extra,
        "big",
      ],
      stderr: "piped",
    }).outputSync();
    return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
  };
  try {
    const other = Deno.build.arch === "x86_64"
      ? { name: "neoverse_v1", vendor: "ARM", features: ["asimd", "sve"], parents: ["neoverse_n1"] }
      : { name: "haswell", vendor: "GenuineIntel", features: ["avx2"], parents: ["ivybridge"] };
    await writeMirror(join(base, "m1"), [file("a")], [], [], {
      platform: "linux",
      platform_os: "debian12",
      target: other,
    });
    const r1 = cli(join(base, "m1"), join(base, "r1"));
    assert.equal(r1.code, 1, r1.stderr);
    assert.match(
      r1.stderr,
      /big@1\.0\/aaaaaaa is built for (aarch64|x86_64) \(target "\w+"\), not this/,
    );
    assert.ok(!existsSync(join(base, "r1")));
    assert.equal(cli(join(base, "m1"), join(base, "r1"), "--check-target", "none").code, 0);
    // Same family, a feature no CPU has: a warning naming it; an error with --check-target host.
    const fam = Deno.build.arch === "x86_64" ? "x86_64" : "aarch64";
    await writeMirror(join(base, "m2"), [file("a")], [], [], {
      platform: "linux",
      platform_os: "debian12",
      target: { name: "future", vendor: "", features: ["nosuchfeature9"], parents: [fam] },
    });
    const r2 = cli(join(base, "m2"), join(base, "r2"));
    assert.equal(r2.code, 0, r2.stderr);
    assert.match(r2.stderr, /CPU features nosuchfeature9 this machine lacks/);
    const r3 = cli(join(base, "m2"), join(base, "r3"), "--check-target", "host");
    assert.equal(r3.code, 1, r3.stderr);
    assert.match(r3.stderr, /nosuchfeature9.*--check-target warn/);
    assert.ok(!existsSync(join(base, "r3")));
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});
