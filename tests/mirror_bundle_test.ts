/**
 * bundle round trip: a bundle of one spec's closure (from the signed fixture) is read in place
 * as a mirror, verifies clean, and syncs back out into a v3 mirror with identical manifests.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openMirror } from "../src/layout/open.ts";
import { bundleMirror } from "../src/mirror/bundle.ts";
import { syncMirror } from "../src/mirror/sync.ts";
import { verifyMirror } from "../src/mirror/verify.ts";
import { openStore } from "../src/storage/open.ts";
import type { Store } from "../src/storage/store.ts";
import { existsSync } from "node:fs";
import { fixture, HAVE_FIXTURES, ORACLE } from "./_fixtures.ts";

Deno.test({
  name: "a bundle holds a spec's closure, keys and index, reads in place and syncs back out",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const d = await mkdtemp(join(tmpdir(), "spackle-bundle-"));
    try {
      const src = await openStore(fixture("v3-signed"));
      const srcMirror = await openMirror(src);
      const root = await srcMirror.resolve("fooapp");
      const closure = (await srcMirror.closure(root.hash, { requireSignature: false }))
        .filter((r) => r.inBuildcache).map((r) => r.hash).sort();
      const file = join(d, "site.bundle");
      const r = await bundleMirror(src, file, { specs: ["fooapp"] });
      assert.equal(r.path, file);
      assert.equal(r.sync.indexSpecs, closure.length);

      const b = await openMirror(file);
      const refs = (await b.list()).filter((x) => x.inBuildcache).map((x) => x.hash).sort();
      assert.deepEqual(refs, closure);
      assert.equal((await b.keys()).length, 1);
      const entry = await b.entry(root.hash, { requireSignature: false });
      assert.equal(entry.spec.root, root.hash);
      assert.equal(entry.signed, true);

      const report = await verifyMirror(await openStore(file));
      assert.deepEqual(report.findings.filter((f) => f.kind !== "notice"), []);

      const dst = await openStore(join(d, "site"), { writable: true }) as Store;
      const back = await syncMirror(await openStore(file), dst);
      assert.ok(back.entries.every((e) => e.status === "copied"));
      for (const e of back.entries) {
        assert.deepEqual(
          await readFile(join(d, "site", e.path)),
          await readFile(fixture("v3-signed", e.path)),
        );
      }
      const dirs = (await Array.fromAsync(Deno.readDir(d))).map((x) => x.name).sort();
      assert.deepEqual(dirs, ["site", "site.bundle"]);
    } finally {
      await rm(d, { recursive: true, force: true });
    }
  },
});

async function tree(root: string): Promise<Map<string, string>> {
  const { createHash } = await import("node:crypto");
  const out = new Map<string, string>();
  const walk = async (dir: string, rel: string) => {
    for await (const e of Deno.readDir(dir)) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (r === ".spack-db" || e.name === "install_times.json") continue;
      if (e.isDirectory) await walk(join(dir, e.name), r);
      else if (e.isFile) {
        out.set(r, createHash("sha256").update(await readFile(join(dir, e.name))).digest("hex"));
      } else out.set(r, "link:" + await Deno.readLink(join(dir, e.name)));
    }
  };
  await walk(root, "");
  return out;
}

Deno.test({
  name: "install from a bundle (signatures checked) gives the same tree as install from the mirror",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const d = await mkdtemp(join(tmpdir(), "spackle-bundle-"));
    try {
      const { main } = await import("../src/cli/app.ts");
      const key = fixture("keys", "oracle-test.pub.asc");
      const file = join(d, "f.bundle");
      await bundleMirror(await openStore(fixture("v3-signed")), file, { specs: ["fooapp"] });
      const root = join(d, "root");
      const install = (m: string) =>
        main(["--quiet", "install", "fooapp", "-m", m, "--root", root, "-k", key]);
      assert.equal(await install(fixture("v3-signed")), 0);
      const fromMirror = await tree(root);
      await rm(root, { recursive: true });
      assert.equal(await install(file), 0);
      const fromBundle = await tree(root);
      assert.ok(fromMirror.size > 10);
      assert.deepEqual(fromBundle, fromMirror);
    } finally {
      await rm(d, { recursive: true, force: true });
    }
  },
});

const SPACK_V3 = Deno.env.get("SPACKLE_ORACLE_SPACK_V3");
const HAVE_SPACK = HAVE_FIXTURES && !!SPACK_V3 &&
  existsSync(join(SPACK_V3, "bin", "spack")) && existsSync(join(ORACLE, "oracle-install.sh"));

/** Runs real Spack 1.2 (oracle-install.sh) installing fooapp from `mirror`, signatures checked. */
function spackInstalls(mirror: string, dest: string) {
  const out = new Deno.Command("bash", {
    args: [
      join(ORACLE, "oracle-install.sh"),
      "--check-fixtures",
      "--signed",
      "--key",
      fixture("keys", "oracle-test.pub.asc"),
      mirror,
      dest,
    ],
    env: { SPACK_V3: SPACK_V3! },
  }).outputSync();
  const log = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, `oracle-install failed:\n${log.slice(-3000)}`);
}

Deno.test({
  name: "Spack 1.2 installs from a synced mirror and from an unpacked bundle",
  ignore: !HAVE_SPACK,
  async fn() {
    const d = await mkdtemp(join(tmpdir(), "spackle-bundle-oracle-"));
    try {
      const synced = join(d, "synced");
      await syncMirror(
        await openStore(fixture("v3-signed")),
        await openStore(synced, { writable: true }) as Store,
      );
      spackInstalls(synced, join(d, "s1"));
      const file = join(d, "f.bundle");
      await bundleMirror(await openStore(fixture("v3-signed")), file, { specs: ["fooapp"] });
      const unpacked = join(d, "unpacked");
      await Deno.mkdir(unpacked);
      const tar = new Deno.Command("tar", { args: ["-xf", file, "-C", unpacked] }).outputSync();
      assert.equal(tar.code, 0);
      spackInstalls(unpacked, join(d, "s2"));
    } finally {
      await rm(d, { recursive: true, force: true });
    }
  },
});
