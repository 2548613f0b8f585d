/** `spackle list`, `show` and `download` as a user runs them, on the fixture mirrors. */
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { fixture, HAVE_FIXTURES } from "./_fixtures.ts";
import { runCli } from "./_cli.ts";

function spackle(...args: string[]) {
  return runCli(args, { env: { SPACKLE_KEYRING: join(tmpdir(), "spackle-no-keyring-here") } });
}

const t = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, ignore: !HAVE_FIXTURES, fn });

const KEY = () => fixture("keys/oracle-test.pub.asc");

t("list prints a table of the cached specs; --json has mirrors and specs", async () => {
  const r = await spackle("list", "-m", fixture("v3-unsigned"));
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split("\n");
  assert.equal(lines.length, 4);
  assert.match(lines[0], /^fooapp\s+3\.0\s+iicodpd\s+linux-debian12-x86_64\s+-$/);
  const j = await spackle(
    "--json",
    "list",
    "-m",
    fixture("v2-migrated-unsigned"),
    "-a",
    "libzz",
    "foo-buildtool",
  );
  assert.equal(j.code, 0, j.stderr);
  const doc = JSON.parse(j.stdout);
  assert.deepEqual(doc.mirrors[0].layouts, [3, 2]);
  assert.deepEqual(
    doc.specs.map((s: { name: string; inBuildcache: boolean }) => `${s.name}:${s.inBuildcache}`),
    ["foo-buildtool:false", "libzz:true"],
  );
  assert.equal(doc.specs[1].hash, "wpn7enmyybr42zre26cp2uw6drmtmqqv");
  assert.equal(doc.specs[1].compiler, "gcc@12.2.0");
});

t("show prints blobs, signature status and the dependency tree with types", async () => {
  const r = await spackle("show", "-m", fixture("v3-signed"), "-k", KEY(), "fooapp");
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^fooapp@3\.0\/iicodpd5dtmh5ijlchcoay25frkfkyuv$/m);
  assert.match(r.stdout, /signature:\s+verified by 4D782899AF51B814967AC6DE6EE87675E657CA38$/m);
  assert.match(
    r.stdout,
    /7710 bytes\) sha256:4590a986d375a913d79b7f5d89235ea5cbde27eed5e499e0d936385755da68da/,
  );
  assert.match(r.stdout, /\|-- \[run\] foodata@1\.0\/ddk74w2/);
  assert.match(r.stdout, /dag hash:\s+matches the spec/);
  assert.match(r.stdout, /\[build\] foo-buildtool@1\.0\/f57lmd4 \[external\]/);
  assert.match(r.stdout, /\[build,link\] virtuals=zz-api libzz@1\.2\.3\/irttwv2/);
});

t(
  "show displays unsigned metadata as unsigned (exit 0: reading is not trusting), also in --json",
  async () => {
    const r = await spackle("show", "-m", fixture("v2-unsigned"), "libzz");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^libzz@1\.2\.3\/wpn7enmyybr42zre26cp2uw6drmtmqqv$/m);
    assert.match(r.stdout, /signature:\s+unsigned$/m);
    const j = await spackle(
      "--json",
      "show",
      "-m",
      fixture("v2-unsigned"),
      "--allow-unsigned",
      "libzz",
    );
    assert.equal(j.code, 0, j.stderr);
    const doc = JSON.parse(j.stdout);
    assert.equal(doc.name, "libzz");
    assert.equal(doc.layout, 2);
    assert.deepEqual(doc.signature, {
      status: "unsigned",
      signed: false,
      verified: false,
      fingerprint: null,
      keyIds: [],
      error: null,
    });
    assert.equal(doc.substitution, null);
    assert.equal(doc.tarball.size, 6439);
    assert.equal(doc.spec.formatVersion, 4);
    assert.equal(doc.spec.nodes[0].compiler, "gcc@12.2.0");
    assert.deepEqual(
      doc.spec.nodes.map((n: { name: string; inMirrors: boolean }) => `${n.name}:${n.inMirrors}`),
      ["libzz:true"],
    );
    assert.equal(doc.spec.nodes[0].dagHash.ok, true);
  },
);

