/**
 * Browser side of scripts/bench_web.ts: fetches data.bin and data.gz from the page's origin and
 * times sha256 over the first and gunzip of the second on the core's backend (in a browser: the
 * WebAssembly core), leaving MB/s in `globalThis.wasmBench`.
 *
 * @module
 */
import { BACKEND } from "../src/core/backend.ts";
import { digestStream } from "../src/core/digest.ts";
import { gunzipStream } from "../src/core/gzip.ts";

async function bytes(name: string): Promise<Uint8Array> {
  return new Uint8Array(await (await fetch(name)).arrayBuffer());
}

function chunks(data: Uint8Array): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream({
    pull(c) {
      if (i >= data.length) return c.close();
      c.enqueue(data.subarray(i, i + (1 << 20)));
      i += 1 << 20;
    },
  });
}

async function drain(s: ReadableStream<Uint8Array>): Promise<number> {
  let n = 0;
  const r = s.getReader();
  for (let x = await r.read(); !x.done; x = await r.read()) n += x.value.byteLength;
  return n;
}

const g = globalThis as { wasmBench?: unknown };
const data = await bytes("data.bin");
const gz = await bytes("data.gz");
let sha = 0, gunzip = 0;
for (let run = 0; run < 3; run++) {
  let t0 = performance.now();
  const { stream, result } = digestStream();
  await drain(chunks(data).pipeThrough(stream));
  await result;
  sha = Math.max(sha, data.length / 1e6 / ((performance.now() - t0) / 1000));
  t0 = performance.now();
  const n = await drain(chunks(gz).pipeThrough(gunzipStream()));
  gunzip = Math.max(gunzip, n / 1e6 / ((performance.now() - t0) / 1000));
}
g.wasmBench = { backend: BACKEND, sha256: sha, gunzip };
