/**
 * The throughput loop scripts/bench_web.ts runs twice: in Chromium (through
 * scripts/_bench_wasm_page.ts, on the WebAssembly core) and natively in Deno, so that both
 * sides measure the same thing.
 *
 * @module
 */
import { digestStream } from "../src/core/digest.ts";
import { gunzipStream } from "../src/core/gzip.ts";

/** `data` as a stream of 1 MiB chunks. */
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

/** Reads a stream to its end; resolves with its byte count. */
async function drain(s: ReadableStream<Uint8Array>): Promise<number> {
  let n = 0;
  const r = s.getReader();
  for (let x = await r.read(); !x.done; x = await r.read()) n += x.value.byteLength;
  return n;
}

/**
 * MB/s (10^6 bytes a second), best of 3, of sha256 over `data` and of gunzip of `gz`, both fed
 * in 1 MiB chunks to the core's streams on the backend in use.
 */
export async function coreThroughput(
  data: Uint8Array,
  gz: Uint8Array,
): Promise<{ sha256: number; gunzip: number }> {
  let sha256 = 0, gunzip = 0;
  for (let run = 0; run < 3; run++) {
    let t0 = performance.now();
    const { stream, result } = digestStream();
    await drain(chunks(data).pipeThrough(stream));
    await result;
    sha256 = Math.max(sha256, data.length / 1e6 / ((performance.now() - t0) / 1000));
    t0 = performance.now();
    const n = await drain(chunks(gz).pipeThrough(gunzipStream()));
    gunzip = Math.max(gunzip, n / 1e6 / ((performance.now() - t0) / 1000));
  }
  return { sha256, gunzip };
}
