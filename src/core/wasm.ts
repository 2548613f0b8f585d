/**
 * The WebAssembly core: sha256 and gzip decompression for runtimes without `node:crypto` and
 * `node:zlib` (browsers). Built from `wasm/core.c` by `wasm/build.sh`; the bytes are in
 * `_wasm_core.ts`. `backend.ts` chooses it by feature detection; callers never do.
 *
 * @module
 */
import { WASM_CORE_BASE64 } from "./_wasm_core.ts";

interface Exports {
  memory: WebAssembly.Memory;
  sha_state(): number;
  sha_input(): number;
  sha_output(): number;
  sha_input_size(): number;
  sha_init(): void;
  sha_update(len: number): void;
  sha_final(): void;
  gz_new(): number;
  gz_free(g: number): void;
  gz_input_space(g: number): number;
  gz_input_ptr(g: number): number;
  gz_input_add(g: number, n: number): void;
  gz_out_ptr(g: number): number;
  gz_out_len(g: number): number;
  gz_error(g: number): number;
  gz_run(g: number): number;
  gz_can_end(g: number): number;
  gz_taken(g: number): void;
  gzc_new(level: number): number;
  gzc_free(c: number): void;
  gzc_input_ptr(c: number): number;
  gzc_out_ptr(c: number): number;
  gzc_block_size(): number;
  gzc_block(c: number, len: number): number;
  gzc_finish(c: number): number;
}

const SHA_STATE_SIZE = 112;
// gz_run() answers R_NEED_INPUT (0), R_OUTPUT (1: output is waiting) or R_ERROR (2).
const R_NEED_INPUT = 0, R_ERROR = 2;

/** zlib's words for each error code of the module (so both backends say the same). */
const GZ_ERRORS = [
  "no error",
  "incorrect header check",
  "unknown compression method",
  "unknown header flags set",
  "invalid block type",
  "invalid stored block lengths",
  "invalid code lengths set",
  "invalid literal/lengths set",
  "invalid distances set",
  "invalid literal/length code",
  "invalid distance code",
  "invalid distance too far back",
  "incorrect data check",
  "incorrect length check",
  "unexpected end of file",
  "invalid bit length repeat",
];

