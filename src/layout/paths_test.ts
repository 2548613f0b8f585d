import assert from "node:assert/strict";
import { isDagHash, politeFilename } from "./paths.ts";
import {
  parseV3KeyManifestPath,
  parseV3SpecManifestPath,
  v3BlobPath,
  v3IndexManifestPath,
  v3SpecManifestPath,
} from "./v3/paths.ts";
import { parseV2SpecPath, v2SpecPath, v2Stem, v2TarballPath } from "./v2/paths.ts";

const H = "rqh2vuf6fqwkmipzgi2wjx352mq7y7ez";

Deno.test("politeFilename replaces what Spack replaces", () => {
  assert.equal(politeFilename("git.abc=1.2"), "git.abc_1.2");
  assert.equal(politeFilename("a b/c:d+e-f_g.h"), "a_b_c_d+e-f_g.h");
  assert.ok(isDagHash(H));
  assert.ok(!isDagHash(H.toUpperCase()));
});

Deno.test("v3 paths: spec manifests, blobs, index views, and parsing them back", () => {
  const p = v3SpecManifestPath("libelf", "0.8.13", H);
  assert.equal(p, `v3/manifests/spec/libelf/libelf-0.8.13-${H}.spec.manifest.json`);
  assert.deepEqual(parseV3SpecManifestPath(p), { name: "libelf", version: "0.8.13", hash: H });
  assert.equal(
    v3SpecManifestPath("foo", "git.abc=main", H),
    `v3/manifests/spec/foo/foo-git.abc_main-${H}.spec.manifest.json`,
  );
  assert.equal(parseV3SpecManifestPath("v3/manifests/spec/x/y.json"), undefined);
  const sum = "59141e49bd05abe40639360cd9422020513781270a3461083fee0eba2af62ca0";
  assert.equal(v3BlobPath(sum), `blobs/sha256/59/${sum}`);
  assert.throws(() => v3BlobPath(sum.toUpperCase()), /not lowercase/);
  assert.throws(() => v3BlobPath("../../etc/passwd"));
  assert.equal(v3IndexManifestPath("dev"), "v3/manifests/index/dev/index.manifest.json");
  assert.throws(() => v3IndexManifestPath("../x"));
  assert.equal(
    parseV3KeyManifestPath(
      "v3/manifests/key/CBAB2C1032C6FF5078049EC0FA61D50C12CAD37E.key.manifest.json",
    ),
    "CBAB2C1032C6FF5078049EC0FA61D50C12CAD37E",
  );
});

Deno.test("v2 paths follow Spack's stem and directory rules", () => {
  const n = {
    arch: "test-debian6-core2",
    compilerName: "gcc",
    compilerVersion: "10.2.1",
    name: "libelf",
    version: "0.8.13",
    hash: H,
  };
  assert.equal(v2Stem(n), `test-debian6-core2-gcc-10.2.1-libelf-0.8.13-${H}`);
  assert.equal(v2SpecPath(n, true), `build_cache/${v2Stem(n)}.spec.json.sig`);
  assert.equal(
    v2TarballPath(n),
    `build_cache/test-debian6-core2/gcc-10.2.1/libelf-0.8.13/${v2Stem(n)}.spack`,
  );
  assert.deepEqual(parseV2SpecPath(v2SpecPath(n, false)), {
    stem: v2Stem(n),
    hash: H,
    kind: "json",
  });
  assert.equal(parseV2SpecPath(`build_cache/x/${v2Stem(n)}.spec.json`), undefined);
});
