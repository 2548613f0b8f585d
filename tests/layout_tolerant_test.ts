/**
 * The layout layer's tolerant readers (what `verify` is built on): on what real Spack wrote they
 * read what the strict readers read; on damaged input they return the problem instead of
 * throwing; anything that is not damage (a bug, an abort) is still thrown.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipBytes } from "../src/core/gzip.ts";
import { inspectIndex, inspectSpecHashes } from "../src/layout/inspect.ts";
import { inspectOciConfig, inspectOciManifest } from "../src/layout/oci/inspect.ts";
import { inspectSignedText } from "../src/layout/signed_metadata.ts";
import { tolerantly } from "../src/layout/tolerant.ts";
import {
  classifyV2Listing,
  inspectV2SpecFile,
  v2NamesOfRef,
  v2StemNames,
} from "../src/layout/v2/inspect.ts";
import { v2SpecPath, v2TarballPath } from "../src/layout/v2/paths.ts";
import {
  classifyV3Listing,
  inspectV3Manifest,
  v3BlobOf,
  v3SpecManifestNames,
} from "../src/layout/v3/inspect.ts";
import { fixture, HAVE_FIXTURES } from "./_fixtures.ts";

const t = (name: string, fn: () => void | Promise<void>) =>
  Deno.test({ name, ignore: !HAVE_FIXTURES, fn });

/** libzz in the v2 fixtures and in the v3 ones (built apart). */
const LIBZZ_HASH = "wpn7enmyybr42zre26cp2uw6drmtmqqv";
const LIBZZ_V3_HASH = "irttwv2f4rzhheesshe6vsy3xw3ezk2h";

function listing(root: string, dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const e of readdirSync(join(root, rel), { withFileTypes: true })) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(p);
      else out.push(p);
    }
  };
  walk(dir.replace(/\/$/, ""));
  return out.sort();
}

t("v3: a signed spec manifest Spack wrote reads with its records and blob paths", () => {
  const root = fixture("v3-signed");
  const l = classifyV3Listing(listing(root, "v3/"));
  assert.ok(l.hasLayoutJson && l.hasIndex);
  assert.equal(l.specManifests.length, 4);
  assert.deepEqual(l.indexViews, []);
  const path = l.specManifests.find((p) => p.includes("/libzz/"))!;
  assert.deepEqual(v3SpecManifestNames(path), {
    name: "libzz",
    version: "1.2.3",
    hash: LIBZZ_V3_HASH,
  });
  const m = inspectV3Manifest(readFileSync(join(root, path), "utf8"), path);
  assert.ok(m.ok);
  assert.equal(m.value.records.length, 2);
  for (const r of [m.value.tarball!, m.value.spec!]) {
    assert.ok(existsSync(join(root, v3BlobOf(r))), v3BlobOf(r));
  }
  const spec = readFileSync(join(root, v3BlobOf(m.value.spec!)));
  const hashes = inspectSpecHashes(spec, "spec blob");
  assert.ok(hashes.ok && hashes.value[0] === LIBZZ_V3_HASH);
  // The index, through its manifest.
  const im = inspectV3Manifest(
    readFileSync(join(root, "v3/manifests/index/index.manifest.json"), "utf8"),
    "index manifest",
  );
  assert.ok(im.ok && im.value.index);
  const idx = inspectIndex(readFileSync(join(root, v3BlobOf(im.value.index))), 3, "index");
  assert.ok(idx.ok);
  assert.ok(idx.value.refs.some((r) => r.hash === LIBZZ_V3_HASH && r.inBuildcache));
});

t("v3: damaged manifests, signatures, indexes and specs are problems, not throws", () => {
  const root = fixture("v3-unsigned");
  const [path] = classifyV3Listing(listing(root, "v3/")).specManifests;
  const good = JSON.parse(readFileSync(join(root, path), "utf8"));
  const md5 = structuredClone(good);
  md5.data[0].checksumAlgorithm = "md5";
  md5.data[0].checksum = "0123456789abcdef0123456789abcdef";
  for (
    const [text, why] of [
      ["{", /Cannot parse/],
      [JSON.stringify({ ...good, version: 2 }), /version is 2, only 3/],
      [JSON.stringify(md5), /not supported \(only "sha256"\)/],
      ["-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n{}\n", /no signature/],
    ] as const
  ) {
    const m = inspectV3Manifest(text, `"${path}"`);
    assert.ok(!m.ok);
    assert.match(m.problem, why);
  }
  const noSig = inspectSignedText("-----BEGIN PGP SIGNED MESSAGE-----\n", "x");
  assert.ok(!noSig.ok && /truncated/.test(noSig.problem));
  assert.deepEqual(inspectSignedText("{}", "x"), {
    ok: true,
    value: { body: "{}", signed: false },
  });
  const idx = inspectIndex(new TextEncoder().encode('{"database": 7}'), 3, "index");
  assert.ok(!idx.ok);
  const bad = inspectSpecHashes(gzipBytes("not json"), "spec blob");
  assert.ok(!bad.ok && /spec blob|JSON/.test(bad.problem));
  const trunc = inspectSpecHashes(gzipBytes('{"spec": {}}').slice(0, 12), "spec blob");
  assert.ok(!trunc.ok && /Cannot decompress spec blob/.test(trunc.problem));
});

