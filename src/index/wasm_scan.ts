/**
 * The index record scanner in WebAssembly (`wasm/index_scan.c`, built by
 * `wasm/build.sh` into `_wasm_scan.ts`): reads plain records for the fields of a
 * light record at native speed. Records it does not read (bad JSON, unusual shapes, bytes
 * that end inside one) are left to `RecordReader`, which reads every record the same way; a
 * runtime that cannot instantiate the module uses `RecordReader` for all.
 *
 * @module
 */
import { WASM_SCAN_BASE64 } from "./_wasm_scan.ts";

interface Exports {
  memory: WebAssembly.Memory;
  scan_input(size: number): number;
  scan_table(): number;
  scan_entry_words(): number;
  scan_max_entries(): number;
  scan_stop(): number;
  scan_pos(): number;
  scan_records(len: number, at: number, max: number): number;
}

/** Entry words (see `wasm/index_scan.c`). */
export const E = {
  KEY: 0,
  VALUE: 2,
  SEP: 4,
  NAME: 5,
  VERSION: 7,
  PLATFORM: 9,
  OS: 11,
  TARGET: 13,
  CNAME: 15,
  CVERSION: 17,
  ANNOT: 19,
  PROVIDER: 21,
  TIME: 23,
  FLAGS: 25,
  ARCH_ID: 26,
  VERSION_ID: 27,
  CNAME_ID: 28,
  CVERSION_ID: 29,
  ANNOT_ID: 30,
  PROVIDER_ID: 31,
} as const;
/** u32 words per entry. */
export const ENTRY_WORDS = 32;
/** Entry flags. */
export const F = {
  EXTERNAL: 1,
  IN_BUILDCACHE: 2,
  ARCH: 4,
  COMPILER: 8,
  PROVIDER: 16,
  TIME: 32,
  /** The name, hash and version passed the identity check (`checkNodeIdentity`'s rules). */
  CHECKED: 64,
} as const;
/** Why a scan stopped. */
export const STOP = { MAX: 0, END: 1, RECORD: 2 } as const;

/** What one `scan` call read. */
export interface ScanBatch {
  /** Entries read. */
  count: number;
  /** The entry table (`ENTRY_WORDS` u32 per entry), offsets relative to the bytes scanned. */
  table: Uint32Array;
  /** Why it stopped, and where (a record's start, or the `}` ending `installs`). */
  stop: number;
  pos: number;
}

/** The instantiated scanner. */
export class WasmScan {
  readonly words: number;
  readonly max: number;
  readonly #x: Exports;
  #input = 0;
  #cap = 0;
  #mem?: ArrayBuffer;
  #bytes = new Uint8Array(0);
  #table = new Uint32Array(0);

  constructor(x: Exports) {
    this.#x = x;
    this.words = x.scan_entry_words();
    if (this.words !== ENTRY_WORDS) throw new RangeError("index scanner: unexpected entry size");
    this.max = x.scan_max_entries();
  }

  /** Reads the records at the start of `bytes` (up to `max` entries). */
  scan(bytes: Uint8Array): ScanBatch {
    const x = this.#x;
    if (bytes.length > this.#cap) {
      const at = x.scan_input(bytes.length);
      if (!at) throw new RangeError("Cannot scan the index: out of WebAssembly memory");
      this.#input = at;
      this.#cap = bytes.length;
    }
    if (this.#mem !== x.memory.buffer) {
      this.#mem = x.memory.buffer;
      this.#bytes = new Uint8Array(this.#mem);
      const t = x.scan_table();
      this.#table = new Uint32Array(this.#mem, t, this.max * this.words);
    }
    this.#bytes.set(bytes, this.#input);
    const count = x.scan_records(bytes.length, 0, this.max);
    return {
      count,
      table: this.#table,
      stop: x.scan_stop(),
      pos: x.scan_pos(),
    };
  }
}

let compiled: WebAssembly.Module | null | undefined;
let moduleBytes: Uint8Array | undefined;

/** The scanner module's bytes (decoded once). */
export function wasmScanBytes(): Uint8Array {
  if (!moduleBytes) {
    const bin = atob(WASM_SCAN_BASE64);
    moduleBytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) moduleBytes[i] = bin.charCodeAt(i);
  }
  return moduleBytes;
}

/**
 * A scanner of its own (the module compiled on first use); undefined where WebAssembly cannot
 * run it. Its memory, which grows to the window scanned, goes with it: the scan of a big index
 * does not leave a megabyte or more held for the rest of the process.
 */
export function wasmScan(): WasmScan | undefined {
  if (compiled === undefined) {
    try {
      compiled = new WebAssembly.Module(wasmScanBytes() as Uint8Array<ArrayBuffer>);
    } catch {
      compiled = null;
    }
  }
  if (!compiled) return undefined;
  try {
    return new WasmScan(new WebAssembly.Instance(compiled, {}).exports as unknown as Exports);
  } catch {
    return undefined;
  }
}
