/**
 * push and update-index on a tree spackle installed from the v3 fixture mirror: the pushed
 * mirror reads back entry by entry, a second push skips, `--only package` pushes one spec, two
 * pushers at once leave valid entries, and update-index of Spack's own mirror gives Spack's
 * index records.
 */
import assert from "node:assert/strict";
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { fixture, HAVE_FIXTURES, REPO_ROOT } from "./_fixtures.ts";
import { sha256Hex } from "../src/core/digest.ts";
import { FileStore } from "../src/storage/file.ts";
import { V3Reader } from "../src/layout/v3/reader.ts";
import { V3Writer } from "../src/layout/v3/writer.ts";
import { updateIndex } from "../src/push/update_index.ts";
import { dbSource, pushSpecs, specsToPush } from "../src/push/push.ts";
import { main } from "../src/cli/app.ts";
import { collect } from "../src/core/streams.ts";

const HASHES = {
  fooapp: "iicodpd5dtmh5ijlchcoay25frkfkyuv",
  libfoo: "qxhycnksfks5oi3io5ajg3tr2xzvfrso",
  libzz: "irttwv2f4rzhheesshe6vsy3xw3ezk2h",
  foodata: "ddk74w2rurmyrizbswgi6fj4tk2losox",
};

function store(dir: string) {
  return new FileStore(pathToFileURL(dir + "/"));
}

async function tree(base: string): Promise<string> {
  const root = join(base, "tree");
  const code = await main([
    "--quiet",
    "install",
    "-m",
    fixture("v3-unsigned"),
    "--root",
    root,
    "--allow-unsigned",
    "fooapp",
  ]);
  assert.equal(code, 0);
  return root;
}

