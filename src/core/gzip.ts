/**
 * gzip streams with `node:zlib`: decompression accepts multi-member input and checks every
 * CRC; compression writes what Spack writes (level 6, mtime 0, no file name, OS byte 255), so
 * the same input always gives the same bytes. Where `node:zlib` is missing (browsers),
 * gzip runs on the WebAssembly core (`backend.ts` chooses): decompression with the same results
 * and error words; compression gives valid gzip with the same header, but not zlib's exact bytes.
 *
 * @module
 */
import type { ZlibOptions } from "node:zlib";
import { IntegrityError, UnsupportedError } from "../errors.ts";
import { nativeGunzip, nativeZlib, wasmCore } from "./backend.ts";
import type { WasmCore } from "./wasm.ts";
import type { Transform } from "node:stream";
import { concatBytes, rechunk } from "./streams.ts";

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
 * Wraps a zlib decompressor as a pair of streams over the Node stream's own flow control: its
 * readable side is read in paused mode, and zlib stops producing (between two output chunks,
 * within a write) while `readableHighWaterMark` bytes wait to be read. However compressible
 * the data, the output held stays bounded, and zlib works ahead of the reader meanwhile.
 */
function zlibPaused(
  z: Transform,
  wrap: (e: Error) => Error,
): TransformStream<Uint8Array, Uint8Array> {
  let failed: unknown;
  let ended = false;
  let wake: (() => void) | undefined;
  const wakeUp = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  z.on("readable", wakeUp);
  z.on("end", () => {
    ended = true;
    wakeUp();
  });
  z.on("error", (e: Error) => {
    failed ??= wrap(e);
    wakeUp();
  });
  // Bun does not call a write's callback when that write fails: the error wakes it instead.
  const settle = (start: (done: (e?: Error | null) => void) => void) =>
    new Promise<void>((resolve, reject) => {
      if (failed) return reject(failed);
      const onError = () => reject(failed);
      z.once("error", onError);
      start((e) => {
        z.off("error", onError);
        if (failed || e) reject(failed ?? wrap(e!));
        else resolve();
      });
    });
  const writable = new WritableStream<Uint8Array>({
    write(chunk) {
      return settle((done) => z.write(chunk, done));
    },
    close() {
      return settle((done) => z.end(done));
    },
    abort(reason) {
      failed ??= reason ?? new Error("aborted");
      z.destroy();
      wakeUp();
    },
  });
  const readable = new ReadableStream<Uint8Array>({
    async pull(c) {
      for (;;) {
        if (failed !== undefined) throw failed;
        const d = z.read() as Uint8Array | null;
        if (d !== null) return c.enqueue(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
        if (ended) return c.close();
        await new Promise<void>((r) => wake = r);
      }
    },
    cancel(reason) {
      failed ??= reason ?? new Error("cancelled");
      z.destroy();
    },
  }, { highWaterMark: 0 });
  return { writable, readable } as TransformStream<Uint8Array, Uint8Array>;
}

/**
 * A stream that decompresses gzip (all members), failing with IntegrityError on bad data.
 * Decompression follows the reader: memory stays bounded whatever the compression ratio.
 */
export function gunzipStream(label = "gzip data"): TransformStream<Uint8Array, Uint8Array> {
  const zlib = nativeGunzip();
  if (!zlib) return wasmGunzipStream(wasmCore()!, label);
  return zlibPaused(
    // Stream options pass through to the Transform (not in ZlibOptions' type). Output comes in
    // fresh buffers of `chunkSize`: at 256 KiB the allocator reuses their memory between
    // collections, where 1 MiB ones are new pages from the system each time (a third more
    // page faults and system time when installing a 330 MB package).
    zlib.createGunzip({ chunkSize: 256 << 10, readableHighWaterMark: 2 << 20 } as ZlibOptions),
    (e) => new IntegrityError(`Cannot decompress ${label}: ${e.message}`, { cause: e }),
  );
}

/**
 * A reader of decompressed bytes whose chunks are views of a few buffers it reuses: each chunk
 * is valid only until the next `read()` (or `cancel()`). Reading costs no allocation per chunk,
 * so a long stream leaves no garbage behind.
 */
export interface ChunkReader {
  read(): Promise<ReadableStreamReadResult<Uint8Array>>;
  cancel(reason?: unknown): Promise<void>;
}

/**
 * Decompresses gzip (all members) from `src` like {@link gunzipStream}, with the same errors,
 * for a reader that is done with each chunk when it asks for the next (a tar reader, see
 * {@link ChunkReader}). Where the runtime's zlib binding allows it (Bun), zlib runs on the
 * thread pool straight into a ring of four 256 KiB buffers, up to three of them ahead of the
 * reader: no output buffer is allocated, and decompression overlaps with what the reader does.
 * Elsewhere it is `gunzipStream()`'s reader.
 *
 * With `releaseInput`, the caller gives up the input chunks: once decompressed, a chunk that
 * spans its whole ArrayBuffer has that buffer detached (its memory freed at once instead of at
 * the next full collection). Only for a stream whose chunks nothing else holds.
 */
export function gunzipReader(
  src: ReadableStream<Uint8Array>,
  label = "gzip data",
  opts: { releaseInput?: boolean } = {},
): ChunkReader {
  const handle = inflateHandle();
  if (!handle) return src.pipeThrough(gunzipStream(label)).getReader();
  return new RingInflate(src, handle, label, opts.releaseInput === true);
}

/** Frees the memory of a chunk that spans its whole (plain) ArrayBuffer by detaching it. */
function release(chunk: Uint8Array): void {
  const b = chunk.buffer as ArrayBuffer & { transfer?: (n: number) => ArrayBuffer };
  if (
    chunk.byteOffset !== 0 || chunk.byteLength !== b.byteLength ||
    typeof b.transfer !== "function" || !(b instanceof ArrayBuffer) || b.resizable
  ) return;
  try {
    b.transfer(0);
  } catch {
    // (already detached, or not transferable: left to the collector)
  }
}

/** The slice of the binding of `node:zlib` that {@link RingInflate} drives (Node's protocol). */
interface ZlibHandle {
  onerror?: (message: string, errno: number) => void;
  write(
    flush: number,
    input: Uint8Array,
    inOff: number,
    inLen: number,
    out: Uint8Array,
    outOff: number,
    outLen: number,
  ): void;
  close(): void;
}

interface InflateHandle {
  handle: ZlibHandle;
  /** After each write: [output space left, input bytes left]. */
  state: Uint32Array;
  /** Set to the function to call when the write in flight completes. */
  done: { fn?: () => void };
  noFlush: number;
  finish: number;
}

/** undefined: not probed yet; null: the binding cannot be driven directly. */
let zlibHandleClass: (new (mode: number) => unknown) | null | undefined;

/** A gunzip handle of the runtime's zlib binding, when it follows Node's (Bun's does). */
function inflateHandle(): InflateHandle | undefined {
  const zlib = nativeGunzip();
  if (!zlib || zlibHandleClass === null) return undefined;
  const c = zlib.constants;
  try {
    if (zlibHandleClass === undefined) {
      const probe = zlib.createGunzip() as unknown as { _handle?: { constructor?: unknown } };
      zlibHandleClass = null;
      const ctor = probe._handle?.constructor;
      (probe as unknown as Transform).destroy();
      if (typeof ctor !== "function") return undefined;
      zlibHandleClass = ctor as new (mode: number) => unknown;
    }
    const handle = new zlibHandleClass!(c.GUNZIP) as ZlibHandle & {
      init(...a: unknown[]): void;
    };
    const state = new Uint32Array(2);
    const done: { fn?: () => void } = {};
    // Node's arguments: window bits, level, memory level, strategy, results, callback, dictionary.
    handle.init(15, -1, 8, 0, state, () => done.fn?.(), undefined);
    if (typeof handle.write !== "function" || typeof handle.close !== "function") {
      throw new TypeError("no write");
    }
    return { handle, state, done, noFlush: c.Z_NO_FLUSH, finish: c.Z_FINISH };
  } catch {
    zlibHandleClass = null; // a binding of another shape (Deno's): the stream, always
    return undefined;
  }
}

/** Output buffers of a {@link RingInflate}, and their size. */
const RING = 4;
const RING_BUFFER = 256 << 10;

/** gunzipReader() on the zlib binding: see there. */
class RingInflate implements ChunkReader {
  readonly #z: InflateHandle;
  readonly #label: string;
  readonly #input: ReadableStreamDefaultReader<Uint8Array>;
  readonly #bufs: Uint8Array<ArrayBuffer>[] = [];
  /** Chunks of each buffer handed out or queued and not yet released. */
  readonly #held = new Uint32Array(RING);
  /** Decompressed chunks not yet read, with their buffer's number. */
  readonly #queue: { view: Uint8Array; buf: number }[] = [];
  /** The buffer of the chunk the reader holds, or -1. */
  #reading = -1;
  #failed: unknown;
  #ended = false;
  #cancelled = false;
  /** Wakes the reader (new chunk, end, failure) or the producer (a buffer released). */
  #wakeReader?: () => void;
  #wakeProducer?: () => void;
  #pump: Promise<void>;

  constructor(
    src: ReadableStream<Uint8Array>,
    z: InflateHandle,
    label: string,
    readonly releaseInput: boolean,
  ) {
    this.#z = z;
    this.#label = label;
    this.#input = src.getReader();
    for (let i = 0; i < RING; i++) this.#bufs.push(new Uint8Array(RING_BUFFER));
    this.#pump = this.#run().catch((e) => {
      this.#failed ??= e;
    }).finally(() => {
      this.#z.handle.close();
      this.#ended = true;
      this.#wake();
    });
  }

  #wake(): void {
    const w = this.#wakeReader;
    this.#wakeReader = undefined;
    w?.();
  }

  async read(): Promise<ReadableStreamReadResult<Uint8Array>> {
    this.#release();
    for (;;) {
      // As a Web stream's reader: nothing more once cancelled.
      if (this.#cancelled) return { done: true, value: undefined };
      if (this.#failed !== undefined) throw this.#failed;
      const next = this.#queue.shift();
      if (next) {
        this.#reading = next.buf;
        return { done: false, value: next.view };
      }
      if (this.#ended) return { done: true, value: undefined };
      await new Promise<void>((r) => this.#wakeReader = r);
    }
  }

  async cancel(reason?: unknown): Promise<void> {
    this.#release();
    this.#queue.length = 0;
    const running = !this.#ended;
    this.#cancelled = true;
    if (running) {
      this.#wakeProducer?.();
      await this.#input.cancel(reason).catch(() => {});
    }
    await this.#pump;
  }

  /** The reader is done with the chunk it held. */
  #release(): void {
    if (this.#reading < 0) return;
    if (--this.#held[this.#reading] === 0) {
      const w = this.#wakeProducer;
      this.#wakeProducer = undefined;
      w?.();
    }
    this.#reading = -1;
  }

  /** One zlib call on the thread pool: returns [output written, input used]. */
  #write(
    flush: number,
    input: Uint8Array,
    inOff: number,
    inLen: number,
    buf: number,
    outOff: number,
  ) {
    const { handle, state, done } = this.#z;
    const outLen = RING_BUFFER - outOff;
    return new Promise<[number, number]>((resolve, reject) => {
      handle.onerror = (message) => {
        done.fn = undefined;
        reject(new IntegrityError(`Cannot decompress ${this.#label}: ${message}`));
      };
      done.fn = () => {
        done.fn = undefined;
        resolve([outLen - state[0], inLen - state[1]]);
      };
      handle.write(flush, input, inOff, inLen, this.#bufs[buf], outOff, outLen);
    });
  }

  /** Decompresses all of the input into the ring, as far ahead of the reader as it allows. */
  async #run(): Promise<void> {
    let buf = 0;
    let outOff = 0;
    let streamEnded = false; // zlib took no more input: the rest is ignored, as Node does
    const empty = new Uint8Array(0);
    // Feeds one input (empty with Z_FINISH at the end); false when the gzip data ended.
    const feed = async (flush: number, input: Uint8Array) => {
      let inOff = 0;
      let inLen = input.byteLength;
      for (;;) {
        if (outOff === RING_BUFFER) {
          buf = (buf + 1) % RING;
          outOff = 0;
          while (this.#held[buf] > 0 && !this.#cancelled) {
            await new Promise<void>((r) => this.#wakeProducer = r);
          }
        }
        if (this.#cancelled) return false;
        const [wrote, used] = await this.#write(flush, input, inOff, inLen, buf, outOff);
        if (wrote > 0) {
          this.#held[buf]++;
          this.#queue.push({ view: this.#bufs[buf].subarray(outOff, outOff + wrote), buf });
          outOff += wrote;
          this.#wake();
        }
        inOff += used;
        inLen -= used;
        if (outOff === RING_BUFFER) continue; // output full: more may come of this input
        return inLen === 0;
      }
    };
    for (;;) {
      const r = await this.#input.read();
      if (r.done) break;
      if (streamEnded) { // read to the end all the same (digest checks run there)
        if (this.releaseInput) release(r.value);
        continue;
      }
      const v = r.value;
      const fed = await feed(this.#z.noFlush, v);
      if (this.releaseInput) release(v); // zlib is done with it
      if (!fed) {
        if (this.#cancelled) return;
        streamEnded = true;
      }
    }
    if (!streamEnded) await feed(this.#z.finish, empty);
  }
}

/** Rewrites the gzip header of the first chunk to Spack's: mtime 0, OS byte 255. */
function spackHeader(): TransformStream<Uint8Array, Uint8Array> {
  let first = true;
  return new TransformStream({
    transform(chunk, c) {
      if (first && chunk.byteLength >= 10) {
        first = false;
        const copy = new Uint8Array(chunk); // a copy (a Buffer's slice is a view)
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
  if (!nativeZlib()) {
    const w = wasmGzipStream(wasmCore()!, level);
    return { writable: blocks.writable, readable: blocks.readable.pipeThrough(w) };
  }
  const t = zlibTransform(
    needZlib().createGzip({ level, chunkSize: 256 * 1024 }),
    (e) => new IntegrityError(`Cannot compress: ${e.message}`, { cause: e }),
  );
  blocks.readable.pipeTo(t.writable).catch(() => {});
  return { writable: blocks.writable, readable: t.readable.pipeThrough(spackHeader()) };
}

/** Size of the blocks gzipStream() feeds zlib. */
const GZIP_BLOCK = 1 << 20;

/** Compresses a byte array with Spack's gzip settings (same bytes as gzipStream()). */
export function gzipBytes(data: Uint8Array | string, level = 6): Uint8Array {
  if (!nativeZlib()) {
    const parts: Uint8Array[] = [];
    const z = wasmCore()!.gzip(level);
    z.push(typeof data === "string" ? new TextEncoder().encode(data) : data, (o) => parts.push(o));
    z.end((o) => parts.push(o));
    return concatBytes(parts);
  }
  const out = new Uint8Array(needZlib().gzipSync(data, { level, chunkSize: GZIP_BLOCK }));
  out.fill(0, 4, 8);
  out[9] = 0xff;
  return out;
}

/** Decompresses a byte array (all members), with a clear error on corrupt input. */
export function gunzipBytes(data: Uint8Array, label = "gzip data"): Uint8Array {
  try {
    const zlib = nativeGunzip();
    if (zlib) return new Uint8Array(zlib.gunzipSync(data));
    const parts: Uint8Array[] = [];
    const d = wasmCore()!.gunzip();
    try {
      d.push(data, (o) => parts.push(o));
      d.end();
    } finally {
      d.close();
    }
    return concatBytes(parts);
  } catch (e) {
    throw new IntegrityError(`Cannot decompress ${label}: ${(e as Error).message}`, { cause: e });
  }
}

function needZlib() {
  const zlib = nativeZlib();
  if (!zlib) throw new UnsupportedError("Cannot compress: gzip compression needs node:zlib");
  return zlib;
}

/** gzipStream() on the WebAssembly core. */
function wasmGzipStream(core: WasmCore, level: number): TransformStream<Uint8Array, Uint8Array> {
  const z = core.gzip(level);
  return new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, c) {
      z.push(chunk, (o) => c.enqueue(o));
    },
    flush(c) {
      z.end((o) => c.enqueue(o));
    },
  });
}

/**
 * gunzipStream() on the WebAssembly core, with the same flow control: output is decoded as the
 * reader asks for it (at most 64 KiB at a time), and an input chunk is not released until it
 * has been decoded.
 */
function wasmGunzipStream(core: WasmCore, label: string): TransformStream<Uint8Array, Uint8Array> {
  const d = core.gunzip();
  let input: { data: Uint8Array; done: () => void; fail: (e: unknown) => void } | undefined;
  let closing: { done: () => void; fail: (e: unknown) => void } | undefined;
  let failed: unknown;
  let wake: (() => void) | undefined;
  const wakeUp = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const fail = (e: unknown) => {
    failed ??= e instanceof IntegrityError
      ? e
      : new IntegrityError(`Cannot decompress ${label}: ${(e as Error).message}`, { cause: e });
    d.close();
    input?.fail(failed);
    closing?.fail(failed);
    input = closing = undefined;
    wakeUp();
    return failed;
  };
  const writable = new WritableStream<Uint8Array>({
    write(chunk) {
      if (failed) return Promise.reject(failed);
      return new Promise<void>((done, reject) => {
        input = { data: chunk, done, fail: reject };
        wakeUp();
      });
    },
    close() {
      if (failed) return Promise.reject(failed);
      return new Promise<void>((done, reject) => {
        closing = { done, fail: reject };
        wakeUp();
      });
    },
    abort(reason) {
      fail(reason ?? new Error("aborted"));
    },
  });
  const readable = new ReadableStream<Uint8Array>({
    async pull(c) {
      for (;;) {
        if (failed) throw failed;
        try {
          if (input) input.data = input.data.subarray(d.feed(input.data));
          const { out, needInput } = d.run();
          if (needInput && input && input.data.byteLength === 0) {
            input.done();
            input = undefined;
          }
          if (out) return c.enqueue(out);
          if (!needInput || input) continue;
          if (closing) {
            d.end();
            closing.done();
            closing = undefined;
            return c.close();
          }
        } catch (e) {
          throw fail(e);
        }
        await new Promise<void>((r) => wake = r);
      }
    },
    cancel(reason) {
      fail(reason ?? new Error("cancelled"));
    },
  }, { highWaterMark: 0 });
  return { writable, readable } as TransformStream<Uint8Array, Uint8Array>;
}
