/**
 * Parses a Spack index (database JSON) and runs a few queries on it, printing time and memory.
 * Generate one with `scripts/gen_index.ts`.
 *
 *   deno run -A scripts/bench_index.ts INDEX.json        (or: bun scripts/bench_index.ts ...)
 *
 * @module
 */
import { readFileSync } from "node:fs";
import process from "node:process";
import { parseIndexDb } from "../src/index/mod.ts";
import { runtimeClosure } from "../src/spec/mod.ts";

const file = process.argv[2];
if (!file) {
  console.error("usage: bench_index.ts INDEX.json");
  process.exit(2);
}
const mb = (b: number) => `${(b / 1048576).toFixed(0)} MB`;
const ms = (t: number) => `${t.toFixed(1)} ms`;
const heap0 = process.memoryUsage().heapUsed;

let t = performance.now();
const text = readFileSync(file, "utf8");
const tRead = performance.now() - t;

t = performance.now();
const idx = parseIndexDb(text, file);
const tParse = performance.now() - t;
const heapParsed = process.memoryUsage().heapUsed;

const last = idx.records[idx.records.length - 1];
const queries = [
  last.name,
  `${last.name}@1:`,
  `/${last.hash.slice(0, 7)}`,
  "os=rhel8 target=zen3",
  "%gcc@12",
];
const results: string[] = [];
for (const round of ["first", "again"]) {
  for (const q of queries) {
    t = performance.now();
    const r = idx.find(q);
    const took = ms(performance.now() - t);
    results.push(`  find ${JSON.stringify(q)} (${round}): ${r.length} records in ${took}`);
  }
}
t = performance.now();
const dag = idx.spec(last.hash);
const closure = runtimeClosure(dag);
const tSpec = performance.now() - t;

const mem = process.memoryUsage();
console.log(
  `index: ${file} (${mb(text.length)} of JSON, ${idx.size} records, DB v${idx.dbVersion})`,
);
console.log(`  read: ${ms(tRead)}, parse + records: ${ms(tParse)}`);
console.log(results.join("\n"));
console.log(
  `  spec(${last.name}) with ${dag.nodes.size} nodes + runtime closure (${closure.length}): ${
    ms(tSpec)
  }`,
);
console.log(
  `  heap after parse: ${mb(heapParsed - heap0)} over start; heap now ${mb(mem.heapUsed)}, rss ${
    mb(mem.rss)
  }`,
);
