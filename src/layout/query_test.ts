import assert from "node:assert/strict";
import { matchesQuery, parseSpecQuery, versionMatches } from "./query.ts";
import type { EntryRef } from "./types.ts";
import { UsageError } from "../errors.ts";

const ref = (
  name: string,
  version: string,
  hash: string,
  arch = "linux-debian12-x86_64",
  compiler?: string,
): EntryRef => ({
  name,
  version,
  hash,
  arch,
  compiler,
  inBuildcache: true,
  layout: 3,
});
const zz = ref(
  "libzz",
  "1.2.3",
  "irttwv2f4rzhheesshe6vsy3xw3ezk2h",
  "linux-debian12-x86_64",
  "gcc@12.2.0",
);

Deno.test("parseSpecQuery reads name, version, hash prefix and attributes", () => {
  assert.deepEqual(parseSpecQuery("libzz@1.2/irt"), [{
    text: "libzz@1.2/irt",
    name: "libzz",
    version: "1.2",
    hashPrefix: "irt",
  }]);
  const [q] = parseSpecQuery(["zlib", "target=x86_64", "%gcc@12"]);
  assert.equal(q.name, "zlib");
  assert.equal(q.target, "x86_64");
  assert.equal(q.compiler, "gcc");
  assert.equal(q.compilerVersion, "12");
  assert.equal(parseSpecQuery("a b /abc").length, 2);
  assert.equal(parseSpecQuery("a b /abc")[1].hashPrefix, "abc");
  assert.equal(parseSpecQuery("/abc /def").length, 2);
  assert.equal(parseSpecQuery("").length, 0);
});

Deno.test("parseSpecQuery refuses bad hashes and unknown attributes", () => {
  assert.throws(() => parseSpecQuery("/ABC"), UsageError);
  assert.throws(() => parseSpecQuery("zlib color=red"), /unknown attribute "color"/);
});

Deno.test("versionMatches follows Spack's prefix, exact and range rules", () => {
  assert.ok(versionMatches("1.2.3", "1.2"));
  assert.ok(!versionMatches("1.20", "1.2"));
  assert.ok(versionMatches("1.2", "=1.2"));
  assert.ok(!versionMatches("1.2.3", "=1.2"));
  assert.ok(versionMatches("1.5", "1.2:1.6"));
  assert.ok(versionMatches("1.6.2", "1.2:1.6"));
  assert.ok(!versionMatches("1.7", "1.2:1.6"));
  assert.ok(versionMatches("10", "2:"));
  assert.ok(!versionMatches("1.10", ":1.9"));
});

Deno.test("matchesQuery matches any of several specs and every field of one", () => {
  assert.ok(matchesQuery(zz, parseSpecQuery("libzz")));
  assert.ok(matchesQuery(zz, parseSpecQuery("/irttw")));
  assert.ok(matchesQuery(zz, parseSpecQuery("libzz/irttw")));
  assert.ok(!matchesQuery(zz, parseSpecQuery("libzz/abc")));
  assert.ok(matchesQuery(zz, parseSpecQuery("nope libzz@1")));
  assert.ok(matchesQuery(zz, parseSpecQuery("%gcc@12 os=debian12")));
  assert.ok(!matchesQuery(zz, parseSpecQuery("%clang")));
  assert.ok(!matchesQuery(zz, parseSpecQuery("libzz target=aarch64")));
  assert.ok(matchesQuery(zz, parseSpecQuery("arch=linux-debian12-x86_64")));
  assert.ok(matchesQuery(zz, []));
});
