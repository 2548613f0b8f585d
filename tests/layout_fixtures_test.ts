/**
 * The layout readers against every fixture mirror written by real Spack, read in place:
 * detection, every entry listed, every tarball verified, signatures, tampering, legacy data.
 */
import assert from "node:assert/strict";
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createHash } from "node:crypto";
import { Buffer } from "node:buffer";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fixture, HAVE_FIXTURES } from "./_fixtures.ts";
import {
  IntegrityError,
  NotFoundError,
  SignatureError,
  UnsupportedError,
  UsageError,
} from "../src/errors.ts";
import { drain } from "../src/core/streams.ts";
import {
  detectLayout,
  openMirror,
  openMirrors,
  parseManifest,
  serializeManifest,
  V2Reader,
  V3Reader,
} from "../src/layout/mod.ts";
import { FileStore } from "../src/storage/file.ts";
import { storeUrl } from "../src/storage/open.ts";
import { verifierFromKeys } from "../src/mirror/trusted_keys.ts";
import type { Verifier } from "../src/sign/types.ts";

const t = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, ignore: !HAVE_FIXTURES, fn });

const FPR = "4D782899AF51B814967AC6DE6EE87675E657CA38";
const TESTDATA_FPR = "CBAB2C1032C6FF5078049EC0FA61D50C12CAD37E";

interface FixtureMirror {
  layout: string;
  signed: boolean;
  specs: { name: string; version: string; hash: string }[];
  files: { path: string; size: number; sha256: string }[];
}
const facts = HAVE_FIXTURES
  ? JSON.parse(readFileSync(fixture("fixtures.json"), "utf8")) as {
    mirrors: Record<string, FixtureMirror>;
  }
  : { mirrors: {} };

let verifier: Verifier | undefined;
async function trusted(): Promise<Verifier> {
  verifier ??= await verifierFromKeys([
    await readFile(fixture("keys/oracle-test.pub.asc"), "utf8"),
  ]);
  return verifier;
}

function store(dir: string): FileStore {
  return new FileStore(storeUrl(dir));
}

for (const [name, m] of Object.entries(facts.mirrors)) {
  t(`${name}: every spec Spack pushed is listed, fetched and its tarball verified`, async () => {
    const mirror = await openMirror(fixture(name), { verifier: await trusted() });
    const listed = (await mirror.list()).filter((r) => r.inBuildcache);
    assert.deepEqual(
      listed.map((r) => r.hash).sort(),
      m.specs.map((s) => s.hash).sort(),
    );
    const sizes = new Map(m.files.map((f) => [f.path, f]));
    for (const ref of listed) {
      const e = await mirror.entry(ref.hash, { requireSignature: m.signed });
      assert.equal(e.spec.root, ref.hash);
      assert.equal(e.signed, m.signed);
      if (m.signed) assert.equal(e.signedBy, FPR);
      const file = sizes.get(e.tarballPath);
      assert.ok(file, `tarball ${e.tarballPath} is a fixture file`);
      assert.equal(e.tarball.checksum, file.sha256);
      assert.equal(await drain(await e.openTarball()), file.size);
    }
  });
}

t("detectLayout finds v3, v2 and both (v3 preferred, with a note)", async () => {
  assert.deepEqual((await detectLayout(store(fixture("v3-unsigned")))).versions, [3]);
  assert.deepEqual((await detectLayout(store(fixture("v2-unsigned")))).versions, [2]);
  const both = await detectLayout(store(fixture("v2-migrated-unsigned")));
  assert.deepEqual(both.versions, [3, 2]);
  assert.equal(both.primary, 3);
  assert.match(both.notes.join("\n"), /both layouts.*reading v3/);
  await assert.rejects(detectLayout(store(fixture("keys"))), NotFoundError);
});

t("a migrated mirror reads the same specs through its v2 part", async () => {
  const v2 = await openMirror(fixture("v2-migrated-signed"), {
    layout: 2,
    verifier: await trusted(),
  });
  const e = await v2.entry("wpn7enmyybr42zre26cp2uw6drmtmqqv");
  assert.equal(e.ref.layout, 2);
  assert.match(e.metadataPath, /\.spec\.json\.sig$/);
  assert.equal(e.signedBy, FPR);
  await drain(await e.openTarball());
});

