/**
 * Reading a Spack database's JSON from one buffer or from a stream of chunks, without ever
 * building the whole document: the structure down to `database.installs` is walked, and each
 * record is read for the fields of a light record only, its JSON checked whole: by the
 * WebAssembly scanner (`wasm_scan.ts`) where it can, else by `RecordReader` (`record_scan.ts`,
 * the same rules). The records are grouped in batches of about `BATCH_BYTES` whose spans are kept, to
 * parse them again (one `JSON.parse` per batch) when a node is asked for. Fed from a stream,
 * only the bytes of the batch being gathered (and one chunk) are held, whatever the size of
 * the index.
 *
 * @module
 */
import { InvalidDataError } from "../errors.ts";
import { BAIL, NEED_MORE, type RecordFields, RecordReader, ScannerNumbers } from "./record_scan.ts";
import { E, ENTRY_WORDS, STOP, type WasmScan, wasmScan } from "./wasm_scan.ts";

export type { RecordFields } from "./record_scan.ts";

/** Bytes of index from which the WebAssembly scanner is used by default. */
const WASM_FROM = 256 << 10;
/** Bytes of record text per batch (parsed again by one `JSON.parse` when a node is needed). */
export const BATCH_BYTES = 256 << 10;
/** Bytes handed to the WebAssembly scanner at a time. */
const WINDOW = 1 << 20;

const Q = 0x22, BS = 0x5c, LB = 0x7b, RB = 0x7d, LS = 0x5b, RS = 0x5d, COMMA = 0x2c, COLON = 0x3a;

/** Thrown by the head walk when it reaches the `installs` object (at `at`, its `{`). */
class InstallsAt {
  constructor(readonly at: number) {}
}

/** What the scanner calls back with. */
export interface ScanSink {
  /** One record of batch `batch`, read for its light fields (`f` is refilled for the next). */
  fields(hash: string, f: RecordFields, batch: number): void;
  /** One record of batch `batch` of a shape read whole: its key and parsed value. */
  record(hash: string, rec: unknown, batch: number): void;
  /**
   * A batch parsed: its number, absolute byte span, and its bytes (valid during the call only;
   * empty when the scanner was told not to keep them).
   */
  batch(batch: number, start: number, end: number, bytes: Uint8Array): void;
}

/**
 * The WebAssembly scanner's entries for records read elsewhere (a worker thread reading ahead,
 * `read_ahead.ts`): `count` entries of `table` (offsets relative to the absolute offset
 * `base`), the first record's key at `at`, the next record (or the end) at `next`.
 */
export interface ScanHint {
  at: number;
  base: number;
  count: number;
  table: Uint32Array;
  next: number;
}

/** What the scan found besides the records. */
export interface ScanResult {
  /** The `database.version` value, parsed. */
  version: unknown;
  /** True when `database.installs` is an object. */
  hasInstalls: boolean;
  /** Total bytes read. */
  size: number;
}

const EMPTY = new Uint8Array(0);

const isWs = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

/**
 * The structure walks over a buffer `b` of which `n` bytes are known. With `final` false, running
 * into the end of the known bytes throws `NEED_MORE` instead of failing. `at(i)` turns a buffer
 * index into the absolute byte offset that errors name.
 */
class Walk {
  constructor(
    readonly b: Uint8Array,
    readonly n: number,
    readonly final: boolean,
    readonly label: string,
    readonly at: (i: number) => number,
  ) {}
  readonly dec = new TextDecoder();