t("an ambiguous SPEC lists the candidates and exits 2", async () => {
  const r = await spackle("show", "-m", fixture("v3-unsigned"), "--allow-unsigned", "@1:");
  assert.equal(r.code, 2);
  assert.match(r.stderr, /matches 4 specs/);
  assert.match(r.stderr, /libzz@1\.2\.3\/irttwv2/);
});

t(
  "download --deps fetches and verifies blobs into a directory laid out like the mirror",
  async () => {
    const to = await mkdtemp(join(tmpdir(), "spackle-dl-"));
    try {
      const r = await spackle(
        "--json",
        "download",
        "-m",
        fixture("v3-signed"),
        "-k",
        KEY(),
        "libfoo",
        "--deps",
        "--to",
        to,
      );
      assert.equal(r.code, 0, r.stderr);
      const doc = JSON.parse(r.stdout);
      assert.deepEqual(doc.specs.map((s: { name: string }) => s.name), ["libzz", "libfoo"]);
      for (const s of doc.specs) {
        assert.equal(s.files.length, 3);
        for (const f of s.files) {
          const bytes = await readFile(join(to, f.path));
          assert.equal(bytes.length, f.size);
          const orig = await readFile(fixture("v3-signed", f.path));
          assert.deepEqual(bytes, orig);
          if (f.sha256) assert.equal(createHash("sha256").update(bytes).digest("hex"), f.sha256);
        }
      }
      assert.ok((await stat(join(to, "v3/manifests/spec/libzz"))).isDirectory());
      assert.deepEqual(
        (await readdir(join(to, "blobs/sha256"))).length,
        4,
      );
    } finally {
      await rm(to, { recursive: true, force: true });
    }
  },
);

t("download of a v2 entry writes the spec file and the .spack", async () => {
  const to = await mkdtemp(join(tmpdir(), "spackle-dl-"));
  try {
    const r = await spackle(
      "download",
      "-m",
      fixture("v2-signed"),
      "-k",
      KEY(),
      "foodata",
      "--to",
      to,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /1 spec, .* into /);
    const sig =
      "build_cache/linux-debian12-x86_64-gcc-12.2.0-foodata-1.0-4yj2rrbd6ea3pckoo5dpnndfcijjd2yc.spec.json.sig";
    assert.deepEqual(await readFile(join(to, sig)), await readFile(fixture("v2-signed", sig)));
    const tar =
      "build_cache/linux-debian12-x86_64/gcc-12.2.0/foodata-1.0/linux-debian12-x86_64-gcc-12.2.0-foodata-1.0-4yj2rrbd6ea3pckoo5dpnndfcijjd2yc.spack";
    assert.equal((await stat(join(to, tar))).size, (await stat(fixture("v2-signed", tar))).size);
  } finally {
    await rm(to, { recursive: true, force: true });
  }
});

t("an unknown mirror name is a usage error", async () => {
  const r = await spackle("list", "-m", "nosuchmirrorname");
  assert.equal(r.code, 2);
  assert.match(r.stderr, /Unknown mirror "nosuchmirrorname"/);
});

