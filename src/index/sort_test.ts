import assert from "node:assert/strict";
import { sortRecords, sortRecordsByCollator } from "./sort.ts";

/** mulberry32: deterministic cases. */
function rng(s: number): () => number {
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const rand = rng(19);
const from = (chars: string, min: number, max: number) => {
  let s = "";
  const n = min + Math.floor(rand() * (max - min + 1));
  for (let i = 0; i < n; i++) s += chars[Math.floor(rand() * chars.length)];
  return s;
};

/** Records with clashing prefixes, every keyed character, digit runs of many lengths. */
function cases(n: number) {
  const names = Array.from({ length: 60 }, () => from("abz019-_.+", 0, 6));
  const versions = Array.from({ length: 60 }, () => {
    const parts = Array.from(
      { length: 1 + Math.floor(rand() * 4) },
      () => rand() < 0.7 ? String(Math.floor(rand() * 1200)) : from("abcrz-_+", 1, 3),
    );
    return parts.join(from(".-_+", 1, 1));
  });
  versions.push("", "develop", "main", "1.2", "1.2.0", "1.10", "1.9", "10", "9a", "9-", "1_2");
  return Array.from({ length: n }, (_, i) => ({
    name: names[Math.floor(rand() * names.length)],
    version: versions[Math.floor(rand() * versions.length)],
    hash: from("abcdefghijklmnopqrstuvwxyz234567", 0, 3),
    i,
  }));
}

Deno.test("sortRecords: keyed order is the collator's over random names, versions and hashes", () => {
  for (let round = 0; round < 5; round++) {
    const recs = cases(4000);
    assert.deepEqual(
      sortRecords(recs).map((r) => r.i),
      sortRecordsByCollator(recs).map((r) => r.i),
    );
  }
});

Deno.test("sortRecords: text the keys cannot order is sorted by the collator", () => {
  const recs = [
    { name: "Zlib", version: "1", hash: "a" },
    { name: "zlib", version: "01", hash: "a" },
    { name: "zlib", version: "1", hash: "a" },
    { name: "älib", version: "1", hash: "a" },
    { name: "a lib", version: "1", hash: "a" },
  ];
  assert.deepEqual(sortRecords(recs), sortRecordsByCollator(recs));
  assert.equal(sortRecords([]).length, 0);
});

Deno.test("sortRecords: versions by number, then hash", () => {
  const recs = [
    { name: "b", version: "1.10", hash: "c" },
    { name: "b", version: "1.9", hash: "d" },
    { name: "a-b", version: "2", hash: "z" },
    { name: "b", version: "1.9", hash: "a" },
    { name: "a", version: "develop", hash: "a" },
  ];
  assert.deepEqual(sortRecords(recs).map((r) => `${r.name}@${r.version}/${r.hash}`), [
    "a@develop/a",
    "a-b@2/z",
    "b@1.9/a",
    "b@1.9/d",
    "b@1.10/c",
  ]);
});