  fail(i: number, what: string): never {
    if (i >= this.n && !this.final) throw NEED_MORE;
    const got = i >= this.n ? "the end" : JSON.stringify(String.fromCharCode(this.b[i]));
    throw new InvalidDataError(
      `Cannot parse ${this.label}: expected ${what} at byte ${this.at(i)}, found ${got}`,
    );
  }
  ws(i: number): number {
    const { b, n } = this;
    while (i < n && isWs(b[i])) i++;
    return i;
  }
  /** Index just past the string starting (at its quote) at i. */
  skipString(i: number): number {
    const { b, n } = this;
    let j = i + 1;
    for (;;) {
      const q = b.indexOf(Q, j);
      if (q < 0 || q >= n) return this.fail(n, "the end of a string");
      let k = q - 1, slashes = 0;
      while (b[k] === BS) k--, slashes++;
      if (slashes % 2 === 0) return q + 1;
      j = q + 1;
    }
  }
  skipValue(i: number): number {
    const { b, n } = this;
    const c = b[i];
    if (i >= n) return this.fail(i, "a value");
    if (c === Q) return this.skipString(i);
    if (c === LB || c === LS) {
      let depth = 0;
      while (i < n) {
        const d = b[i];
        if (d === Q) {
          i = this.skipString(i);
          continue;
        }
        if (d === LB || d === LS) depth++;
        else if (d === RB || d === RS) {
          if (--depth === 0) return i + 1;
        }
        i++;
      }
      return this.fail(n, "a closing bracket");
    }
    const s = i;
    while (i < n) {
      const d = b[i];
      if (d === COMMA || d === RB || d === RS || isWs(d)) break;
      i++;
    }
    // A number or literal cut by the end of the known bytes may go on.
    if (i >= n && !this.final) throw NEED_MORE;
    if (i === s) this.fail(i, "a value");
    return i;
  }
  parse(s: number, e: number): unknown {
    try {
      return JSON.parse(this.dec.decode(this.b.subarray(s, e)));
    } catch (err) {
      throw new InvalidDataError(
        `Cannot parse ${this.label}: bad JSON at byte ${this.at(s)}: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }
  /**
   * Calls `each(key, valueStart)` for every member of the object at i (which must be `{`);
   * `each` returns the index just past the value. Returns the index past the `}`.
   */
  members(i: number, each: (key: string, at: number) => number): number {
    const b = this.b;
    if (i >= this.n || b[i] !== LB) this.fail(i, '"{"');
    i = this.ws(i + 1);
    if (i < this.n && b[i] === RB) return i + 1;
    for (;;) {
      if (i >= this.n || b[i] !== Q) this.fail(i, "a key string");
      const ke = this.skipString(i);
      const key = String(this.parse(i, ke));
      i = this.ws(ke);
      if (i >= this.n || b[i] !== COLON) this.fail(i, '":"');
      i = this.ws(each(key, this.ws(i + 1)));
      if (i < this.n && b[i] === COMMA) i = this.ws(i + 1);
      else if (i < this.n && b[i] === RB) return i + 1;
      else this.fail(i, '"," or "}"');
    }
  }
  /**
   * Walks the whole document. `installs(at)` is called at a `database.installs` object (`{` at
   * `at`) and returns the index past it. Returns the `database.version` value.
   */
  document(installs: (at: number) => number): { version: unknown; hasInstalls: boolean } {
    const b = this.b;
    let version: unknown;
    let hasInstalls = false;
    let i = this.ws(0);
    // A UTF-8 byte order mark is tolerated, as decoding the text would drop it.
    if (b[i] === 0xef && b[i + 1] === 0xbb && b[i + 2] === 0xbf) i = this.ws(i + 3);
    i = this.members(i, (key, at) => {
      if (key !== "database" || b[at] !== LB) return this.skipValue(at);
      return this.members(at, (k, v) => {
        if (k === "version") {
          const e = this.skipValue(v);
          version = this.parse(v, e);
          return e;
        }
        if (k !== "installs" || b[v] !== LB) return this.skipValue(v);
        hasInstalls = true;
        return installs(v);
      });
    });
    i = this.ws(i);
    if (i < this.n) this.fail(i, "the end of the document");
    return { version, hasInstalls };
  }
}

/** A copy of bytes in a plain `Uint8Array` (a `Buffer`'s `slice` is a view). */
export function copyBytes(b: Uint8Array): Uint8Array {
  const c = new Uint8Array(b.length);
  c.set(b);
  return c;
}

/**
 * Scans a database's bytes, fed in chunks (`feed`, then `end`). The records of
 * `database.installs` are read one by one, by the WebAssembly scanner a window at a time and by
 * a `RecordReader` for the records it leaves: their JSON checked whole, only the fields of a
 * light record taken out (a record of an unusual shape is parsed by `JSON.parse` instead), and
 * grouped in batches of about `BATCH_BYTES` whose byte spans the
 * sink is told (the records are parsed again, by batch, when a node is asked for). Malformed
 * JSON is an `InvalidDataError` naming the byte offset.
 */
export class IndexScanner {
  #buf: Uint8Array = new Uint8Array(0);
  /** Bytes of `#buf` in use. */
  #n = 0;
  /** Absolute offset of `#buf[0]`. */
  #base = 0;
  /** True while `#buf` is a caller's buffer, never written. */
  #borrowed = false;
  #phase: "head" | "records" | "tail" = "head";
  /** Absolute offset past the `installs` object's `}`. */
  #close = -1;
  /** Next byte to read in the records (index into `#buf`). */
  #pos = 0;
  /** Start (absolute) of the batch being gathered, or -1. */
  #open = -1;
  /** End (absolute) of the last record read of the open batch. */
  #last = 0;
  /** Where a record was left for more bytes (absolute), so that it is left once only. */
  #deferred = -1;
  /** True until a record of `installs` has been read. */
  #first = true;
  #batches = 0;
  /** The scan is tried again once this many bytes are known (absolute). */
  #retryAt = 0;
  /** The bytes before the `installs` object (kept for the final walk). */
  #head?: Uint8Array;
  readonly #dec = new TextDecoder();
  readonly #reader: RecordReader;
  /** Hints not used yet, in order of their records; the first not passed is at `#hintAt`. */
  #hints: ScanHint[] = [];
  #hintAt = 0;
  /** Hints cover every record the scanner reads before this absolute offset. */
  #frontier = -1;
  /** More hints may come (beyond `#frontier`). */
  #hintsLive = false;
  /** What the reader remembers of the hints' scanner's numbers (its own). */
  readonly #hintNumbers = new ScannerNumbers();
  #wasm: WasmScan | undefined;
  /** From how many bytes on the WebAssembly scanner is used (0: at once; Infinity: never). */
  readonly #wasmFrom: number;

  /** The bytes of each batch are kept until it is emitted (see the constructor). */
  readonly #keepBatches: boolean;

  /**
   * `opts.wasm` false reads every record with the JS reader (as where WebAssembly cannot run),
   * true with the WebAssembly scanner from the start; by default it is instantiated once the
   * index is past {@link WASM_FROM} bytes (for a small index, compiling it costs more than it
   * saves: a few milliseconds of every command's start). `opts.batchBytes` false: the sink
   * wants the batches' spans only (it reads them again from elsewhere), and is given no bytes,
   * so that the bytes of a batch are not held (or copied) until it ends.
   */
  constructor(
    readonly label: string,
    readonly sink: ScanSink,
    opts: { wasm?: boolean; batchBytes?: boolean } = {},
  ) {
    this.#reader = new RecordReader(label);
    this.#wasmFrom = opts.wasm === false ? Infinity : opts.wasm === true ? 0 : WASM_FROM;
    this.#keepBatches = opts.batchBytes ?? true;
  }

  /**
   * Where the records of `installs` start (absolute), once the head of the document is read;
   * else -1.
   */
  get recordsAt(): number {
    return this.#recordsAt;
  }
  #recordsAt = -1;

  /**
   * Entries found by a scanner elsewhere for records of the bytes fed (or about to be): used
   * instead of scanning a record where one starts exactly at it. Every record the hints'
   * scanner read before `frontier` is in the hints (those it left are read here); with `live`,
   * hints for records beyond it will come (so records there wait for them).
   */
  hint(hints: ScanHint[], frontier: number, live: boolean): void {
    for (const h of hints) this.#hints.push(h);
    this.#frontier = frontier;
    this.#hintsLive = live;
  }

  /** Records read from hints so far. */
  get fromHints(): number {
    return this.#fromHints;
  }
  #fromHints = 0;

  /** Adds bytes (copied when they must be kept beyond the call). */
  feed(chunk: Uint8Array): void {
    // (An empty chunk may come with hints for the bytes already fed.)
    if (!chunk.length && this.#hintAt === this.#hints.length) return;
    this.#append(chunk);
    this.#step(false);
  }

  /** The end of the bytes: scans the rest and walks the document's structure. */
  end(): ScanResult {
    this.#step(true);
    const size = this.#base + this.#n;
    if (this.#phase === "head") {
      // No `installs` object: the whole document is walked as it is.
      const w = new Walk(this.#buf, this.#n, true, this.label, (i) => i);
      const { version } = w.document((at) => w.skipValue(at));
      return { version, hasInstalls: false, size };
    }
    // The document with the records taken out: the head, `{}`, the rest after `installs`.
    const head = this.#head!;
    const tail = this.#buf.subarray(0, this.#n);
    const doc = new Uint8Array(head.length + 2 + tail.length);
    doc.set(head);
    doc[head.length] = LB;
    doc[head.length + 1] = RB;
    doc.set(tail, head.length + 2);
    const shift = this.#close - (head.length + 2);
    const w = new Walk(doc, doc.length, true, this.label, (i) => i < head.length ? i : i + shift);
    const { version } = w.document((at) => at + 2);
    return { version, hasInstalls: true, size };
  }

  #append(chunk: Uint8Array): void {
    if (this.#n === 0 && !this.#borrowed) {
      // Nothing pending: the chunk is read in place (copied only if bytes must stay).
      this.#buf = chunk;
      this.#n = chunk.length;
      this.#borrowed = true;
      return;
    }
    const need = this.#n + chunk.length;
    if (this.#borrowed || need > this.#buf.length) {
      const grown = new Uint8Array(Math.max(need, this.#borrowed ? need : 2 * this.#buf.length));
      grown.set(this.#buf.subarray(0, this.#n));
      this.#buf = grown;
      this.#borrowed = false;
    }
    this.#buf.set(chunk, this.#n);
    this.#n = need;
  }

  /** Whatever can be scanned with the bytes known; `final` when no more will come. */
  #step(final: boolean): void {
    if (!final && this.#base + this.#n < this.#retryAt) return this.#keep();
    if (this.#phase === "head") {
      const w = new Walk(this.#buf, this.#n, final, this.label, (i) => i);
      try {
        w.document((at) => {
          throw new InstallsAt(at);
        });
        // The whole document walked without an `installs` object: `end` reports it.
        if (!final) this.#retryAt = 2 * this.#n;
        return this.#keep();
      } catch (e) {
        if (e === NEED_MORE) {
          this.#retryAt = Math.max(this.#n + 1, 2 * this.#n);
          return this.#keep();
        }
        if (!(e instanceof InstallsAt)) throw e;
        this.#head = copyBytes(this.#buf.subarray(0, e.at));
        this.#phase = "records";
        this.#pos = e.at + 1;
        this.#recordsAt = this.#base + this.#pos;
      }
    }
    if (this.#phase === "records") this.#records(final);
    // The bytes read are dropped (those of the open batch kept) once they are as many as the
    // bytes kept, so that each drop moves no more than it frees.
    const p = this.#open >= 0 && this.#keepBatches ? this.#open - this.#base : this.#pos;
    if (p > 0 && (final || this.#borrowed || 2 * p >= this.#n)) {
      if (this.#borrowed) this.#buf = this.#buf.subarray(p, this.#n);
      else this.#buf.copyWithin(0, p, this.#n);
      this.#base += p;
      this.#n -= p;
      this.#pos -= p;
    }
    if (!final) this.#keep();
  }

  /** A borrowed chunk is not the caller's to keep: what is pending is copied. */
  #keep(): void {
    if (!this.#borrowed) return;
    this.#buf = copyBytes(this.#buf.subarray(0, this.#n));
    this.#borrowed = false;
  }

  /** The open batch (records from `#open` to `#last`) is done. */
  #emit(): void {
    const s = this.#open, e = this.#last;
    const bytes = this.#keepBatches ? this.#buf.subarray(s - this.#base, e - this.#base) : EMPTY;
    this.sink.batch(this.#batches++, s, e, bytes);
    this.#open = -1;
  }

  /** Reads records from `#pos` while the bytes known allow; moves to "tail" at `installs`' end. */
  #records(final: boolean): void {
    const n = this.#n;
    const b = this.#buf;
    const r = this.#reader;
    r.reset(b, n, final, this.#base);
    let wasm = this.#wasm;
    for (;;) {
      if (this.#frontier >= 0 || this.#hintsLive) {
        // Records a scanner elsewhere read (see `hint`).
        const i = r.ws(this.#pos);
        if (i >= n && !final) return;
        const at = this.#base + i;
        const h = this.#takeHint(at);
        if (h && !this.#fits(h.hint, h.from, n)) {
          // Hints that do not fit the bytes (never from a working scanner): none is used again.
          this.#hints = [];
          this.#hintAt = 0;
          this.#frontier = -1;
          this.#hintsLive = false;
          continue;
        }
        if (h) {
          this.#fromHints += h.hint.count - h.from;
          this.#entries(
            h.hint.table,
            h.from,
            h.hint.count,
            h.hint.base - this.#base,
            this.#hintNumbers,
          );
          if (this.#phase !== "records") return;
          this.#pos = h.hint.next - this.#base;
          continue;
        }
        if (at < this.#frontier) {
          // A record that scanner left: read here.
          if (!this.#one(r, n)) return;
          continue;
        }
        // Its hint is still to come.
        if (this.#hintsLive && !final) return;
      }
      if (!wasm && this.#base + n >= this.#wasmFrom) wasm = this.#wasm = wasmScan();
      if (wasm && this.#pos < n) {
        // Plain records at native speed, a window at a time.
        const s = this.#pos;
        const got = wasm.scan(b.subarray(s, Math.min(n, s + WINDOW)));
        this.#entries(got.table, 0, got.count, s);
        if (this.#phase !== "records") return;
        this.#pos = s + got.pos;
        // Stopped by the end of the entry table, or of a window short of the bytes known.
        if (got.stop === STOP.MAX || (got.pos > 0 && s + WINDOW < n)) continue;
        // A record cut by the end of the bytes known is read when more come, by the scanner
        // (the reader takes it if the scanner stops there again).
        const at = this.#base + this.#pos;
        if (!final && s + WINDOW >= n && at !== this.#deferred) {
          this.#deferred = at;
          this.#retryAt = this.#base + n + Math.max(n - this.#pos, 64 << 10);
          return;
        }
      }
      // A record the scanner left (or every record, without it), by the reader.
      if (!this.#one(r, n)) return;
    }
  }

  /**
   * The records of entries `from` to `count` of a scanner's `table` (offsets + `s` are indexes
   * into the buffer); `numbers`: the reader's memory of that scanner's numbers.
   */
  #entries(
    table: Uint32Array,
    from: number,
    count: number,
    s: number,
    numbers?: ScannerNumbers,
  ): void {
    const r = this.#reader;
    const words = ENTRY_WORDS;
    for (let k = from; k < count; k++) {
      const o = k * words;
      const i = table[o + E.KEY] + s;
      // Keys are unique: decoded, not looked up.
      const hash = r.asciiText(i + 1, table[o + E.KEY + 1] + s - 1);
      r.entry(table, o, s, numbers);
      this.#commit(i, table[o + E.VALUE + 1] + s, table[o + E.SEP] + s, hash, r.f);
    }
  }

  /**
   * True when entries `from` on of `hint` fit the bytes known: each record's key starts with a
   * quote and its value with `{` within them, and a "," or "}" follows it.
   */
  #fits(hint: ScanHint, from: number, n: number): boolean {
    const b = this.#buf, t = hint.table, s = hint.base - this.#base;
    for (let k = from; k < hint.count; k++) {
      const o = k * ENTRY_WORDS;
      const key = t[o + E.KEY] + s, value = t[o + E.VALUE] + s, sep = t[o + E.SEP] + s;
      if (key < 0 || sep >= n || b[key] !== Q || b[value] !== LB) return false;
      if (b[sep] !== COMMA && b[sep] !== RB) return false;
    }
    return true;
  }

  /**
   * The hint with a record whose key is at the absolute offset `at`, and that record's entry;
   * hints passed are dropped.
   */
  #takeHint(at: number): { hint: ScanHint; from: number } | undefined {
    const hs = this.#hints;
    while (this.#hintAt < hs.length && hs[this.#hintAt].next <= at) this.#hintAt++;
    if (this.#hintAt === hs.length) {
      hs.length = this.#hintAt = 0;
      return undefined;
    }
    if (this.#hintAt >= 64) {
      hs.splice(0, this.#hintAt);
      this.#hintAt = 0;
    }
    const h = hs[this.#hintAt];
    if (h.at > at) return undefined;
    // The entry whose key is at `at` (entries are in order: a binary search).
    const t = h.table, rel = at - h.base;
    let lo = 0, hi = h.count - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const k = t[mid * ENTRY_WORDS + E.KEY];
      if (k === rel) return { hint: h, from: mid };
      if (k < rel) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }

  /** One record at `#pos` by the reader; false when the bytes end first or `installs` does. */
  #one(r: RecordReader, n: number): boolean {
    const b = this.#buf;
    const i = r.ws(this.#pos);
    if (this.#first && i < n && b[i] === RB) {
      // An empty `installs`.
      this.#close = this.#base + i + 1;
      this.#pos = i + 1;
      this.#phase = "tail";
      return false;
    }
    try {
      if (i >= n || b[i] !== Q) r.fail(i, "a key string");
      const ke = r.str(i);
      const hash = r.text(i, ke);
      let v = r.ws(ke);
      if (v >= n || b[v] !== COLON) r.fail(v, '":"');
      v = r.ws(v + 1);
      let ve: number;
      let fast = true;
      try {
        ve = v < n && b[v] === LB ? r.record(v) : (fast = false, r.value(v));
      } catch (x) {
        if (x !== BAIL) throw x;
        fast = false;
        ve = r.value(v);
      }
      const e = r.ws(ve);
      if (e >= n || (b[e] !== COMMA && b[e] !== RB)) r.fail(e, '"," or "}"');
      this.#commit(i, ve, e, hash, fast ? r.f : undefined, fast ? undefined : this.#parse(v, ve));
    } catch (x) {
      if (x !== NEED_MORE) throw x;
      // The record from `i` is read again when enough more bytes are known.
      this.#retryAt = this.#base + n + Math.max(n - i, 64 << 10);
      return false;
    }
    return this.#phase === "records";
  }

  /**
   * A record read: key at `i`, value ending at `ve`, then `,` or `}` at `e`; its fields, or
   * its parsed value. Batches are cut past `BATCH_BYTES`.
   */
  #commit(
    i: number,
    ve: number,
    e: number,
    hash: string,
    f: RecordFields | undefined,
    parsed?: unknown,
  ): void {
    if (this.#open < 0) this.#open = this.#base + i;
    this.#last = this.#base + ve;
    const k = this.#batches;
    if (f) this.sink.fields(hash, f, k);
    else this.sink.record(hash, parsed, k);
    this.#first = false;
    if (this.#buf[e] === RB) {
      this.#emit();
      this.#close = this.#base + e + 1;
      this.#pos = e + 1;
      this.#phase = "tail";
      return;
    }
    this.#pos = e + 1;
    if (this.#last - this.#open >= BATCH_BYTES) this.#emit();
  }

  /** The value [s, e) of the buffer, parsed (it has been checked). */
  #parse(s: number, e: number): unknown {
    try {
      return JSON.parse(this.#dec.decode(this.#buf.subarray(s, e)));
    } catch (err) {
      throw new InvalidDataError(
        `Cannot parse ${this.label}: bad JSON at byte ${this.#base + s}: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }
}
