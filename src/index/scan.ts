/**
 * Reading a Spack database's JSON a batch of records at a time, from one buffer or from a
 * stream of chunks, without ever building the whole document: the structure down to
 * `database.installs` is walked, and the records are parsed about `BATCH_BYTES` at a time (one
 * `JSON.parse` over their contiguous text, wrapped in braces). Fed from a stream, only the bytes
 * of the batch being cut (and one chunk) are held, whatever the size of the index.
 *
 * @module
 */
import { InvalidDataError } from "../errors.ts";

/** Bytes of record text parsed per `JSON.parse` call. */
export const BATCH_BYTES = 256 << 10;
/** How far past a batch's target size a split point is looked for before reading record by record. */
const SPLIT_SEARCH = 1 << 20;
/** Bytes a guessed cut needs known past where its batch starts. */
const LOOKAHEAD = BATCH_BYTES + SPLIT_SEARCH;

const Q = 0x22, BS = 0x5c, LB = 0x7b, RB = 0x7d, LS = 0x5b, RS = 0x5d, COMMA = 0x2c, COLON = 0x3a;

/** Thrown inside the scanner when the bytes so far end before what it looks for. */
class NeedMore {}
const NEED_MORE = new NeedMore();
/** Thrown by the head walk when it reaches the `installs` object (at `at`, its `{`). */
class InstallsAt {
  constructor(readonly at: number) {}
}

/** What the scanner calls back with. */
export interface ScanSink {
  /** One record (key, parsed value) of batch `batch`. */
  record(hash: string, rec: unknown, batch: number): void;
  /** A batch parsed: its number, absolute byte span, and its bytes (valid during the call only). */
  batch(batch: number, start: number, end: number, bytes: Uint8Array): void;
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

const isWs = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
const isB32 = (c: number) => (c >= 0x61 && c <= 0x7a) || (c >= 0x32 && c <= 0x37);

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

/**
 * Scans a database's bytes, fed in chunks (`feed`, then `end`). A batch ends before a
 * `,"<32-character DAG hash>":{` found past its target size: such a guess is right when the
 * batch parses (a cut anywhere but between two records of `installs` leaves one of the batches
 * unbalanced); when it does not, the records are walked one by one (strings skipped by
 * `indexOf`, brackets by depth) and the batch cut between two of them. Malformed JSON is an
 * `InvalidDataError` naming the byte offset.
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
  /** Absolute offset of the `installs` object's `{`, and past its `}`. */
  #open = -1;
  #close = -1;
  /** Next byte to read in the records (index into `#buf`). */
  #pos = 0;
  #batches = 0;
  /** The head walk is tried again once this many bytes are known. */
  #retryAt = 0;
  /** The bytes before the `installs` object (kept for the final walk). */
  #head?: Uint8Array;
  readonly #dec = new TextDecoder();

  constructor(readonly label: string, readonly sink: ScanSink) {}