function decodeBase64(s: string): Uint8Array<ArrayBuffer> {
  const bin = atob(s);
  const out = new Uint8Array(new ArrayBuffer(bin.length));
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** The instantiated module's functions over its memory. */
export class WasmCore {
  private shaIn: number;
  private shaInSize: number;
  private freed = new FinalizationRegistry<number>((g) => this.x.gz_free(g));

  constructor(private x: Exports) {
    this.shaIn = x.sha_input();
    this.shaInSize = x.sha_input_size();
  }

  private get mem(): Uint8Array {
    return new Uint8Array(this.x.memory.buffer);
  }

  /** A new sha256 hash. */
  sha256(): WasmSha256 {
    this.x.sha_init();
    const state = this.mem.slice(this.x.sha_state(), this.x.sha_state() + SHA_STATE_SIZE);
    return new WasmSha256(this, state);
  }

  /** @internal Hashes `data` into `state` (the hash's own copy of its state). */
  shaUpdate(state: Uint8Array, data: Uint8Array): void {
    const at = this.x.sha_state();
    this.mem.set(state, at);
    for (let i = 0; i < data.byteLength; i += this.shaInSize) {
      const part = data.subarray(i, i + this.shaInSize);
      this.mem.set(part, this.shaIn);
      this.x.sha_update(part.byteLength);
    }
    state.set(this.mem.subarray(at, at + SHA_STATE_SIZE));
  }

  /** @internal */
  shaFinal(state: Uint8Array): Uint8Array {
    this.mem.set(state, this.x.sha_state());
    this.x.sha_final();
    const out = this.x.sha_output();
    return this.mem.slice(out, out + 32);
  }

  /** A new gzip decompressor. */
  gunzip(): WasmGunzip {
    const g = this.x.gz_new();
    if (!g) throw new Error("Cannot decompress: out of WebAssembly memory");
    const d = new WasmGunzip(this.x, g);
    this.freed.register(d, g, d);
    return d;
  }

  /** @internal */
  release(d: WasmGunzip, g: number): void {
    this.freed.unregister(d);
    this.x.gz_free(g);
  }

  /** A new gzip compressor (one member; valid gzip, not byte-identical to zlib's). */
  gzip(level = 6): WasmGzip {
    const c = this.x.gzc_new(level);
    if (!c) throw new Error("Cannot compress: out of WebAssembly memory");
    const z = new WasmGzip(this.x, c, () => {
      this.freedGzip.unregister(z);
      this.x.gzc_free(c);
    });
    this.freedGzip.register(z, c, z);
    return z;
  }
  private freedGzip = new FinalizationRegistry<number>((c) => this.x.gzc_free(c));
}

/** An incremental gzip compressor on the WebAssembly core. */
export class WasmGzip {
  private closed = false;
  constructor(private x: Exports, private c: number, private free: () => void) {}

  /** Compresses `input`; `emit` gets each piece of output (a copy). */
  push(input: Uint8Array, emit: (out: Uint8Array) => void): void {
    const x = this.x, c = this.c;
    const block = x.gzc_block_size();
    for (let i = 0; i < input.byteLength || i === 0; i += block) {
      const part = input.subarray(i, i + block);
      new Uint8Array(x.memory.buffer).set(part, x.gzc_input_ptr(c));
      const n = x.gzc_block(c, part.byteLength);
      if (n) emit(new Uint8Array(x.memory.buffer).slice(x.gzc_out_ptr(c), x.gzc_out_ptr(c) + n));
      if (input.byteLength === 0) break;
    }
  }

  /** Ends the member (last block, CRC-32 and length); `emit` gets the last output. */
  end(emit: (out: Uint8Array) => void): void {
    const x = this.x, c = this.c;
    const n = x.gzc_finish(c);
    emit(new Uint8Array(x.memory.buffer).slice(x.gzc_out_ptr(c), x.gzc_out_ptr(c) + n));
    this.close();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.free();
  }
}

/** An incremental sha256 (the same interface as node:crypto's Hash, as used here). */
export class WasmSha256 {
  private done = false;
  constructor(private core: WasmCore, private state: Uint8Array) {}

  update(data: Uint8Array | string): this {
    if (this.done) throw new Error("sha256: update() after digest()");
    this.core.shaUpdate(
      this.state,
      typeof data === "string" ? new TextEncoder().encode(data) : data,
    );
    return this;
  }

  /** The digest as lowercase hex. */
  digestHex(): string {
    this.done = true;
    let s = "";
    for (const b of this.core.shaFinal(this.state)) s += b.toString(16).padStart(2, "0");
    return s;
  }
}

/** An incremental gzip decompressor (every member, CRC and length checked). */
export class WasmGunzip {
  private closed = false;
  constructor(private x: Exports, private g: number) {}

  private fail(): never {
    const code = this.x.gz_error(this.g);
    this.close();
    throw new Error(GZ_ERRORS[code] ?? `error ${code}`);
  }

  /** Copies as much of `input` as fits into the decoder's input buffer; returns how much. */
  feed(input: Uint8Array): number {
    const x = this.x, g = this.g;
    const space = x.gz_input_space(g);
    const part = input.subarray(0, space);
    if (part.byteLength) {
      new Uint8Array(x.memory.buffer).set(part, x.gz_input_ptr(g));
      x.gz_input_add(g, part.byteLength);
    }
    return part.byteLength;
  }

  /**
   * Decodes until output is ready or the input is used up: the output (a copy, at most 64 KiB)
   * if any, and whether more input is needed. Throws with zlib's wording on bad data.
   */
  run(): { out?: Uint8Array; needInput: boolean } {
    const x = this.x, g = this.g;
    const r = x.gz_run(g);
    if (r === R_ERROR) this.fail();
    const n = x.gz_out_len(g);
    let out: Uint8Array | undefined;
    if (n > 0) {
      const at = x.gz_out_ptr(g);
      out = new Uint8Array(x.memory.buffer).slice(at, at + n);
      x.gz_taken(g);
    }
    return { out, needInput: r === R_NEED_INPUT };
  }

  /** Feeds all of `input`; `emit` gets each piece of output as soon as it is decoded. */
  push(input: Uint8Array, emit: (out: Uint8Array) => void): void {
    let i = 0;
    for (;;) {
      i += this.feed(input.subarray(i));
      const { out, needInput } = this.run();
      if (out) emit(out);
      if (needInput && i >= input.byteLength) return;
    }
  }

  /** Ends the input: throws "unexpected end of file" unless it ended after a whole member. */
  end(): void {
    const ok = this.x.gz_can_end(this.g);
    this.close();
    if (!ok) throw new Error(GZ_ERRORS[14]);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    core?.release(this, this.g);
  }
}

let core: WasmCore | undefined;

/** The module, compiled and instantiated once (asynchronously: browsers require it). */
export async function loadWasmCore(): Promise<WasmCore> {
  if (core) return core;
  const module = await WebAssembly.compile(decodeBase64(WASM_CORE_BASE64));
  const instance = await WebAssembly.instantiate(module, {});
  core ??= new WasmCore(instance.exports as unknown as Exports);
  return core;
}

/** The module, compiled synchronously where the runtime allows it (not browsers' main thread). */
export function wasmCoreSync(): WasmCore {
  if (core) return core;
  const m = new WebAssembly.Module(decodeBase64(WASM_CORE_BASE64));
  core = new WasmCore(new WebAssembly.Instance(m, {}).exports as unknown as Exports);
  return core;
}
