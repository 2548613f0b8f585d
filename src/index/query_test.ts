import assert from "node:assert/strict";
import { UsageError } from "../errors.ts";
import {
  compareVersions,
  filterRecords,
  matchesAnyQuery,
  matchesQuery,
  parseQuery,
  parseSpecQuery,
  type QueryableRecord,
  versionSatisfies,
} from "./query.ts";

const RECS: QueryableRecord[] = [
  {
    name: "zlib",
    version: "1.2.11",
    hash: "aaaa2222",
    arch: "linux-debian12-x86_64",
    compiler: "gcc@12.2.0",
  },
  { name: "zlib", version: "1.3", hash: "aabb3333", arch: "linux-rhel8-zen2" },
  {
    name: "zlib",
    version: "1.20",
    hash: "cccc4444",
    arch: { platform: "darwin", platformOs: "sonoma", target: "m1" },
  },
  { name: "libfoo", version: "develop", hash: "dddd5555" },
];

const names = (q: string) => filterRecords(RECS, q).map((r) => `${r.name}@${r.version}`);

Deno.test("parseQuery reads name, version, compiler, hash and arch attributes", () => {
  assert.deepEqual(parseQuery("zlib@1.2: %gcc@12 arch=linux-debian12-x86_64"), {
    text: "zlib@1.2: %gcc@12 arch=linux-debian12-x86_64",
    name: "zlib",
    version: "1.2:",
    compiler: "gcc",
    compilerVersion: "12",
    platform: "linux",
    os: "debian12",
    target: "x86_64",
  });
  assert.deepEqual(parseQuery("zlib/aab"), { text: "zlib/aab", name: "zlib", hashPrefix: "aab" });
  assert.deepEqual(parseQuery("/ Aab".toLowerCase()), { text: "/ aab", hashPrefix: "aab" });
  assert.deepEqual(parseQuery("target = zen2"), { text: "target = zen2", target: "zen2" });
});

Deno.test("parseQuery rejects malformed queries with a UsageError naming the part", () => {
  assert.throws(
    () => parseQuery("zlib/AB1"),
    (e) => e instanceof UsageError && /AB1/.test(e.message),
  );
  assert.throws(
    () => parseQuery("color=red"),
    (e) => e instanceof UsageError && /"color"/.test(e.message),
  );
  assert.throws(() => parseQuery("arch=linux"), UsageError);
  assert.throws(() => parseQuery("zlib bzip2"), UsageError);
});

Deno.test("version constraints follow Spack: prefix, exact, ranges, lists", () => {
  assert.deepEqual(names("zlib@1.2"), ["zlib@1.2.11"]); // not 1.20
  assert.deepEqual(names("zlib@=1.2"), []);
  assert.deepEqual(names("zlib@=1.3"), ["zlib@1.3"]);
  assert.deepEqual(names("zlib@1.3:"), ["zlib@1.3", "zlib@1.20"]);
  assert.deepEqual(names("zlib@:1.3"), ["zlib@1.2.11", "zlib@1.3"]);
  assert.deepEqual(names("zlib@1.2:1.3"), ["zlib@1.2.11", "zlib@1.3"]);
  assert.deepEqual(names("zlib@1.2.11,1.20"), ["zlib@1.2.11", "zlib@1.20"]);
  assert.ok(versionSatisfies("1.4.7", ":1.4"));
  assert.ok(!versionSatisfies("1.5", ":1.4"));
});

Deno.test("compareVersions orders numbers numerically and develop above all numbers", () => {
  assert.ok(compareVersions("1.10", "1.9") > 0);
  assert.ok(compareVersions("1.2", "1.2.1") < 0);
  assert.ok(compareVersions("develop", "999") > 0);
  assert.ok(compareVersions("1.2a", "1.2.0") < 0);
  assert.equal(compareVersions("2.0", "2.0"), 0);
});

Deno.test("hash prefixes, compilers and arch parts match records (arch as text or triple)", () => {
  assert.deepEqual(names("/aa"), ["zlib@1.2.11", "zlib@1.3"]);
  assert.deepEqual(names("zlib/cc"), ["zlib@1.20"]);
  assert.deepEqual(names("libfoo/cc"), []);
  assert.deepEqual(names("%gcc@12:"), ["zlib@1.2.11"]);
  assert.deepEqual(names("%clang"), []);
  assert.deepEqual(names("os=rhel8"), ["zlib@1.3"]);
  assert.deepEqual(names("platform=darwin target=m1"), ["zlib@1.20"]);
  assert.deepEqual(names("arch=linux-debian12-x86_64"), ["zlib@1.2.11"]);
  assert.deepEqual(names("libfoo@develop"), ["libfoo@develop"]);
  assert.equal(filterRecords(RECS, "").length, RECS.length);
  assert.ok(!matchesQuery(RECS[3], parseQuery("os=rhel8")), "no arch never matches an arch filter");
});

// Several specs in one query (list, show, the REPL).

const ref = (
  name: string,
  version: string,
  hash: string,
  arch = "linux-debian12-x86_64",
  compiler?: string,
): QueryableRecord & { inBuildcache: boolean; layout: number } => ({
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

Deno.test("versionSatisfies (list queries) follows Spack's prefix, exact and range rules", () => {
  assert.ok(versionSatisfies("1.2.3", "1.2"));
  assert.ok(!versionSatisfies("1.20", "1.2"));
  assert.ok(versionSatisfies("1.2", "=1.2"));
  assert.ok(!versionSatisfies("1.2.3", "=1.2"));
  assert.ok(versionSatisfies("1.5", "1.2:1.6"));
  assert.ok(versionSatisfies("1.6.2", "1.2:1.6"));
  assert.ok(!versionSatisfies("1.7", "1.2:1.6"));
  assert.ok(versionSatisfies("10", "2:"));
  assert.ok(!versionSatisfies("1.10", ":1.9"));
});

Deno.test("matchesAnyQuery matches any of several specs and every field of one", () => {
  assert.ok(matchesAnyQuery(zz, parseSpecQuery("libzz")));
  assert.ok(matchesAnyQuery(zz, parseSpecQuery("/irttw")));
  assert.ok(matchesAnyQuery(zz, parseSpecQuery("libzz/irttw")));
  assert.ok(!matchesAnyQuery(zz, parseSpecQuery("libzz/abc")));
  assert.ok(matchesAnyQuery(zz, parseSpecQuery("nope libzz@1")));
  assert.ok(matchesAnyQuery(zz, parseSpecQuery("%gcc@12 os=debian12")));
  assert.ok(!matchesAnyQuery(zz, parseSpecQuery("%clang")));
  assert.ok(!matchesAnyQuery(zz, parseSpecQuery("libzz target=aarch64")));
  assert.ok(matchesAnyQuery(zz, parseSpecQuery("arch=linux-debian12-x86_64")));
  assert.ok(matchesAnyQuery(zz, []));
});