t("unsigned metadata is refused unless allowed, naming the spec", async () => {
  for (const name of ["v3-unsigned", "v2-unsigned"]) {
    const mirror = await openMirror(fixture(name), { verifier: await trusted() });
    const ref = await mirror.resolve("libzz");
    await assert.rejects(
      mirror.entry(ref.hash),
      (e: unknown) => e instanceof SignatureError && e.message.includes(`libzz@1.2.3/${ref.hash}`),
    );
    const e = await mirror.entry(ref.hash, { requireSignature: false });
    assert.equal(e.signed, false);
  }
});

t("signed metadata is refused without trusted keys and with an untrusted key", async () => {
  const none = await openMirror(fixture("v3-signed"));
  const ref = await none.resolve("libfoo");
  await assert.rejects(none.entry(ref.hash), /no trusted keys/);
  const other = await verifierFromKeys([
    await readFile(
      fixture(`spack-testdata/v2_layout/signed/build_cache/_pgp/${TESTDATA_FPR}.pub`),
      "utf8",
    ),
  ]);
  for (const name of ["v3-signed", "v2-signed"]) {
    const mirror = await openMirror(fixture(name), { verifier: other });
    const r = await mirror.resolve("libfoo");
    await assert.rejects(mirror.entry(r.hash), SignatureError);
    const e = await mirror.entry(r.hash, { requireSignature: false });
    assert.equal(e.signed, true);
    assert.equal(e.signedBy, undefined);
    assert.ok(e.signatureError);
  }
});

