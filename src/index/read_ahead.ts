/**
 * Reading a big local index on two threads. A worker thread reads the file and runs the
 * WebAssembly record scanner over it, a few chunks ahead of the main thread, which hashes the
 * bytes and builds the light records from what the scanner found (the worker's results are
 * "hints": the entry tables `IndexScanner` would otherwise compute itself). Reading and scanning
 * (about half of the work) then overlap with the rest instead of adding to it.
 *
 * The bytes the main thread hashes and parses are the worker's buffers, handed over (and handed
 * back to be read into again). A hint only saves work: the main thread uses it for a record that
 * starts exactly where it is reading (the scanner's result for a record depends on that
 * record's bytes only), and reads with its own scanner wherever none fits (a record the
 * worker's scanner left, or no worker at all), so the records and errors are those of a read
 * without a worker. The worker stays at most a few chunks ahead (acknowledged chunk by chunk),
 * so memory is bounded as for a plain stream, and reads no more than the declared size and one
 * byte.
 *
 * @module
 */
import { digestChecker } from "../core/digest.ts";
import { InvalidDataError } from "../errors.ts";
import type { IndexScanner, ScanHint } from "./scan.ts";
import { ENTRY_WORDS, wasmScanBytes } from "./wasm_scan.ts";

/** Bytes of the first chunk (the head of the document, where the records start, is small). */
const FIRST_CHUNK = 64 << 10;
/** Bytes of each further chunk. */
const CHUNK = 1 << 20;
/** Chunks the worker may read ahead of the main thread (once the records are reached). */
const AHEAD = 8;
/** Bytes of a slot of the shared ring: a chunk and the start of a record cut by its end. */
const SLOT = CHUNK + (64 << 10);

/**
 * The worker: told `{ path, size, first, chunk, ahead, wasm, words, ring, slots }`, opens the
 * file (answering its identity), then reads it chunk by chunk into the scanner's memory, scans
 * the records the bytes read complete, and sends the bytes up to the last of them (in a slot of
 * the shared ring, or a buffer handed over when they are more than a slot) with the scanner's
 * entry tables. It waits for the main thread's acknowledgements (`{ ack, recordsAt }`: chunks
 * consumed, where the records start once known) to stay `ahead` chunks ahead. At the end it
 * sends `{ end }`; on any failure `{ error, code }`.
 */
