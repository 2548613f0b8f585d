import assert from "node:assert/strict";
import { UsageError } from "../errors.ts";
import {
  compareVersions,
  filterRecords,
  matchesQuery,
  parseQuery,
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
