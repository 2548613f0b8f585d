/**
 * Run by tests/storage_bun_test.ts under Bun: reads every file of a fixture mirror through
 * FileStore several times, with garbage collections in between, and prints one JSON line.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { pathToFileURL } from "node:url";
import { collect } from "../src/core/streams.ts";
import { FileStore } from "../src/storage/file.ts";

const root = process.argv[2];
const store = new FileStore(pathToFileURL(root));
const paths: string[] = [];
for await (const p of store.list("")) paths.push(p);
const errors: string[] = [];
let reads = 0;
const gc = (globalThis as { Bun?: { gc(force: boolean): void } }).Bun?.gc;
for (let round = 0; round < 3; round++) {
  await Promise.all(paths.map(async (p) => {
    try {
      const stream = await store.read(p);
      gc?.(true);
      const got = await collect(stream);
      const want = readFileSync(join(root, p));
      if (Buffer.compare(Buffer.from(got), want) !== 0) errors.push(`${p}: bytes differ`);
      reads++;
    } catch (e) {
      errors.push(`${p}: ${(e as Error).message}`);
    }
  }));
  gc?.(true);
}
console.log(
  JSON.stringify({
    runtime: "Bun" in globalThis ? "bun" : "other",
    files: paths.length,
    reads,
    errors,
  }),
);