const WORKER_SOURCE = `
const WARM_UP = 32, HEAD_MAX = 8 << 20;
let fs, fd, x = null, table = null, words = 0, maxEntries = 0;
let pos = 0, sent = 0, acked = 0, recordsAt = -1, waiting = null;
// The ring shared with the main thread: slots of slotSize bytes, message k's bytes in slot
// k % slots (free again once the main thread has acknowledged message k).
let ring = null, slots = 0, slotSize = 0;
// The bytes read and not dropped are the module memory's [input, input + inLen): the file's
// [inBase, inBase + inLen). Sent up to sentTo; scanned up to cur (-1 before the records).
let input = 0, cap = 0, inBase = 0, inLen = 0, cur = -1, live = true, sentTo = 0;
self.onmessage = (e) => {
  const d = e.data;
  if (d.path !== undefined) {
    run(d).catch((err) => self.postMessage({ error: String((err && err.message) || err), code: err && err.code }));
    return;
  }
  acked = d.ack;
  if (recordsAt < 0 && d.recordsAt >= 0) recordsAt = d.recordsAt;
  const w = waiting;
  waiting = null;
  if (w) w();
};
function mem() { return new Uint8Array(x.memory.buffer); }
function ensure(size) {
  if (size <= cap) return;
  const want = Math.max(size, 2 * cap);
  const at = x.scan_input(want);
  if (!at) throw new Error("out of memory for the index scanner");
  input = at;
  cap = want;
  table = null;
}
// Drops the bytes both sent and scanned (none before the records are found: they are to scan).
function compact() {
  if (recordsAt < 0 && live) {
    // The head is kept to scan the records that follow it, but no more than HEAD_MAX bytes:
    // past that the main thread reads the records alone (as from a document with no installs).
    if (inLen <= HEAD_MAX) return;
    live = false;
  }
  const keepFrom = live ? Math.min(cur >= 0 ? cur : recordsAt, sentTo) : sentTo;
  const drop = keepFrom - inBase;
  if (drop <= 0) return;
  mem().copyWithin(input, input + drop, input + inLen);
  inBase += drop;
  inLen -= drop;
}
function readInto(b, at, want) {
  let got = 0;
  while (got < want) {
    const k = fs.readSync(fd, b, at + got, want - got, pos + got);
    if (k <= 0) break;
    got += k;
  }
  return got;
}
const isWs = (c) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
// Past the string at i (its quote), or -1 when the bytes end first.
function skipString(b, i, n) {
  for (let k = i + 1; k < n; k++) {
    const c = b[k];
    if (c === 0x5c) k++;
    else if (c === 0x22) return k + 1;
  }
  return -1;
}
// Past a record the scanner left at i ("key": value, then "," or "}"): the index after its
// ",", -1 when the bytes end first, -2 at the end of installs or what is not a record. Lenient:
// the main thread reads that record itself and reports what is wrong with it.
function skipRecord(b, i, n) {
  if (b[i] !== 0x22) return -2;
  i = skipString(b, i, n);
  if (i < 0) return -1;
  while (i < n && isWs(b[i])) i++;
  if (i >= n) return -1;
  if (b[i] !== 0x3a) return -2;
  i++;
  let depth = 0;
  for (; i < n; i++) {
    const c = b[i];
    if (c === 0x22) {
      i = skipString(b, i, n);
      if (i < 0) return -1;
      i--;
    } else if (c === 0x7b || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d) {
      if (depth === 0) return -2;
      depth--;
    } else if (c === 0x2c && depth === 0) return i + 1;
  }
  return -1;
}
// Scans from cur while the bytes allow, adding the tables found to hints.
function scan(hints, transfer) {
  if (!live || recordsAt < 0) return;
  if (cur < 0) cur = recordsAt;
  if (!table || !table.length) table = new Uint32Array(x.memory.buffer, x.scan_table(), maxEntries * words);
  const n = inLen;
  const b = mem().subarray(input, input + n);
  for (;;) {
    let at = cur - inBase;
    while (at < n && isWs(b[at])) at++;
    cur = inBase + at;
    if (at >= n) return;
    const count = x.scan_records(n, at, maxEntries);
    const stop = x.scan_stop(), p = x.scan_pos();
    if (count > 0) {
      const t = table.slice(0, count * words);
      hints.push({ at: cur, base: inBase, count, table: t, next: inBase + p });
      transfer.push(t.buffer);
    }
    cur = inBase + p;
    if (stop === 1) { live = false; return; }
    if (stop === 0) continue;
    // A record the scanner does not read (left to the main thread), or cut by the end.
    const e = skipRecord(b, p, n);
    if (e === -1) return;
    if (e === -2) { live = false; return; }
    cur = inBase + e;
  }
}
// Runs the scanner over the records of the first chunk a few times (the results unused), so
// that the engine's optimizing tier compiles it while the main thread reads the document's
// head: scanning the rest then runs the optimized code.
function warmUp() {
  const b = mem().subarray(input, input + inLen);
  const key = [0x22, 0x69, 0x6e, 0x73, 0x74, 0x61, 0x6c, 0x6c, 0x73, 0x22]; // "installs"
  let at = -1;
  for (let i = 0; i + key.length < inLen && at < 0; i++) {
    let k = 0;
    while (k < key.length && b[i + k] === key[k]) k++;
    if (k === key.length) at = i + key.length;
  }
  if (at < 0) return;
  while (at < inLen && b[at] !== 0x7b) at++;
  for (let r = 0; r < WARM_UP; r++) x.scan_records(inLen, at + 1, maxEntries);
}
// Sends the bytes read up to the records scanned (all of them once scanning is over).
function send(hints, transfer, all) {
  const upTo = all || !live || recordsAt < 0 ? inBase + inLen : cur;
  const len = Math.max(0, upTo - sentTo);
  if (!len && !hints.length) return;
  const bytes = mem().subarray(input + sentTo - inBase, input + sentTo - inBase + len);
  if (len <= slotSize) {
    const slot = sent % slots;
    new Uint8Array(ring, slot * slotSize, len).set(bytes);
    self.postMessage({ slot, len, hints, frontier: cur, live }, transfer);
  } else {
    // More than a slot (a record longer than a chunk): a buffer of its own, handed over.
    const chunk = bytes.slice();
    transfer.push(chunk.buffer);
    self.postMessage({ chunk, hints, frontier: cur, live }, transfer);
  }
  sentTo += len;
  sent++;
}
async function run(d) {
  fs = await import("node:fs");
  fd = fs.openSync(d.path, "r");
  const st = fs.fstatSync(fd);
  self.postMessage({ ino: st.ino, size: st.size, mtimeMs: st.mtimeMs });
  try {
    try {
      x = new WebAssembly.Instance(new WebAssembly.Module(d.wasm), {}).exports;
      words = x.scan_entry_words();
      maxEntries = x.scan_max_entries();
      if (words !== d.words) x = null;
    } catch {
      x = null;
    }
    if (!x) live = false;
    ring = d.ring;
    slots = d.slots;
    slotSize = ring.byteLength / slots;
    // No more than the declared size and one byte (which the main thread refuses) is read.
    const limit = d.size + 1;
    // Waits until a message more may be in flight (its slot is free).
    const credit = async () => {
      while (sent - acked >= (recordsAt < 0 && live ? 1 : d.ahead)) {
        await new Promise((r) => waiting = r);
      }
    };
    for (;;) {
      await credit();
      const want = Math.min(sent === 0 ? d.first : d.chunk, limit - pos);
      if (want <= 0) break;
      if (!x) {
        // Without the scanner: the bytes as read.
        const slot = sent % slots;
        const got = readInto(new Uint8Array(ring, slot * slotSize, want), 0, want);
        if (!got) break;
        pos += got;
        self.postMessage({ slot, len: got, hints: [], frontier: -1, live: false });
        sent++;
        continue;
      }
      compact();
      ensure(inLen + want);
      const got = readInto(mem(), input + inLen, want);
      if (!got) break;
      inLen += got;
      pos += got;
      if (sent === 0) warmUp();
      const hints = [], transfer = [];
      scan(hints, transfer);
      send(hints, transfer, false);
    }
    if (x) {
      await credit();
      send([], [], true);
    }
  } finally {
    fs.closeSync(fd);
  }
  self.postMessage({ end: true });
}
`;