t("a tampered tarball, spec blob, signed manifest or spec file is detected", async () => {
  const root = await mkdtemp(join(tmpdir(), "spackle-layout-"));
  try {
    for (const name of ["v3-signed", "v2-signed"]) {
      await cp(fixture(name), join(root, name), { recursive: true });
    }
    const v3 = await openMirror(join(root, "v3-signed"), { verifier: await trusted() });
    const zz = await v3.entry("irttwv2f4rzhheesshe6vsy3xw3ezk2h");
    const tar = join(root, "v3-signed", zz.tarballPath);
    const b = await readFile(tar);
    b[100] ^= 1;
    await writeFile(tar, b);
    await assert.rejects(
      (async () => drain(await zz.openTarball()))(),
      (e: unknown) => e instanceof IntegrityError && /digest is/.test(e.message),
    );
    // A truncated tarball fails on size.
    await writeFile(tar, b.subarray(0, 100));
    await assert.rejects((async () => drain(await zz.openTarball()))(), /100 bytes, 6296/);
    // Spec blob.
    const specBlob = join(root, "v3-signed", zz.specBlob!.path);
    const sb = await readFile(specBlob);
    sb[sb.length - 1] ^= 1;
    await writeFile(specBlob, sb);
    const fresh = await openMirror(join(root, "v3-signed"), { verifier: await trusted() });
    await assert.rejects(fresh.entry(zz.ref.hash), IntegrityError);
    // Signed manifest: change the tarball size inside the signed text.
    const foo = await fresh.resolve("libfoo");
    const mpath = join(root, "v3-signed", (await fresh.entry(foo.hash)).metadataPath);
    const text = await readFile(mpath, "utf8");
    await writeFile(mpath, text.replace('"contentLength":9619', '"contentLength":9618'));
    await assert.rejects(fresh.entry(foo.hash), SignatureError);
    // v2 spec file with a changed checksum.
    const v2 = await openMirror(join(root, "v2-signed"), { verifier: await trusted() });
    const e2 = await v2.entry("tcq2csxmnjxahfpduueheif2uyawyn6r");
    const spath = join(root, "v2-signed", e2.metadataPath);
    const st = await readFile(spath, "utf8");
    await writeFile(spath, st.replace(/"hash":"9f6345cd/, '"hash":"0f6345cd'));
    await assert.rejects(v2.entry(e2.ref.hash), SignatureError);
    // v2 tarball.
    const t2 = join(root, "v2-signed", e2.tarballPath);
    const tb = await readFile(t2);
    tb[tb.length - 1] ^= 1;
    await writeFile(t2, tb);
    await assert.rejects((async () => drain(await e2.openTarball()))(), IntegrityError);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

t("every v3 fixture manifest re-serialises to its exact bytes", async () => {
  for (const [name, m] of Object.entries(facts.mirrors)) {
    for (const f of m.files.filter((f) => f.path.endsWith(".manifest.json"))) {
      const text = await readFile(fixture(name, f.path), "utf8");
      const body = text.startsWith("-----BEGIN PGP SIGNED MESSAGE-----")
        ? text.split("\n\n").slice(1).join("\n\n").split("\n-----BEGIN PGP SIGNATURE-----")[0]
        : text;
      assert.equal(serializeManifest(parseManifest(body)), body, `${name}/${f.path}`);
    }
  }
});

t("keys published by v3 and v2 mirrors are listed with their fingerprints", async () => {
  for (const name of ["v3-signed", "v2-signed", "v2-migrated-signed"]) {
    const keys = await (await openMirror(fixture(name))).keys();
    assert.deepEqual(keys.map((k) => k.fingerprint), [FPR]);
    assert.match(keys[0].armored, /BEGIN PGP PUBLIC KEY BLOCK/);
  }
  assert.deepEqual(await (await openMirror(fixture("v3-unsigned"))).keys(), []);
});

t("resolve: name, name@version, /hash, name/hash; ambiguous and missing queries", async () => {
  const mirror = await openMirror(fixture("v3-unsigned"));
  assert.equal((await mirror.resolve("libzz")).hash, "irttwv2f4rzhheesshe6vsy3xw3ezk2h");
  assert.equal((await mirror.resolve("libfoo@2")).hash, "qxhycnksfks5oi3io5ajg3tr2xzvfrso");
  assert.equal((await mirror.resolve("/iicod")).name, "fooapp");
  assert.equal((await mirror.resolve("foodata/ddk")).name, "foodata");
  await assert.rejects(
    mirror.resolve("/"),
    (e: unknown) => e instanceof UsageError || e instanceof NotFoundError,
  );
  await assert.rejects(
    mirror.resolve("@1:"),
    (e: unknown) =>
      e instanceof UsageError && /matches 4 specs/.test(e.message) &&
      /fooapp@3\.0\/iicodpd/.test(e.message),
  );
  await assert.rejects(mirror.resolve("zlib"), NotFoundError);
  await assert.rejects(mirror.resolve("foo-buildtool"), /not in the cache/);
});

t(
  "closure: link and run dependencies, dependencies first, externals and build deps left out",
  async () => {
    for (const name of ["v3-unsigned", "v2-unsigned"]) {
      const mirror = await openMirror(fixture(name));
      const root = await mirror.resolve("fooapp");
      const c = await mirror.closure(root.hash);
      const names = c.map((r) => r.name);
      assert.deepEqual([...names].sort(), ["fooapp", "foodata", "libfoo", "libzz"]);
      assert.equal(names.at(-1), "fooapp");
      assert.ok(names.indexOf("libzz") < names.indexOf("libfoo"));
      assert.ok(c.every((r) => r.inBuildcache));
    }
  },
);

t("openMirrors searches in order and lists each hash once", async () => {
  const set = await openMirrors([fixture("v2-unsigned"), fixture("v2-migrated-unsigned")]);
  const refs = await set.list("libzz");
  assert.equal(refs.length, 1);
  assert.match(refs[0].mirror!, /v2-unsigned\/$/);
  const e = await set.entry(refs[0].hash, { requireSignature: false });
  assert.equal(e.ref.layout, 2);
  const both = await openMirrors([fixture("v3-unsigned"), fixture("v2-unsigned")]);
  assert.equal((await both.list("libzz")).length, 2);
  await assert.rejects(both.resolve("libzz"), /matches 2 specs/);
  assert.equal(
    (await both.entry("wpn7enmyybr42zre26cp2uw6drmtmqqv", { requireSignature: false })).ref.name,
    "libzz",
  );
});

t("Spack's v2 test data: DB v8 index, spec format 5 names (none-none), its own key", async () => {
  const keyText = await readFile(
    fixture(`spack-testdata/v2_layout/signed/build_cache/_pgp/${TESTDATA_FPR}.pub`),
    "utf8",
  );
  const v = await verifierFromKeys([keyText]);
  const reader = new V2Reader(store(fixture("spack-testdata/v2_layout/signed")), { verifier: v });
  const refs = [];
  for await (const r of reader.list()) if (r.inBuildcache) refs.push(r);
  assert.equal(refs.length, 6);
  for (const r of refs) {
    const e = await reader.entry(r.hash);
    assert.equal(e.signedBy, TESTDATA_FPR);
    await drain(await e.openTarball());
  }
  const wrapper = refs.find((r) => r.name === "compiler-wrapper")!;
  assert.match((await reader.entry(wrapper.hash)).tarballPath, /\/none-none\//);
});

t("legacy .spec.yaml entries are listed and reported as unsupported, saying why", async () => {
  const mirror = await openMirror(fixture("spack-testdata/legacy_yaml"));
  assert.match(mirror.notes().join("\n"), /legacy "\.spec\.yaml"/);
  const [ref] = await mirror.list();
  assert.equal(ref.name, "zlib");
  assert.equal(ref.version, "1.2.11");
  await assert.rejects(
    mirror.entry(ref.hash, { requireSignature: false }),
    (e: unknown) => e instanceof UnsupportedError && /Spack 0\.17 or older/.test(e.message),
  );
});

t("a v3 mirror without an index is listed from its manifests when the store can list", async () => {
  const root = await mkdtemp(join(tmpdir(), "spackle-layout-"));
  try {
    await cp(fixture("v3-unsigned"), root, { recursive: true });
    await rm(join(root, "v3/manifests/index"), { recursive: true });
    const reader = new V3Reader(store(root));
    const refs = [];
    for await (const r of reader.list()) refs.push(r);
    assert.deepEqual(refs.map((r) => r.name), ["fooapp", "foodata", "libfoo", "libzz"]);
    assert.match(reader.notes.join("\n"), /no index/);
    const e = await reader.entry(refs[0].hash, { requireSignature: false });
    assert.equal(e.spec.root, refs[0].hash);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

t("an entry pushed without an index update is still fetched by hash, with a note", async () => {
  const root = await mkdtemp(join(tmpdir(), "spackle-layout-"));
  try {
    const zz3 = "irttwv2f4rzhheesshe6vsy3xw3ezk2h";
    const zz2 = "wpn7enmyybr42zre26cp2uw6drmtmqqv";
    // v3: an index blob without libzz, and the index manifest pointing at it.
    await cp(fixture("v3-unsigned"), join(root, "v3"), { recursive: true });
    const mpath = join(root, "v3/v3/manifests/index/index.manifest.json");
    const manifest = parseManifest(await readFile(mpath, "utf8"));
    const rec = manifest.data[0];
    const db = JSON.parse(
      await readFile(join(root, "v3/blobs/sha256", rec.checksum.slice(0, 2), rec.checksum), "utf8"),
    );
    delete db.database.installs[zz3];
    const text = JSON.stringify(db);
    const sum = createHash("sha256").update(text).digest("hex");
    await mkdir(join(root, "v3/blobs/sha256", sum.slice(0, 2)), { recursive: true });
    await writeFile(join(root, "v3/blobs/sha256", sum.slice(0, 2), sum), text);
    await writeFile(
      mpath,
      serializeManifest({
        version: 3,
        data: [{ ...rec, checksum: sum, contentLength: Buffer.byteLength(text) }],
      }),
    );
    // v2: index.json without libzz.
    await cp(fixture("v2-unsigned"), join(root, "v2"), { recursive: true });
    const ipath = join(root, "v2/build_cache/index.json");
    const db2 = JSON.parse(await readFile(ipath, "utf8"));
    delete db2.database.installs[zz2];
    await writeFile(ipath, JSON.stringify(db2));
    for (const [dir, hash] of [["v3", zz3], ["v2", zz2]]) {
      const mirror = await openMirror(join(root, dir));
      assert.ok(!(await mirror.list()).some((r) => r.hash === hash));
      const e = await mirror.entry(hash, { requireSignature: false });
      assert.equal(e.ref.name, "libzz");
      await drain(await e.openTarball());
      assert.match(
        mirror.notes().join("\n"),
        /libzz@1\.2\.3\/\w+ is in the mirror but not in its index/,
      );
      const c = await mirror.closure(hash, { requireSignature: false });
      assert.deepEqual(c.map((r) => [r.name, r.inBuildcache]), [["libzz", true]]);
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

t("an index view is read instead of the main index when asked for", async () => {
  const root = await mkdtemp(join(tmpdir(), "spackle-layout-"));
  try {
    await cp(fixture("v3-unsigned"), root, { recursive: true });
    const main = parseManifest(
      await readFile(join(root, "v3/manifests/index/index.manifest.json"), "utf8"),
    );
    const rec = main.data[0];
    const db = JSON.parse(
      await readFile(join(root, "blobs/sha256", rec.checksum.slice(0, 2), rec.checksum), "utf8"),
    );
    for (const h of Object.keys(db.database.installs)) {
      if (db.database.installs[h].spec.name !== "foodata") delete db.database.installs[h];
    }
    const text = JSON.stringify(db);
    const sum = createHash("sha256").update(text).digest("hex");
    await mkdir(join(root, "blobs/sha256", sum.slice(0, 2)), { recursive: true });
    await writeFile(join(root, "blobs/sha256", sum.slice(0, 2), sum), text);
    await mkdir(join(root, "v3/manifests/index/dev"), { recursive: true });
    await writeFile(
      join(root, "v3/manifests/index/dev/index.manifest.json"),
      serializeManifest({
        version: 3,
        data: [{ ...rec, checksum: sum, contentLength: Buffer.byteLength(text) }],
      }),
    );
    const view = await openMirror(root, { view: "dev" });
    assert.deepEqual((await view.list()).map((r) => r.name), ["foodata"]);
    assert.equal((await (await openMirror(root)).list()).length, 5);
    await assert.rejects(
      (await openMirror(root, { view: "nosuch" })).list(),
      NotFoundError,
    );
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

t(
  "spec files of formats 2, 4 and 5 give name, version, compiler, arch and typed dependencies",
  async () => {
    const { parseSpecDoc } = await import("../src/layout/_spec.ts");
    const { clearsignedBody } = await import("../src/layout/signed_metadata.ts");
    const f2 = parseSpecDoc(JSON.parse(clearsignedBody(
      await readFile(
        fixture(
          "spack-testdata/signed_json/linux-ubuntu18.04-haswell-gcc-8.4.0-zlib-1.2.12-g7otk5dra3hifqxej36m5qzm7uyghqgb.spec.json.sig",
        ),
        "utf8",
      ),
    )));
    assert.equal(f2.formatVersion, 2);
    const z = f2.nodes.get(f2.root)!;
    assert.deepEqual([z.name, z.version, z.compiler, z.arch?.target], [
      "zlib",
      "1.2.12",
      { name: "gcc", version: "8.4.0" },
      "haswell",
    ]);
    const v2 = await openMirror(fixture("v2-unsigned"));
    const e4 = await v2.entry("tcq2csxmnjxahfpduueheif2uyawyn6r", { requireSignature: false });
    assert.equal(e4.spec.formatVersion, 4);
    const foo = e4.spec.nodes.get(e4.spec.root)!;
    assert.deepEqual(
      foo.dependencies.map((d) => `${d.name}:${d.depTypes.join(",")}:${d.virtuals.join(",")}`)
        .sort(),
      ["foo-buildtool:build:", "libzz:build,link:zz-api"],
    );
    assert.equal(e4.spec.nodes.get("4bu6m7whcnhrmflqhv56nxa7bapfblqg")?.external?.path, "/usr");
    const v3 = await openMirror(fixture("v3-unsigned"));
    const e5 = await v3.entry("iicodpd5dtmh5ijlchcoay25frkfkyuv", { requireSignature: false });
    assert.equal(e5.spec.formatVersion, 5);
    assert.equal(e5.spec.nodes.size, 5);
    assert.equal(e5.spec.buildcacheLayoutVersion, 2);
  },
);

t("a v2 index.json.hash that does not match index.json is noted, not fatal", async () => {
  const root = await mkdtemp(join(tmpdir(), "spackle-layout-"));
  try {
    await cp(fixture("v2-unsigned"), root, { recursive: true });
    const fresh = await openMirror(root);
    await fresh.list();
    assert.ok(!fresh.notes().some((n) => n.includes("stale")));
    await writeFile(join(root, "build_cache/index.json.hash"), "0".repeat(64));
    const mirror = await openMirror(root);
    assert.equal((await mirror.list()).length, 5);
    assert.match(mirror.notes().join("\n"), /index\.json\.hash" says "0{64}".*stale hash file/);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
