/**
 * Uploads a directory tree to an s3:// URL with the S3 store (multipart above its threshold),
 * or copies it to another directory through the file store, and prints one JSON line: files,
 * bytes, seconds. Used by scripts/bench_s3.
 *
 *   bun scripts/bench_s3_upload.ts DIR s3://bucket/prefix|/path/to/dir
 */
import { readdirSync, statSync } from "node:fs";
import { open } from "node:fs/promises";
import { join, relative } from "node:path";
import process from "node:process";
import { openStore } from "../src/storage/open.ts";
import type { Store } from "../src/storage/store.ts";

const [dir, target] = process.argv.slice(2);
if (!dir || !target) {
  console.error("usage: bench_s3_upload.ts DIR TARGET");
  process.exit(2);
}
const store = await openStore(target, { writable: true }) as Store;
if (target.startsWith("s3://")) await (store as any).createBucket();
const files: string[] = [];
const walk = (d: string) => {
  for (const e of readdirSync(d, { withFileTypes: true })) {
    const p = join(d, e.name);
    if (e.isDirectory()) walk(p);
    else if (e.isFile()) files.push(p);
  }
};
walk(dir);
let bytes = 0;
const t0 = performance.now();
let next = 0;
await Promise.all(Array.from({ length: 4 }, async () => {
  while (next < files.length) {
    const p = files[next++];
    const size = statSync(p).size;
    const fh = await open(p);
    await store.write(relative(dir, p), fh.readableWebStream() as ReadableStream<Uint8Array>, {
      size,
    });
    await fh.close();
    bytes += size;
  }
}));
const secs = (performance.now() - t0) / 1000;
console.log(JSON.stringify({ files: files.length, bytes, seconds: Number(secs.toFixed(3)) }));
