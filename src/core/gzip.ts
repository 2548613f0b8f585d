/**
 * gzip streams with `node:zlib`: decompression accepts multi-member input and checks every
 * CRC; compression writes what Spack writes (level 6, mtime 0, no file name, OS byte 255), so
 * the same input always gives the same bytes.
 *
 * @module
 */
import { createGunzip, createGzip, gunzipSync, gzipSync } from "node:zlib";
import { IntegrityError } from "../errors.ts";
import type { Transform } from "node:stream";
import { rechunk } from "./streams.ts";

/** The first bytes of every gzip member. */
export const GZIP_MAGIC = [0x1f, 0x8b] as const;

/** True when `bytes` starts with the gzip magic. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * Wraps a zlib transform as a Web TransformStream. Backpressure holds: the readable side
 * stops calling `transform` while it is full, so at most one chunk's output is buffered.
 */
function zlibTransform(
  z: Transform,
  wrap: (e: Error) => Error,
): TransformStream<Uint8Array, Uint8Array> {
  let controller!: TransformStreamDefaultController<Uint8Array>;
  let failed: Error | undefined;
  // Bun does not call a write's callback when that write fails: wake the waiter here.
  let waiting: ((e: Error) => void) | undefined;
  z.on("data", (d: Uint8Array) => {
    controller.enqueue(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
  });
  z.on("error", (e: Error) => {
    failed ??= wrap(e);
    waiting?.(failed);
  });
  const wait = (start: (done: () => void) => void) =>
    new Promise<void>((resolve, reject) => {
      if (failed) return reject(failed);
      waiting = reject;
      start(() => {
        waiting = undefined;
        if (failed) reject(failed);
        else resolve();
      });
    });
  return new TransformStream<Uint8Array, Uint8Array>({
    start(c) {
      controller = c;
    },
    transform(chunk) {
      return wait((done) => z.write(chunk, () => done()));
    },
    flush() {
      return wait((done) => {
        z.once("end", done);
        z.end();
      });
    },
  });
}

/**
 * Compressed bytes handed to zlib at a time when decompressing: as many as should give about
 * INFLATE_AHEAD bytes of output at the ratio the previous slice had, between these bounds.
 * Deflate expands at most about 1032 times, so one slice never makes more than about 132 MB
 * of output, however compressible the data; each slice costs a round trip to zlib's thread.
 */
const INFLATE_SLICE_MIN = 32 << 10;
const INFLATE_SLICE_MAX = 128 << 10;

/** Decompressed bytes made ahead of the reader (so that zlib works while the reader does). */
const INFLATE_AHEAD = 4 << 20;

type Settle = { resolve: () => void; reject: (e: unknown) => void };

/**
 * Wraps a zlib decompressor as a pair of streams where decompression follows the reader:
 * compressed input is fed to zlib one slice at a time, and only while less than
 * INFLATE_AHEAD bytes of output wait to be read. However compressible the data, the output
 * held is bounded (a 1 MiB chunk of compressed text can hold 80 MB of tar).
 */
function zlibPull(
  z: Transform,
  wrap: (e: Error) => Error,
): TransformStream<Uint8Array, Uint8Array> {
  const out: Uint8Array[] = [];
  let outBytes = 0;
  let failed: Error | undefined;
  // Bun does not call a write's callback when that write fails: wake the waiter here.
  let waiting: ((e: Error) => void) | undefined;
  let made = 0; // output bytes so far
  let sliceSize = INFLATE_SLICE_MIN;
  z.on("data", (d: Uint8Array) => {
    out.push(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
    outBytes += d.byteLength;
    made += d.byteLength;
  });
  z.on("error", (e: Error) => {
    failed ??= wrap(e);
    waiting?.(failed);
  });
  const wait = (start: (done: () => void) => void) =>
    new Promise<void>((resolve, reject) => {
      if (failed) return reject(failed);
      waiting = reject;
      start(() => {
        waiting = undefined;
        if (failed) reject(failed);
        else resolve();
      });
    });

  // The chunk the writable side handed over, fed to zlib slice by slice.
  let input: Uint8Array | undefined;
  let off = 0;
  let written: Settle | undefined;
  let closing: Settle | undefined;
  let ended = false;
  let finished = false;
  let error: unknown; // zlib's failure, a cancel or an abort
  let wctl!: WritableStreamDefaultController;
  let readerWake: (() => void) | undefined;
  const wakeReader = () => {
    const w = readerWake;
    readerWake = undefined;
    w?.();
  };

  const fail = (e: unknown) => {
    error ??= e;
    written?.reject(e);
    closing?.reject(e);
    written = closing = undefined;
    wctl.error(e);
    wakeReader();
  };

  let pumping = false;
  const pump = async () => {
    if (pumping) return;
    pumping = true;
    try {
      while (error === undefined && !finished && outBytes < INFLATE_AHEAD) {
        if (input) {
          const slice = input.subarray(off, off + sliceSize);
          off += slice.byteLength;
          if (off >= input.byteLength) {
            input = undefined;
            const w = written;
            written = undefined;
            w?.resolve();
          }
          const before = made;
          await wait((done) => z.write(slice, () => done()));
          const ratio = Math.max(1, (made - before) / slice.byteLength);
          sliceSize = Math.min(
            INFLATE_SLICE_MAX,
            Math.max(INFLATE_SLICE_MIN, Math.floor(INFLATE_AHEAD / ratio)),
          );
        } else if (closing && !ended) {
          ended = true;
          await wait((done) => {
            z.once("end", done);
            z.end();
          });
          finished = true;
          const c = closing;
          closing = undefined;
          c?.resolve();
        } else break; // until the next write or close
        wakeReader();
      }
    } catch (e) {
      fail(e);
    } finally {
      pumping = false;
    }
  };

  const writable = new WritableStream<Uint8Array>({
    start(c) {
      wctl = c;
    },
    write(chunk) {
      if (error !== undefined) throw error;
      return new Promise<void>((resolve, reject) => {
        input = chunk;
        off = 0;
        written = { resolve, reject };
        pump();
      });
    },
    close() {
      return new Promise<void>((resolve, reject) => {
        closing = { resolve, reject };
        pump();
      });
    },
    abort(reason) {
      error ??= reason ?? new Error("aborted");
      z.destroy();
      wakeReader();
    },
  });

  const readable = new ReadableStream<Uint8Array>({
    async pull(c) {
      for (;;) {
        if (out.length) {
          const chunk = out.shift()!;
          outBytes -= chunk.byteLength;
          c.enqueue(chunk);
          pump();
          return;
        }
        if (error !== undefined) throw error;
        if (finished) return c.close();
        pump();
        await new Promise<void>((r) => readerWake = r);
      }
    },
    cancel(reason) {
      z.destroy();
      fail(reason ?? new Error("cancelled"));
    },
  }, { highWaterMark: 0 });
  return { writable, readable } as TransformStream<Uint8Array, Uint8Array>;
}

/**
 * A stream that decompresses gzip (all members), failing with IntegrityError on bad data.
 * Decompression follows the reader: memory stays bounded whatever the compression ratio.
 */
export function gunzipStream(label = "gzip data"): TransformStream<Uint8Array, Uint8Array> {
  return zlibPull(
    createGunzip({ chunkSize: 256 * 1024 }),
    (e) => new IntegrityError(`Cannot decompress ${label}: ${e.message}`, { cause: e }),
  );
}

/** Rewrites the gzip header of the first chunk to Spack's: mtime 0, OS byte 255. */
function spackHeader(): TransformStream<Uint8Array, Uint8Array> {
  let first = true;
  return new TransformStream({
    transform(chunk, c) {
      if (first && chunk.byteLength >= 10) {
        first = false;
        const copy = chunk.slice();
        copy.fill(0, 4, 8); // mtime 0 (zlib writes 0 already)
        copy[9] = 0xff; // OS unknown, as Python's gzip with mtime 0 writes
        c.enqueue(copy);
        return;
      }
      c.enqueue(chunk);
    },
  });
}

/**
 * A stream that compresses to gzip at `level` (default 6) with Spack's header. Input is
 * regrouped into fixed blocks first: zlib's output depends on how its input was split, and
 * the same bytes must always give the same gzip.
 */
export function gzipStream(level = 6): TransformStream<Uint8Array, Uint8Array> {
  const blocks = rechunk(GZIP_BLOCK);
  const t = zlibTransform(
    createGzip({ level, chunkSize: 256 * 1024 }),
    (e) => new IntegrityError(`Cannot compress: ${e.message}`, { cause: e }),
  );
  blocks.readable.pipeTo(t.writable).catch(() => {});
  return { writable: blocks.writable, readable: t.readable.pipeThrough(spackHeader()) };
}

/** Size of the blocks gzipStream() feeds zlib. */
const GZIP_BLOCK = 1 << 20;

/** Compresses a byte array with Spack's gzip settings (same bytes as gzipStream()). */
export function gzipBytes(data: Uint8Array | string, level = 6): Uint8Array {
  const out = new Uint8Array(gzipSync(data, { level, chunkSize: GZIP_BLOCK }));
  out.fill(0, 4, 8);
  out[9] = 0xff;
  return out;
}

/** Decompresses a byte array (all members), with a clear error on corrupt input. */
export function gunzipBytes(data: Uint8Array, label = "gzip data"): Uint8Array {
  try {
    return new Uint8Array(gunzipSync(data));
  } catch (e) {
    throw new IntegrityError(`Cannot decompress ${label}: ${(e as Error).message}`, { cause: e });
  }
}
