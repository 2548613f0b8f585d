/**
 * Times `parseIndexDb` (the index reader `spackle list` uses through the layout readers) on a
 * Spack index: read, `JSON.parse`, light records, a few queries, one DAG; heap and RSS after.
 * Generate an index with `scripts/gen_index.ts`.
 *
 *   deno run -A scripts/bench_index_db.ts INDEX.json        (or: bun scripts/bench_index_db.ts ...)
 *
 * @module
 */
import { readFileSync } from "node:fs";
import process from "node:process";
import { parseIndexDb } from "../src/index/db.ts";

const file = process.argv[2];
if (!file) {
  console.error("usage: bench_index_db.ts INDEX.json");
  process.exit(2);
}
const ms = (t: number) => `${t.toFixed(1)} ms`;
const mb = (b: number) => `${(b / 1048576).toFixed(0)} MB`;

let t = performance.now();
const text = readFileSync(file, "utf8");
const tRead = performance.now() - t;
t = performance.now();
const doc = JSON.parse(text);
const tJson = performance.now() - t;
t = performance.now();
const db = parseIndexDb(doc, file);
const tRecords = performance.now() - t;

const last = db.records[db.records.length - 1];
const lines: string[] = [];
for (
  const q of [
    { name: last.name },
    { hashPrefix: last.hash.slice(0, 7) },
    { arch: last.arch?.split("-").pop() },
    { version: `${last.version.split(".")[0]}.*` },
  ]
) {
  t = performance.now();
  const n = db.query(q).length;
  lines.push(`  query ${JSON.stringify(q)}: ${n} records in ${ms(performance.now() - t)}`);
}
t = performance.now();
const dag = db.dag(last.hash)!;
const tDag = performance.now() - t;
const mem = process.memoryUsage();
console.log(
  `index: ${file} (${mb(text.length)}, ${db.records.length} records, DB v${db.dbVersion})`,
);
console.log(
  `  read ${ms(tRead)}, JSON.parse ${ms(tJson)}, records ${ms(tRecords)}`,
);
console.log(lines.join("\n"));
console.log(`  dag(${last.name}): ${dag.nodes.size} nodes in ${ms(tDag)}`);
console.log(`  heap ${mb(mem.heapUsed)}, rss ${mb(mem.rss)}`);
