/**
 * Run by tests/storage_s3_test.ts under Bun (the executable's runtime): the s3:// store's
 * signing, single and multipart uploads, listing and error mapping against the test server.
 * Prints one JSON line with what it saw.
 */
import process from "node:process";
import { openS3Store } from "../src/storage/s3.ts";

const endpoint = process.env.SPACKLE_TEST_S3_ENDPOINT!;
const base = {
  endpoint,
  region: process.env.SPACKLE_TEST_S3_REGION ?? "us-east-1",
  accessPair: {
    id: process.env.SPACKLE_TEST_S3_ACCESS_KEY ?? "test:tester",
    secret: process.env.SPACKLE_TEST_S3_SECRET_KEY ?? "testing",
  },
  env: {},
  home: "/nonexistent",
  multipartThreshold: 1024 * 1024,
  partSize: 1024 * 1024,
};
const bucket = `spackle-bun-${Date.now().toString(36)}-${process.pid}`;
const s = await openS3Store(`s3://${bucket}/m/`, base);
await s.createBucket();
const big = new Uint8Array(3 * 1024 * 1024 + 7).map((_, i) => (i * 31) & 255);
let off = 0;
await s.write(
  "big.bin",
  new ReadableStream<Uint8Array>({
    pull(c) {
      if (off >= big.byteLength) return c.close();
      c.enqueue(big.slice(off, off + 65536));
      off += 65536;
    },
  }),
);
await s.write("small+x.json", new TextEncoder().encode("{}"));
const back = new Uint8Array(await new Response(await s.read("big.bin")).arrayBuffer());
const same = back.byteLength === big.byteLength && back.every((b, i) => b === big[i]);
const keys: string[] = [];
for await (const k of s.list("")) keys.push(k);
const bad = await openS3Store(`s3://${bucket}/m/`, {
  ...base,
  accessPair: { id: base.accessPair.id, secret: "wrong" },
});
let wrong = "";
try {
  await bad.read("small+x.json");
} catch (e) {
  wrong = (e as Error).message;
}
for (const k of keys) await s.delete(k);
await s.deleteBucket();
console.log(JSON.stringify({
  runtime: "Bun" in globalThis ? "bun" : "other",
  same,
  keys: keys.sort(),
  wrong,
}));