interface ChunkMessage {
  /** The bytes: in slot `slot` of the ring (`len` of them), or a buffer of their own. */
  slot?: number;
  len?: number;
  chunk?: Uint8Array;
  hints: ScanHint[];
  frontier: number;
  live: boolean;
}
type WorkerMessage =
  | ChunkMessage
  | { ino: number; size: number; mtimeMs: number }
  | { end: true }
  | { error: string; code?: string };

/** What the index is checked against, and the file it must be (as `stat` found it). */
export interface ReadAheadOptions {
  digest: string;
  size: number;
  label: string;
  before: { ino: number; size: number; mtimeMs: number };
  signal?: AbortSignal;
}

/**
 * The chunks of a local index file, read, hashed and scanned ahead by a worker thread (see the
 * module); the scanner that consumes them is told with {@link attach}. Iterated once.
 */
export class IndexReadAhead implements AsyncIterable<Uint8Array> {
  readonly #worker: Worker;
  readonly #url: string;
  readonly #o: ReadAheadOptions;
  readonly #queue: WorkerMessage[] = [];
  /** The ring of chunk slots shared with the worker (no buffer made or handed over per chunk). */
  readonly #ring = new SharedArrayBuffer((AHEAD + 1) * SLOT);
  #wake: (() => void) | undefined;
  #scanner: IndexScanner | undefined;
  #closed = false;