t("show trusts the keys of --keyring (one <FINGERPRINT>.asc file per key)", async () => {
  const dir = await mkdtemp(join(tmpdir(), "spackle-keyring-"));
  try {
    await writeFile(
      join(dir, "4D782899AF51B814967AC6DE6EE87675E657CA38.asc"),
      await readFile(KEY()),
    );
    const r = await spackle(
      "--json",
      "show",
      "-m",
      fixture("v2-signed"),
      "--keyring",
      dir,
      "libfoo",
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      JSON.parse(r.stdout).signature.fingerprint,
      "4D782899AF51B814967AC6DE6EE87675E657CA38",
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

t("show marks dependencies that no given mirror holds", async () => {
  const to = await mkdtemp(join(tmpdir(), "spackle-dl-"));
  try {
    const d = await spackle(
      "download",
      "-m",
      fixture("v3-unsigned"),
      "--allow-unsigned",
      "libfoo",
      "--to",
      to,
    );
    assert.equal(d.code, 0, d.stderr);
    const r = await spackle("show", "-m", to, "--allow-unsigned", "libfoo");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /libzz@1\.2\.3\/irttwv2 \[not in the mirrors\]/);
    assert.doesNotMatch(r.stdout, /libfoo@2\.0\/qxhycnk \[not in the mirrors\]/);
    const both = await spackle(
      "show",
      "-m",
      to,
      "-m",
      fixture("v3-unsigned"),
      "--allow-unsigned",
      "libfoo",
    );
    assert.doesNotMatch(both.stdout, /not in the mirrors/);
  } finally {
    await rm(to, { recursive: true, force: true });
  }
});

t(
  "of several mirrors, one that cannot be opened is skipped with a warning; all failing is an error",
  async () => {
    const gone = join(tmpdir(), "spackle-no-mirror-here");
    const r = await spackle("list", "-m", gone, "-m", fixture("v3-unsigned"));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim().split("\n").length, 4);
    assert.match(
      r.stderr,
      /warning: mirror \S+spackle-no-mirror-here skipped: Cannot open the mirror "\S+": no such directory/,
    );
    const j = await spackle("--json", "list", "-m", gone, "-m", fixture("v3-unsigned"));
    assert.equal(j.code, 0, j.stderr);
    const doc = JSON.parse(j.stdout);
    assert.equal(doc.specs.length, 4);
    assert.equal(doc.skipped.length, 1);
    assert.equal(doc.skipped[0].mirror, gone);
    assert.equal(doc.skipped[0].error.code, "not_found");
    const none = await spackle("list", "-m", gone, "-m", gone + "-2");
    assert.equal(none.code, 1);
    assert.match(none.stderr, /error: Cannot open the mirror "\S+": no such directory/);
    // A single mirror that cannot be opened is an error, never a warning.
    const one = await spackle("list", "-m", gone);
    assert.equal(one.code, 1);
  },
);

t("--connect-timeout and SPACKLE_CONNECT_TIMEOUT bound the wait for a silent server", async () => {
  // A server that accepts connections and never answers.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const accepting = (async () => {
    try {
      for await (const c of listener) conns.push(c);
    } catch { /* closed */ }
  })();
  const url = `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}/mirror`;
  try {
    const r = await spackle("--connect-timeout", "0.2", "list", "-m", url);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /No response within 200 ms for http:\/\/127\.0\.0\.1:\d+\/mirror\//);
    const bad = await spackle("--connect-timeout", "soon", "list", "-m", url);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--connect-timeout takes a number of seconds/);
  } finally {
    listener.close();
    for (const c of conns) c.close();
    await accepting;
  }
});

t(
  "download whose tarball is corrupt or missing leaves nothing in the target directory",
  async () => {
    const mirror = await mkdtemp(join(tmpdir(), "sp-dl-mirror-"));
    const base = await mkdtemp(join(tmpdir(), "sp-dl-"));
    try {
      await new Deno.Command("cp", { args: ["-a", fixture("v3-unsigned") + "/.", mirror] })
        .output();
      // libfoo's tarball (a dependency of fooapp): one byte changed.
      const blob = join(
        mirror,
        "blobs/sha256/66/668d1a36b7d4a007b7e1d92bd8fbf69a30569cc2c56008551f4c464c87a2894c",
      );
      const data = await readFile(blob);
      data[data.length - 12] ^= 0xff;
      await writeFile(blob, data);
      const to = join(base, "dl");
      const r = await spackle(
        "download",
        "-m",
        mirror,
        "--allow-unsigned",
        "--deps",
        "-j",
        "1",
        "fooapp",
        "--to",
        to,
      );
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /668d1a36/);
      await assert.rejects(stat(to), "the target directory was not left behind");
      // An existing target keeps only what it had.
      await writeFile(join(base, "keep"), "x");
      const r2 = await spackle(
        "download",
        "-m",
        mirror,
        "--allow-unsigned",
        "--deps",
        "fooapp",
        "--to",
        base,
      );
      assert.equal(r2.code, 1, r2.stderr);
      assert.deepEqual((await readdir(base)).sort(), ["keep"]);
      // A missing tarball: the same.
      await rm(blob);
      const r3 = await spackle(
        "download",
        "-m",
        mirror,
        "--allow-unsigned",
        "libfoo",
        "--to",
        base,
      );
      assert.equal(r3.code, 1, r3.stderr);
      assert.deepEqual((await readdir(base)).sort(), ["keep"]);
    } finally {
      await rm(mirror, { recursive: true, force: true });
      await rm(base, { recursive: true, force: true });
    }
  },
);