t("v2: a listing, the names an index implies, spec files", () => {
  const root = fixture("v2-signed");
  const paths = listing(root, "build_cache/");
  const stem = `linux-debian12-x86_64-gcc-12.2.0-libzz-1.2.3-${LIBZZ_HASH}`;
  // Both spec files: the signed one is preferred, as Spack does.
  const l = classifyV2Listing([
    ...paths,
    `build_cache/${stem}.spec.json`,
    "build_cache/x.spec.yaml",
  ]);
  assert.ok(l.hasIndex && l.hasIndexHash);
  assert.equal(l.specFiles.size, 4);
  assert.equal(l.specFiles.get(stem), `build_cache/${stem}.spec.json.sig`);
  assert.ok(l.tarballs.get(stem)!.endsWith(`/libzz-1.2.3/${stem}.spack`));
  assert.deepEqual(l.legacy, [{ path: "build_cache/x.spec.yaml", stem: "x" }]);
  assert.deepEqual(v2StemNames(stem), {
    hash: LIBZZ_HASH,
    label: `linux-debian12-x86_64-gcc-12.2.0-libzz-1.2.3/${LIBZZ_HASH}`,
  });
  const ref = {
    name: "libzz",
    version: "1.2.3",
    hash: LIBZZ_HASH,
    arch: "linux-debian12-x86_64",
    compiler: "gcc@12.2.0",
    inBuildcache: true,
    layout: 2 as const,
  };
  const names = v2NamesOfRef(ref)!;
  assert.equal(v2SpecPath(names, true), l.specFiles.get(stem));
  assert.equal(v2TarballPath(names), l.tarballs.get(stem));
  assert.equal(v2NamesOfRef({ ...ref, arch: undefined }), undefined);
  assert.equal(v2NamesOfRef({ ...ref, compiler: undefined })!.compilerName, "none");

  const sig = readFileSync(join(root, l.specFiles.get(stem)!), "utf8");
  const body = inspectSignedText(sig, "spec file");
  assert.ok(body.ok && body.value.signed);
  const file = inspectV2SpecFile(body.value.body);
  assert.ok(file.ok && /^[0-9a-f]{64}$/.test(file.value.tarballSha256!));
  const none = inspectV2SpecFile('{"spec": {}}');
  assert.ok(none.ok && none.value.tarballSha256 === undefined);
  assert.ok(!inspectV2SpecFile("{ nope").ok);
});

Deno.test("oci: damaged image manifests and configs are problems", async () => {
  const enc = (s: string) => new TextEncoder().encode(s);
  const m = inspectOciManifest(enc('{"layers": []}'), "manifest");
  assert.ok(!m.ok && /not an image manifest/.test(m.problem));
  const index = inspectOciManifest(
    enc('{"mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []}'),
    "manifest",
  );
  assert.ok(!index.ok && index.error.name === "UnsupportedError");
  const notJson = await inspectOciConfig(enc("{ nope"), "config");
  assert.ok(!notJson.ok && notJson.error instanceof SyntaxError);
  const noSpec = await inspectOciConfig(enc('{"rootfs": {}}'), "config");
  assert.ok(!noSpec.ok && /holds no "spec"/.test(noSpec.problem));
});

Deno.test("tolerant mode returns damage only: other errors are thrown", () => {
  assert.throws(() => tolerantly(() => (undefined as unknown as { a: 1 }).a), TypeError);
  const abort = new DOMException("stopped", "AbortError");
  assert.throws(() =>
    tolerantly(() => {
      throw abort;
    }), (e: unknown) => e === abort);
});
