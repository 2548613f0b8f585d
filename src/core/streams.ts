/**
 * Small helpers that move bytes between Web streams, Node streams and arrays.
 *
 * @module
 */
import { Readable } from "node:stream";
import { MemoryPacer } from "./memory_pacer.ts";

/** A Web ReadableStream over any async iterable of bytes (Node and streamx readables too). */
export function toWebStream(src: AsyncIterable<Uint8Array>): ReadableStream<Uint8Array> {
  let it: AsyncIterator<Uint8Array> | undefined;
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      it ??= src[Symbol.asyncIterator]();
      const { value, done } = await it.next();
      if (done) c.close();
      else {
        c.enqueue(
          value.constructor === Uint8Array
            ? value
            : new Uint8Array(value.buffer, value.byteOffset, value.byteLength),
        );
      }
    },
    async cancel(reason) {
      await it?.return?.(reason);
    },
  }, { highWaterMark: 0 });
}

/** A Node readable over a Web ReadableStream. */
export function toNodeStream(src: ReadableStream<Uint8Array>): Readable {
  // deno-lint-ignore no-explicit-any
  return Readable.fromWeb(src as any);
}

/** A ReadableStream that yields one byte array. */
export function streamOf(data: Uint8Array | string): ReadableStream<Uint8Array> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  return new ReadableStream({
    start(c) {
      if (bytes.byteLength > 0) c.enqueue(bytes);
      c.close();
    },
  });
}

/** Reads a whole stream into one byte array. Only for small bodies (manifests, specs). */
export async function collect(
  src: ReadableStream<Uint8Array>,
  expectedSize?: number,
): Promise<Uint8Array> {
  // With the size known, chunks are copied as they come and dropped: memory is the result
  // plus one chunk, instead of twice the result at the end.
  if (expectedSize !== undefined && expectedSize > 0) {
    // A size is a claim until the bytes are checked: far more than what comes is not reserved.
    let out = new Uint8Array(Math.min(expectedSize, 256 << 20));
    let off = 0;
    // Under Bun the dropped chunks wait for a full collection: one is asked for as they pile up.
    const pacer = new MemoryPacer();
    for await (const chunk of src) {
      pacer.add(chunk.byteLength);
      if (off + chunk.byteLength > out.byteLength) {
        const grown = new Uint8Array(Math.max(out.byteLength * 2, off + chunk.byteLength));
        grown.set(out.subarray(0, off));
        out = grown;
      }
      out.set(chunk, off);
      off += chunk.byteLength;
    }
    return off === out.byteLength ? out : out.subarray(0, off);
  }
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of src) {
    parts.push(chunk);
    size += chunk.byteLength;
  }
  return concatBytes(parts, size);
}

/**
 * The bytes of `parts` one after the other (`parts[0]` itself when there is one part);
 * `size`, when known, is their total length.
 */
export function concatBytes(
  parts: Uint8Array[],
  size = parts.reduce((a, p) => a + p.byteLength, 0),
): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(size);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.byteLength;
  }
  return out;
}

/** Reads a whole stream as UTF-8 text. */
export async function collectText(src: ReadableStream<Uint8Array>): Promise<string> {
  return new TextDecoder().decode(await collect(src));
}

/** Drains a stream, discarding its bytes; resolves with the byte count. */
export async function drain(src: ReadableStream<Uint8Array>): Promise<number> {
  let n = 0;
  for await (const chunk of src) n += chunk.byteLength;
  return n;
}

/**
 * Regroups a byte stream into chunks of exactly `size` bytes (the last may be shorter), so
 * that what follows sees the same chunks whatever the source's chunking was.
 */
export function rechunk(size: number): TransformStream<Uint8Array, Uint8Array> {
  let buf = new Uint8Array(size);
  let fill = 0;
  return new TransformStream({
    transform(chunk, c) {
      let off = 0;
      while (off < chunk.byteLength) {
        if (fill === 0 && chunk.byteLength - off >= size) {
          c.enqueue(chunk.slice(off, off + size));
          off += size;
          continue;
        }
        const n = Math.min(size - fill, chunk.byteLength - off);
        buf.set(chunk.subarray(off, off + n), fill);
        fill += n;
        off += n;
        if (fill === size) {
          c.enqueue(buf);
          buf = new Uint8Array(size);
          fill = 0;
        }
      }
    },
    flush(c) {
      if (fill > 0) c.enqueue(buf.subarray(0, fill));
    },
  });
}