Deno.test({
  name: "push from an install database writes entries V3Reader reads; a second push skips them",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const base = await Deno.makeTempDir({ prefix: "sp-push-" });
    try {
      const root = await tree(base);
      const mirror = join(base, "mirror");
      const src = dbSource(root);
      const { items, missing } = specsToPush(src.query("fooapp"), src);
      assert.deepEqual(missing, []);
      // Spack's order: breadth-first from the root, reversed; the external build tool left out
      assert.deepEqual(items.map((i) => i.dag.nodes.get(i.hash)!.name), [
        "libzz",
        "libfoo",
        "foodata",
        "fooapp",
      ]);
      const w = new V3Writer(store(mirror));
      const res = await pushSpecs(items, src, w, { jobs: 2 });
      assert.deepEqual(res.map((r) => r.status), ["pushed", "pushed", "pushed", "pushed"]);
      const idx = await updateIndex(w);
      assert.equal(idx.specs, 4);
      const reader = new V3Reader(store(mirror));
      const refs = [];
      for await (const r of reader.list()) refs.push(r);
      assert.deepEqual(
        refs.filter((r) => r.inBuildcache).map((r) => r.hash).sort(),
        Object.values(HASHES).sort(),
      );
      for (const h of Object.values(HASHES)) {
        const e = await reader.entry(h, { requireSignature: false });
        assert.equal(e.spec.root, h);
        const bytes = await collect(await e.openTarball());
        assert.equal(bytes.length, e.tarball.size);
      }
      const again = await pushSpecs(items, src, w, {});
      assert.deepEqual(again.map((r) => r.status), ["skipped", "skipped", "skipped", "skipped"]);
      const forced = await pushSpecs(items.slice(0, 1), src, w, { force: true });
      assert.deepEqual(forced.map((r) => r.status), ["pushed"]);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "push's spec queries are index/query.ts's: version ranges, %compiler, arch=, /hash",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const base = await Deno.makeTempDir({ prefix: "sp-push-" });
    try {
      const root = await tree(base);
      const src = dbSource(root);
      const hashes = (q: string) => src.query(q).map((p) => p.hash);
      const [foo] = src.query("libfoo");
      const node = foo.dag.nodes.get(foo.hash)!;
      const v = node.version;
      // `@V:` is a range (the old matcher compared "V:" with the version as text).
      assert.deepEqual(hashes(`libfoo@${v}:`), [HASHES.libfoo]);
      assert.deepEqual(hashes(`libfoo@:${v}`), [HASHES.libfoo]);
      assert.deepEqual(hashes("libfoo@99999:"), []);
      assert.deepEqual(hashes(`libfoo/${HASHES.libfoo.slice(0, 6)}`), [HASHES.libfoo]);
      const a = node.arch!;
      assert.deepEqual(hashes(`libfoo arch=${a.platform}-${a.platformOs}-${a.target}`), [
        HASHES.libfoo,
      ]);
      assert.deepEqual(hashes("libfoo target=no_such_target"), []);
      assert.deepEqual(hashes("libfoo %no_such_compiler"), []);
      assert.throws(() => src.query(" "), /empty/);
      assert.throws(() => src.query("libfoo@"), /Invalid spec query/);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "push --only package pushes the spec alone; --only dependencies its dependencies alone",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const base = await Deno.makeTempDir({ prefix: "sp-push-" });
    try {
      const root = await tree(base);
      const src = dbSource(root);
      const req = src.query("libfoo");
      assert.deepEqual(
        specsToPush(req, src, "package").items.map((i) => i.hash),
        [HASHES.libfoo],
      );
      assert.deepEqual(
        specsToPush(req, src, "dependencies").items.map((i) => i.hash),
        [HASHES.libzz],
      );
      const mirror = join(base, "m");
      const code = await main([
        "--json",
        "push",
        "--unsigned",
        "--root",
        root,
        "--only",
        "package",
        mirror,
        "libfoo",
      ]);
      assert.equal(code, 0);
      const r = new V3Reader(store(mirror));
      // no index yet: the reader lists the manifests
      assert.equal(
        (await r.entry(HASHES.libfoo, { requireSignature: false })).spec.root,
        HASHES.libfoo,
      );
      await assert.rejects(r.entry(HASHES.libzz, { requireSignature: false }));
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "two pushers of the same specs at once both succeed and leave valid entries",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const base = await Deno.makeTempDir({ prefix: "sp-push-" });
    try {
      const root = await tree(base);
      const mirror = join(base, "m");
      const src = dbSource(root);
      const { items } = specsToPush(src.query("fooapp"), src);
      const [a, b] = await Promise.all([
        pushSpecs(items, src, new V3Writer(store(mirror)), { force: true }),
        pushSpecs(items, src, new V3Writer(store(mirror)), { force: true }),
      ]);
      for (const r of [...a, ...b]) assert.equal(r.status, "pushed", r.error);
      const reader = new V3Reader(store(mirror));
      for (const h of Object.values(HASHES)) {
        const e = await reader.entry(h, { requireSignature: false });
        assert.equal((await collect(await e.openTarball())).length, e.tarball.size);
      }
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "update-index of Spack's own v3 mirror gives the records of Spack's index",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const base = await Deno.makeTempDir({ prefix: "sp-ui-" });
    try {
      const m = join(base, "m");
      cpSync(fixture("v3-signed"), m, { recursive: true });
      const want = JSON.parse(
        readFileSync(join(m, "v3/manifests/index/index.manifest.json"), "utf8"),
      ).data[0].checksum as string;
      const spackIndex = JSON.parse(
        readFileSync(join(m, "blobs/sha256", want.slice(0, 2), want), "utf8"),
      );
      const res = await updateIndex(new V3Writer(store(m)), { keys: true });
      assert.equal(res.specs, 4);
      assert.deepEqual(res.skipped, []);
      assert.deepEqual(res.keys, ["4D782899AF51B814967AC6DE6EE87675E657CA38"]);
      const mine = JSON.parse(
        readFileSync(
          join(m, "blobs/sha256", res.index.checksum.slice(0, 2), res.index.checksum),
          "utf8",
        ),
      );
      assert.deepEqual(mine, spackIndex);
      // the key index blob is byte-identical to Spack's
      const keysManifest = JSON.parse(
        readFileSync(join(m, "v3/manifests/key/keys.manifest.json"), "utf8"),
      );
      const orig = JSON.parse(
        readFileSync(fixture("v3-signed", "v3/manifests/key/keys.manifest.json"), "utf8"),
      );
      assert.deepEqual(keysManifest, orig);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name:
    "CLI: push without a key or --unsigned and an empty keyring is a usage error; keys publish; migrate exit 3 when entries are left",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const base = await Deno.makeTempDir({ prefix: "sp-push-cli-" });
    const old = Deno.env.get("SPACKLE_KEYRING");
    Deno.env.set("SPACKLE_KEYRING", join(base, "keyring"));
    try {
      const root = await tree(base);
      const mirror = join(base, "m");
      assert.equal(await main(["--quiet", "push", "--root", root, mirror, "fooapp"]), 2);
      assert.throws(() => Deno.statSync(mirror));

      const fpr = "4D782899AF51B814967AC6DE6EE87675E657CA38";
      assert.equal(
        await main(["--quiet", "keys", "publish", mirror, fixture("keys", "oracle-test.pub.asc")]),
        0,
      );
      const keys = await new V3Reader(store(mirror)).keys();
      assert.deepEqual(keys.map((k) => k.fingerprint), [fpr]);
      assert.match(keys[0].armored, /BEGIN PGP PUBLIC KEY BLOCK/);

      // signed by a key neither the keyring nor --trust holds: every entry left, exit 3
      const dst = join(base, "migrated");
      const code = await main([
        "--quiet",
        "migrate",
        "--key",
        fixture("keys", "oracle-test.sec.asc"),
        fixture("v2-signed"),
        dst,
      ]);
      assert.equal(code, 3);
      let manifests = 0;
      try {
        for (const _ of Deno.readDirSync(join(dst, "v3/manifests/spec"))) manifests++;
      } catch { /* nothing written */ }
      assert.equal(manifests, 0);
      // trusted: migrated and signed, exit 0
      const ok = await main([
        "--quiet",
        "migrate",
        "--trust",
        fixture("keys", "oracle-test.pub.asc"),
        "--key",
        fixture("keys", "oracle-test.sec.asc"),
        fixture("v2-signed"),
        dst,
      ]);
      assert.equal(ok, 0);
      const e = await new V3Reader(store(dst)).entry("4f3mj2wxorbeenbr5pmk7n7mkat6dlff", {
        requireSignature: false,
      });
      assert.equal(e.signed, true);
    } finally {
      if (old === undefined) Deno.env.delete("SPACKLE_KEYRING");
      else Deno.env.set("SPACKLE_KEYRING", old);
      rmSync(base, { recursive: true, force: true });
    }
  },
});

/** Every spec manifest names blobs that exist with the size and checksum it records. */
function assertConsistent(mirror: string): number {
  let n = 0;
  let dirs: string[] = [];
  try {
    dirs = [...Deno.readDirSync(join(mirror, "v3/manifests/spec"))].map((e) => e.name);
  } catch {
    return 0;
  }
  for (const d of dirs) {
    for (const f of Deno.readDirSync(join(mirror, "v3/manifests/spec", d))) {
      if (!f.name.endsWith(".spec.manifest.json")) continue;
      const m = JSON.parse(readFileSync(join(mirror, "v3/manifests/spec", d, f.name), "utf8"));
      for (const r of m.data) {
        const b = readFileSync(join(mirror, "blobs/sha256", r.checksum.slice(0, 2), r.checksum));
        assert.equal(b.length, r.contentLength, f.name);
        assert.equal(sha256Hex(b), r.checksum, f.name);
      }
      n++;
    }
  }
  return n;
}

Deno.test({
  name: "a push killed at any moment leaves no manifest naming a missing blob; a rerun completes",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const base = await Deno.makeTempDir({ prefix: "sp-push-kill-" });
    try {
      const root = await tree(base);
      const app = join(root, "linux-x86_64", `fooapp-3.0-${HASHES.fooapp}`);
      // make the packing take a while: 48 MB that deflate has to work on
      const big = new Uint8Array(48 << 20);
      for (let i = 0; i < big.length; i += 65536) {
        crypto.getRandomValues(big.subarray(i, i + 65536));
      }
      for (let i = 0; i < big.length; i++) big[i] = 0x21 + (big[i] % 64);
      Deno.writeFileSync(join(app, "share-big.bin"), big);
      const mirror = join(base, "m");
      const run = () =>
        new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-A",
            join(REPO_ROOT, "cli.ts"),
            "--quiet",
            "push",
            "--unsigned",
            "-j",
            "4",
            "--root",
            root,
            mirror,
            "fooapp",
          ],
          stdout: "null",
          stderr: "null",
        }).spawn();
      const counts: number[] = [];
      for (const ms of [300, 600, 900, 1300, 1800, 2500]) {
        rmSync(mirror, { recursive: true, force: true });
        const p = run();
        await new Promise((r) => setTimeout(r, ms));
        try {
          p.kill("SIGKILL");
        } catch { /* already done */ }
        await p.status;
        counts.push(assertConsistent(mirror));
      }
      // some kills landed while manifests were still missing
      assert.ok(counts.some((c) => c < 4), `manifests after each kill: ${counts}`);
      const done = await run().status;
      assert.equal(done.code, 0);
      assert.equal(assertConsistent(mirror), 4);
      // The working directory of the push killed last is gone too.
      assert.deepEqual(readdirSync(mirror).filter((n) => n.startsWith(".spackle-push-")), []);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "prefix directories: the store root is the ancestor holding the database",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const { storeRootOf, prefixSource } = await import("../src/push/push.ts");
    const base = await Deno.makeTempDir({ prefix: "sp-push-" });
    try {
      const root = await tree(base);
      const app = join(root, "linux-x86_64", `fooapp-3.0-${HASHES.fooapp}`);
      assert.equal(storeRootOf(app), root);
      const src = prefixSource([app]);
      assert.equal(src.roots[0].root, root);
      assert.ok(src.find(HASHES.libzz)?.prefix.endsWith(`libzz-1.2.3-${HASHES.libzz}`));
      assert.equal(src.find("a".repeat(32)), undefined);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "push removes working directories that killed pushes on this host left in the mirror",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const base = await Deno.makeTempDir({ prefix: "sp-push-left-" });
    try {
      const root = await tree(base);
      const mirror = join(base, "m");
      // A pid that no longer runs: a process that has exited.
      const dead = new Deno.Command("true").spawn();
      await dead.status;
      const host = hostname();
      const names = {
        dead: `.spackle-push-${host}-${dead.pid}-abc123`,
        live: `.spackle-push-${host}-${Deno.pid}-def456`,
        other: `.spackle-push-elsewhere.example.org-${dead.pid}-ghi789`,
      };
      for (const n of Object.values(names)) {
        mkdirSync(join(mirror, n), { recursive: true });
        writeFileSync(join(mirror, n, "part.tar.gz"), "partial");
      }
      const code = await main(["--quiet", "push", "--unsigned", "--root", root, mirror, "libzz"]);
      assert.equal(code, 0);
      const left = readdirSync(mirror).filter((n) => n.startsWith(".spackle-push-")).sort();
      assert.deepEqual(left, [names.other, names.live].sort());
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  },
});

Deno.test("V3Writer places a packed file into a file store without reading it, and again after a prune took it; other stores read it", async () => {
  const { parseSpecJson } = await import("../src/spec/parse.ts");
  const { MemoryStore } = await import("../src/storage/memory.ts");
  const { v3BlobPath } = await import("../src/layout/v3/paths.ts");
  const base = await Deno.makeTempDir({ prefix: "sp-push-place-" });
  try {
    const hash = "a".repeat(32);
    const arch = { platform: "linux", platform_os: "debian12", target: "x86_64" };
    const node = { name: "hello", version: "1.0", arch, hash };
    const dag = parseSpecJson(JSON.stringify({ spec: { _meta: { version: 5 }, nodes: [node] } }));
    const bytes = new TextEncoder().encode("not really a tarball, but bytes with a digest\n");
    const descriptor = {
      mediaType: "application/vnd.spack.install.v2.tar+gzip",
      checksum: sha256Hex(bytes),
      checksumAlgorithm: "sha256" as const,
      size: bytes.length,
      compression: "gzip" as const,
    };
    const file = join(base, "packed.tar.gz");
    writeFileSync(file, bytes);
    const unreadable = () => Promise.reject(new Error("the file store must not read the body"));
    const mirror = join(base, "m");
    const w = new V3Writer(store(mirror));
    const blob = join(mirror, v3BlobPath(descriptor.checksum));
    // A corrupt blob of the right size is there: checked, then replaced by the placed file.
    mkdirSync(join(blob, ".."), { recursive: true });
    writeFileSync(blob, new Uint8Array(bytes.length));
    const res = await w.push(dag, { descriptor, file, open: unreadable }, { force: true });
    assert.equal(res.skipped, false);
    assert.deepEqual(new Uint8Array(readFileSync(blob)), bytes);
    assert.deepEqual(new Uint8Array(readFileSync(file)), bytes, "the packed file stays");
    assert.deepEqual(readdirSync(join(blob, "..")), [descriptor.checksum], "no temporary left");
    // A prune deleted the blob after the manifest was written: settle places it again.
    rmSync(blob);
    await w.settle([{ d: descriptor, body: unreadable, file }]);
    assert.deepEqual(new Uint8Array(readFileSync(blob)), bytes);
    // A store that takes no files reads the body, checked against the descriptor.
    const mem = new MemoryStore();
    const open = () => Promise.resolve(new Blob([bytes]).stream());
    await new V3Writer(mem).push(dag, { descriptor, file, open }, { force: true });
    assert.deepEqual(await collect(await mem.read(v3BlobPath(descriptor.checksum))), bytes);
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});