  private constructor(worker: Worker, url: string, path: string, o: ReadAheadOptions) {
    this.#worker = worker;
    this.#url = url;
    this.#o = o;
    worker.onmessage = (e: MessageEvent) => this.#push(e.data as WorkerMessage);
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault?.();
      this.#push({ error: e.message || "the index reading worker failed" });
    };
    worker.postMessage({
      path,
      size: o.size,
      first: FIRST_CHUNK,
      chunk: CHUNK,
      ahead: AHEAD,
      wasm: wasmScanBytes(),
      words: ENTRY_WORDS,
      ring: this.#ring,
      slots: AHEAD + 1,
    });
  }

  /**
   * A reader of the file at `path`, or undefined where no worker can be started (a runtime
   * without module workers from `blob:` URLs or shared memory): the caller reads the file
   * itself.
   */
  static start(path: string, o: ReadAheadOptions): IndexReadAhead | undefined {
    const W = (globalThis as { Worker?: typeof Worker }).Worker;
    if (
      typeof W !== "function" || typeof URL.createObjectURL !== "function" ||
      typeof SharedArrayBuffer !== "function"
    ) return undefined;
    let url: string | undefined;
    try {
      url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: "text/javascript" }));
      return new IndexReadAhead(new W(url, { type: "module" }), url, path, o);
    } catch {
      if (url) URL.revokeObjectURL(url);
      return undefined;
    }
  }

  /** Records the scanner read from the worker's hints (so far). */
  get hintsUsed(): number {
    return this.#scanner?.fromHints ?? 0;
  }

  /** The scanner the chunks are fed to: it is given the worker's hints as they come. */
  attach(scanner: IndexScanner): void {
    this.#scanner = scanner;
  }

  #push(m: WorkerMessage): void {
    this.#queue.push(m);
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  async #next(): Promise<WorkerMessage> {
    const signal = this.#o.signal;
    while (!this.#queue.length) {
      signal?.throwIfAborted();
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    signal?.throwIfAborted();
    return this.#queue.shift()!;
  }

  #abort = (): void => {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  };

  /** Stops the worker (what it was doing is dropped). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#worker.terminate();
    URL.revokeObjectURL(this.#url);
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    const { label, digest, size, before, signal } = this.#o;
    // The bytes are hashed here, as they are parsed (the worker reads and scans).
    const check = digestChecker({ digest, size }, label);
    signal?.addEventListener("abort", this.#abort);
    try {
      let acked = 0;
      for (;;) {
        const m = await this.#next();
        if ("error" in m) throw Object.assign(new Error(m.error), m.code ? { code: m.code } : {});
        if ("ino" in m) {
          if (m.ino !== before.ino || m.size !== before.size || m.mtimeMs !== before.mtimeMs) {
            throw new InvalidDataError(`Cannot read ${label}: it changed while it was read`);
          }
          continue;
        }
        if ("end" in m) return check.end();
        const chunk = m.chunk ?? new Uint8Array(this.#ring, m.slot! * SLOT, m.len!);
        check.update(chunk);
        this.#scanner?.hint(m.hints, m.frontier, m.live);
        yield chunk;
        // The consumer is done with the chunk (what it keeps, it copied): its slot is free.
        this.#worker.postMessage({ ack: ++acked, recordsAt: this.#scanner?.recordsAt ?? -1 });
      }
    } finally {
      signal?.removeEventListener("abort", this.#abort);
      this.close();
    }
  }
}