  /** Adds bytes (copied when they must be kept beyond the call). */
  feed(chunk: Uint8Array): void {
    if (!chunk.length) return;
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
    if (this.#phase !== "tail") {
      return new Walk(this.#buf, this.#n, true, this.label, (i) => this.#base + i).fail(
        this.#n,
        '"," or "}"',
      );
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
      // Nothing pending: the chunk is read in place (copied only if bytes must stay). A plain
      // Uint8Array view, so that `slice` copies (a Node Buffer's `slice` is a view, and the
      // bytes kept would be the caller's, moved by `copyWithin`).
      this.#buf = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
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
    if (this.#phase === "head") {
      if (!final && this.#n < this.#retryAt) return this.#keep();
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
        this.#open = e.at;
        this.#head = this.#buf.slice(0, e.at);
        this.#phase = "records";
        this.#pos = e.at + 1;
      }
    }
    // Bytes are let pile up to two batches' worth (with their split search) so that each
    // drop of the bytes read moves no more than it keeps.
    if (this.#phase === "records" && (final || this.#n - this.#pos >= 2 * LOOKAHEAD)) {
      this.#records(final);
    }
    // The bytes read are dropped: the buffer holds about a batch (or the few bytes after
    // `installs`).
    const p = this.#pos;
    if (p > 0) {
      if (this.#borrowed) this.#buf = this.#buf.subarray(p, this.#n);
      else this.#buf.copyWithin(0, p, this.#n);
      this.#base += p;
      this.#n -= p;
      this.#pos = 0;
    }
    if (!final) this.#keep();
  }

  /** A borrowed chunk is not the caller's to keep: what is pending is copied. */
  #keep(): void {
    if (!this.#borrowed) return;
    this.#buf = this.#buf.slice(0, this.#n);
    this.#borrowed = false;
  }

  /** Parses the records in [s, e) of the buffer as one batch; false when a guess does not parse. */
  #batch(s: number, e: number, strict: boolean): boolean {
    const b = this.#buf;
    let doc: Record<string, unknown>;
    try {
      doc = JSON.parse(`{${this.#dec.decode(b.subarray(s, e))}}`);
    } catch (err) {
      if (!strict) return false;
      throw new InvalidDataError(
        `Cannot parse ${this.label}: bad JSON in the records at bytes ${this.#base + s} to ${
          this.#base + e
        }: ${(err as Error).message}`,
        { cause: err },
      );
    }
    const k = this.#batches++;
    this.sink.batch(k, this.#base + s, this.#base + e, b.subarray(s, e));
    for (const hash in doc) this.sink.record(hash, doc[hash], k);
    return true;
  }

  /** The index of the `,` before the first `"<32 base32>":{` key at or after `from`, or -1. */
  #findSplit(from: number, n: number): number {
    const b = this.#buf;
    const ws = (i: number) => {
      while (i < n && isWs(b[i])) i++;
      return i;
    };
    let j = from;
    const stop = Math.min(n - 40, from + SPLIT_SEARCH);
    while (j < stop) {
      const q = b.indexOf(Q, j);
      if (q < 0 || q >= stop) return -1;
      j = q + 1;
      if (b[q + 33] !== Q) continue;
      let ok = true;
      for (let k = q + 1; k <= q + 32; k++) {
        if (!isB32(b[k])) {
          ok = false;
          break;
        }
      }
      if (!ok) continue;
      const c = ws(q + 34);
      if (b[c] !== COLON || b[ws(c + 1)] !== LB) continue;
      let p = q - 1;
      while (p > from && isWs(b[p])) p--;
      if (b[p] === COMMA) return p;
    }
    return -1;
  }

  /** Reads records from `#pos` while the bytes known allow; moves to "tail" at `installs`' end. */
  #records(final: boolean): void {
    const n = this.#n;
    const w = new Walk(this.#buf, n, final, this.label, (i) => this.#base + i);
    const b = this.#buf;
    for (;;) {
      let i = w.ws(this.#pos);
      if (i >= n) {
        if (final) w.fail(i, "a key string");
        return;
      }
      if (b[i] === RB && this.#pos === this.#open - this.#base + 1) {
        // An empty `installs`.
        this.#close = this.#base + i + 1;
        this.#pos = i + 1;
        this.#phase = "tail";
        return;
      }
      // A guessed cut, when enough bytes are known to find one.
      if (i + BATCH_BYTES < n && (final || i + LOOKAHEAD <= n)) {
        const cut = this.#findSplit(i + BATCH_BYTES, n);
        if (cut >= 0 && this.#batch(i, cut, false)) {
          this.#pos = cut + 1;
          continue;
        }
      } else if (!final) return;
      // Record by record up to a batch's size (or the end of `installs`).
      const s = i;
      try {
        for (;;) {
          if (b[i] !== Q) w.fail(i, "a key string");
          i = w.ws(w.skipString(i));
          if (i >= n || b[i] !== COLON) w.fail(i, '":"');
          const e = w.skipValue(w.ws(i + 1));
          i = w.ws(e);
          if (i < n && b[i] === RB) {
            this.#batch(s, e, true);
            this.#close = this.#base + i + 1;
            this.#pos = i + 1;
            this.#phase = "tail";
            return;
          }
          if (i >= n || b[i] !== COMMA) w.fail(i, '"," or "}"');
          i = w.ws(i + 1);
          if (e - s >= BATCH_BYTES) {
            this.#batch(s, e, true);
            this.#pos = i;
            break;
          }
        }
      } catch (e) {
        if (e !== NEED_MORE) throw e;
        // The records from `s` are read again when more bytes are known.
        return;
      }
    }
  }
}
