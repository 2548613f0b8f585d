/**
 * Browser side of scripts/bench_web.ts: fetches data.bin and data.gz from the page's origin and
 * times sha256 over the first and gunzip of the second on the core's backend (in a browser: the
 * WebAssembly core), leaving MB/s in `globalThis.wasmBench`.
 *
 * @module
 */
import { BACKEND } from "../src/core/backend.ts";
import { coreThroughput } from "./_core_throughput.ts";

async function bytes(name: string): Promise<Uint8Array> {
  return new Uint8Array(await (await fetch(name)).arrayBuffer());
}

const g = globalThis as { wasmBench?: unknown };
const data = await bytes("data.bin");
const gz = await bytes("data.gz");
g.wasmBench = { backend: BACKEND, ...(await coreThroughput(data, gz)) };
