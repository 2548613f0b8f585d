import assert from "node:assert/strict";
import { descriptorOf, manifestOf, parseManifest, serializeManifest } from "./manifest.ts";
import { InvalidDataError } from "../errors.ts";
import { MEDIA_TYPES } from "./media_types.ts";

const SPACK_BYTES = `{
"version":3,
"data":[
{
"contentLength":8627,
"mediaType":"application/vnd.spack.install.v2.tar+gzip",
"compression":"gzip",
"checksumAlgorithm":"sha256",
"checksum":"59141e49bd05abe40639360cd9422020513781270a3461083fee0eba2af62ca0"
},
{
"contentLength":915,
"mediaType":"application/vnd.spack.spec.v5+json",
"compression":"gzip",
"checksumAlgorithm":"sha256",
"checksum":"bc17316a0146cae4bbbd800eb0b7d5094528d06841ce6359880cfd339e433050"
}
]
}`;

Deno.test("serializeManifest reproduces Spack's indent=0 bytes from a parsed manifest", () => {
  assert.equal(serializeManifest(parseManifest(SPACK_BYTES)), SPACK_BYTES);
});

Deno.test("manifestOf puts records in Spack's field order", () => {
  const m = manifestOf([{
    mediaType: MEDIA_TYPES.tarball,
    checksum: "59141e49bd05abe40639360cd9422020513781270a3461083fee0eba2af62ca0",
    checksumAlgorithm: "sha256",
    size: 8627,
    compression: "gzip",
  }, {
    mediaType: MEDIA_TYPES.spec,
    checksum: "bc17316a0146cae4bbbd800eb0b7d5094528d06841ce6359880cfd339e433050",
    checksumAlgorithm: "sha256",
    size: 915,
    compression: "gzip",
  }]);
  assert.equal(serializeManifest(m), SPACK_BYTES);
});

Deno.test("parseManifest accepts any formatting and extra fields", () => {
  const m = parseManifest(
    JSON.stringify(
      { version: 3, extra: 1, data: [{ ...JSON.parse(SPACK_BYTES).data[0], x: true }] },
      null,
      2,
    ),
  );
  assert.equal(m.data[0].contentLength, 8627);
});

Deno.test("parseManifest refuses other versions and missing record fields, naming them", () => {
  assert.throws(() => parseManifest('{"version":2,"data":[]}', "m"), /version is 2/);
  assert.throws(
    () =>
      parseManifest(
        '{"version":3,"data":[{"contentLength":1,"mediaType":"x","compression":"none","checksumAlgorithm":"sha256"}]}',
      ),
    (e: unknown) => e instanceof InvalidDataError && /"checksum" is undefined/.test(e.message),
  );
  assert.throws(() => parseManifest("{nope"), InvalidDataError);
});

Deno.test("descriptorOf refuses uppercase checksums and other algorithms", () => {
  const rec = JSON.parse(SPACK_BYTES).data[0];
  assert.equal(descriptorOf(rec).size, 8627);
  assert.throws(() => descriptorOf({ ...rec, checksum: rec.checksum.toUpperCase() }), /lowercase/);
  assert.throws(() => descriptorOf({ ...rec, checksumAlgorithm: "md5" }), /"md5"/);
});
