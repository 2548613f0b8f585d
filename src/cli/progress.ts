/**
 * Progress bars on a terminal: one line per running item (bytes, rate, ETA; with more items
 * than lines, the slowest in flight first) and an overall line (items done/total, bytes, rate,
 * ETA for the whole run). Nothing is drawn when stderr is not a terminal, or with
 * `--quiet`/`--json` (`Output.tty` is false then); colours follow `Output.color` (so NO_COLOR and
 * `--no-color` turn them off).
 *
 * ```ts
 * const progress = Progress.for(out);          // a no-op when not on a terminal
 * progress.setTotal(totalBytes, specs.length); // optional: overall totals
 * const bar = progress.start("zlib@1.3.1", size);
 * bar.advance(chunk.byteLength);               // as bytes stream
 * bar.done();                                  // counts the item as finished
 * progress.log("installed zlib");              // a line printed above the bars
 * progress.stop();                             // erases the bars
 * ```
 *
 * @module
 */
import process from "node:process";
import { type Colors, formatBytes, type Output } from "./output.ts";
import type { Entry, ReadOptions, Store, WriteOptions } from "../../mod.ts";

/** Where bars are drawn (stderr by default). */
export interface ProgressStream {
  write(s: string): unknown;
  columns?: number;
}

/** Options, mostly for tests. */
export interface ProgressOptions {
  stream?: ProgressStream;
  /** Milliseconds clock. */
  now?: () => number;
  /** Least milliseconds between redraws (100). */
  interval?: number;
  /** Most item lines shown at once (4); the rest are counted on the overall line. */
  maxLines?: number;
}

/** One item's bar. */
export interface ProgressItem {
  /** Adds `bytes` to the item (and to the overall count). */
  advance(bytes: number): void;
  /** Marks the item finished. */
  done(): void;
}

interface ItemState {
  label: string;
  total?: number;
  bytes: number;
  started: number;
}

const NOOP_ITEM: ProgressItem = { advance() {}, done() {} };

/** Formats seconds as m:ss (or h:mm:ss). */
export function formatDuration(secs: number): string {
  if (!Number.isFinite(secs) || secs < 0) return "--:--";
  const s = Math.round(secs);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

function bar(frac: number, width: number, c: Colors): string {
  const f = Math.max(0, Math.min(1, frac));
  const full = Math.round(f * width);
  return c.green("█".repeat(full)) + c.dim("░".repeat(width - full));
}

/** Progress bars for one command. */
export class Progress {
  readonly enabled: boolean;
  #stream: ProgressStream;
  #now: () => number;
  #interval: number;
  #maxLines: number;
  #color: Colors;
  #items = new Set<ItemState>();
  #drawn = 0;
  #last = -Infinity;
  #started: number;
  #totalBytes?: number;
  #totalItems?: number;
  #doneItems = 0;
  #bytes = 0;
  #stopped = false;
  #label = "total";

  constructor(enabled: boolean, color: Colors, opts: ProgressOptions = {}) {
    this.enabled = enabled;
    this.#color = color;
    this.#stream = opts.stream ?? process.stderr;
    this.#now = opts.now ?? (() => performance.now());
    this.#interval = opts.interval ?? 100;
    this.#maxLines = opts.maxLines ?? 4;
    this.#started = this.#now();
  }

  /** Bars for a command's output: drawn only when `out.tty` (a terminal, not quiet, not json). */
  static for(out: Output, opts: ProgressOptions = {}): Progress {
    return new Progress(out.tty, out.color, opts);
  }

  /** Sets the overall totals (bytes, and items when known). */
  setTotal(bytes?: number, items?: number): void {
    this.#totalBytes = bytes;
    this.#totalItems = items;
    this.#draw(false);
  }

  /**
   * Starts an item's bar; `total` bytes when known. With `counts: false` its end does not count
   * as an item done (when items are counted with {@link finish} instead).
   */
  start(label: string, total?: number, opts: { counts?: boolean } = {}): ProgressItem {
    if (!this.enabled) return NOOP_ITEM;
    const st: ItemState = { label, total, bytes: 0, started: this.#now() };
    this.#items.add(st);
    this.#draw(false);
    return {
      advance: (n) => {
        st.bytes += n;
        this.#bytes += n;
        this.#draw(false);
      },
      done: () => {
        if (!this.#items.delete(st)) return;
        if (opts.counts !== false) this.#doneItems++;
        this.#draw(true);
      },
    };
  }

  /**
   * Starts a new phase of the command: the overall line reads `label` and counts items and
   * bytes from zero against the totals given (without totals, just the label and what is
   * done so far). Running item bars are kept.
   */
  phase(label: string, items?: number, bytes?: number): void {
    if (!this.enabled) return;
    this.#label = label;
    this.#totalItems = items;
    this.#totalBytes = bytes;
    this.#doneItems = 0;
    this.#bytes = 0;
    this.#started = this.#now();
    this.#draw(true);
  }

  /** Adds `bytes` to the overall count (work that has no item bar). */
  advance(bytes: number): void {
    if (!this.enabled || !bytes) return;
    this.#bytes += bytes;
    this.#draw(false);
  }

  /** Counts one item done that had no bar of its own (or whose bar does not count). */
  finish(): void {
    if (!this.enabled) return;
    this.#doneItems++;
    this.#draw(true);
  }

  /** Prints a line above the bars (or plainly when bars are off). */
  log(line: string): void {
    if (!this.enabled || this.#stopped) {
      this.#stream.write(line + "\n");
      return;
    }
    this.#erase();
    this.#stream.write(line + "\n");
    this.#draw(true);
  }

  /** Erases the bars; call when the command ends (nothing is drawn after). */
  stop(): void {
    if (!this.enabled || this.#stopped) return;
    this.#erase();
    this.#items.clear();
    this.#stopped = true;
  }

  #erase(): void {
    if (this.#drawn === 0) return;
    let s = "";
    for (let i = 0; i < this.#drawn; i++) s += "\x1b[1A\x1b[2K";
    this.#stream.write("\r" + s);
    this.#drawn = 0;
  }

  #line(
    label: string,
    bytes: number,
    total: number | undefined,
    secs: number,
    etaSecs?: number,
  ): string {
    const c = this.#color;
    const cols = this.#stream.columns || 80;
    const rate = secs > 0 ? bytes / secs : 0;
    const amount = total !== undefined
      ? `${formatBytes(bytes)}/${formatBytes(total)}`
      : bytes
      ? formatBytes(bytes)
      : "";
    const eta = total !== undefined && rate > 0
      ? `ETA ${formatDuration((total - bytes) / rate)}`
      : etaSecs !== undefined
      ? `ETA ${formatDuration(etaSecs)}`
      : "";
    const speed = amount ? `${formatBytes(Math.round(rate))}/s` : "";
    const tail = [amount, speed, eta].filter((x) => x).join(" ");
    const labelW = Math.min(28, Math.max(8, cols - tail.length - 14));
    const name = label.length > labelW ? label.slice(0, labelW - 1) + "…" : label.padEnd(labelW);
    const barW = Math.max(0, Math.min(30, cols - labelW - tail.length - 4));
    const b = total !== undefined && barW > 0 ? bar(total ? bytes / total : 1, barW, c) + " " : "";
    return `${c.bold(name)} ${b}${tail}`;
  }

  #draw(force: boolean): void {
    if (!this.enabled || this.#stopped) return;
    const now = this.#now();
    if (!force && now - this.#last < this.#interval) return;
    this.#last = now;
    const lines: string[] = [];
    const items = [...this.#items];
    // With more items than lines, the slowest in flight (the longest running) comes first,
    // marked, then the most recent ones.
    let shown = items.slice(0, this.#maxLines);
    let slowest: ItemState | undefined;
    if (items.length > this.#maxLines) {
      slowest = items.reduce((a, b) => (b.started < a.started ? b : a));
      shown = [slowest, ...items.filter((it) => it !== slowest).slice(1 - this.#maxLines)];
    }
    for (const it of shown) {
      const label = it === slowest ? `slowest: ${it.label}` : it.label;
      lines.push(this.#line(label, it.bytes, it.total, (now - it.started) / 1000));
    }
    const count = this.#totalItems !== undefined
      ? ` ${this.#doneItems}/${this.#totalItems}`
      : this.#label !== "total" && this.#doneItems === 0
      ? ""
      : ` ${this.#doneItems} done`;
    const more = items.length > this.#maxLines ? `, ${items.length - this.#maxLines} more` : "";
    const secs = (now - this.#started) / 1000;
    // Without a byte total, the ETA comes from the items done so far.
    const byItems = this.#totalBytes === undefined && this.#totalItems !== undefined &&
        this.#doneItems > 0
      ? secs * (this.#totalItems - this.#doneItems) / this.#doneItems
      : undefined;
    lines.push(
      this.#line(`${this.#label}${count}${more}`, this.#bytes, this.#totalBytes, secs, byItems),
    );
    this.#erase();
    this.#stream.write(lines.join("\n") + "\n");
    this.#drawn = lines.length;
  }
}

/** A pass-through stream that advances `item` by each chunk and finishes it at the end. */
export function countingStream(item: ProgressItem): TransformStream<Uint8Array, Uint8Array> {
  return new TransformStream({
    transform(chunk, c) {
      item.advance(chunk.byteLength);
      c.enqueue(chunk);
    },
    flush() {
      item.done();
    },
  });
}

/** Something entries are read from (a mirror set, an install source). */
export interface EntrySource {
  entry(hash: string, opts?: ReadOptions): Promise<Entry>;
}

function forward<T extends object>(target: T, own: Partial<T>): T {
  return new Proxy(target, {
    get(t, prop) {
      if (Object.hasOwn(own, prop)) return own[prop as keyof T];
      const v = Reflect.get(t, prop, t);
      return typeof v === "function" ? v.bind(t) : v;
    },
  });
}

/**
 * `source` with a bar for every tarball read through its entries (compressed bytes, against
 * the tarball's size); `onEntry` sees each entry read. `source` itself when bars are off.
 */
export function withTarballProgress<S extends EntrySource>(
  source: S,
  progress: Progress,
  onEntry?: (e: Entry) => void,
): S {
  if (!progress.enabled) return source;
  // A tarball read again (install extracts again when its in-stream relocation guess fails)
  // is not counted twice.
  const read = new Set<string>();
  const entry = async (hash: string, opts?: ReadOptions): Promise<Entry> => {
    const e = await source.entry(hash, opts);
    onEntry?.(e);
    const label = `${e.ref.name}@${e.ref.version}/${e.ref.hash.slice(0, 7)}`;
    return forward(e, {
      openTarball: barOpener(e.openTarball, e.ref.hash, label, e.tarball.size, progress, read),
    });
  };
  return forward(source, { entry } as Partial<S>);
}

/**
 * A tarball opener whose stream has a bar, started when the first bytes are read (install
 * opens tarballs ahead of their turn). Made apart from the async `entry`, so that it does not
 * keep the entry (and its spec) alive.
 */
function barOpener(
  open: Entry["openTarball"],
  hash: string,
  label: string,
  size: number | undefined,
  progress: Progress,
  read: Set<string>,
): Entry["openTarball"] {
  return async (o?: { signal?: AbortSignal }) => {
    const body = await open(o);
    if (read.has(hash)) return body;
    read.add(hash);
    let item: ProgressItem | undefined;
    const bar = () => item ??= progress.start(label, size);
    // Pulled, not piped: a body opened ahead of its turn is not read (nor its bar started)
    // before its package reads it.
    let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
    return new ReadableStream<Uint8Array>({
      async pull(c) {
        reader ??= body.getReader();
        const { value, done } = await reader.read();
        if (done) {
          bar().done();
          c.close();
        } else {
          bar().advance(value.byteLength);
          c.enqueue(value);
        }
      },
      cancel(reason) {
        return reader ? reader.cancel(reason) : body.cancel(reason);
      },
    }, { highWaterMark: 0 });
  };
}

/**
 * `store` with a bar for every streamed write (uploads: bytes against the size given). `store`
 * itself when bars are off.
 */
export function withUploadProgress<S extends Store>(store: S, progress: Progress): S {
  if (!progress.enabled) return store;
  const write = (
    path: string,
    body: Uint8Array | ReadableStream<Uint8Array>,
    opts?: WriteOptions,
  ) => {
    if (body instanceof Uint8Array) return store.write(path, body, opts);
    const label = path.slice(path.lastIndexOf("/") + 1);
    return store.write(
      path,
      body.pipeThrough(countingStream(progress.start(label, opts?.size, { counts: false }))),
      opts,
    );
  };
  return forward(store, { write } as Partial<S>);
}

/** A phase event as install and push report them (`onProgress`). */
export interface PhaseEvent {
  phase: string;
  name?: string;
  hash?: string;
  bytes?: number;
  /** Bytes expected for the item, when known at its start. */
  total?: number;
  message?: string;
}

/**
 * An `onProgress` callback drawing phase events: an item's bar runs from its `fetch` (or
 * `start`) event to its `staged`/`pushed`/`done` event (whose `bytes` are counted), `bytes`
 * events advance it; other events go to `other` (which may print through `progress.log`).
 */
export function phaseProgress(
  progress: Progress,
  other: (e: PhaseEvent) => void = () => {},
): (e: PhaseEvent) => void {
  const items = new Map<string, { item: ProgressItem; counted: number }>();
  const key = (e: PhaseEvent) => e.hash ?? e.name ?? "";
  return (e) => {
    const k = key(e);
    if (e.phase === "fetch" || e.phase === "start") {
      const label = e.name ? `${e.name}${e.hash ? "/" + e.hash.slice(0, 7) : ""}` : k;
      items.set(k, { item: progress.start(label, e.total), counted: 0 });
    } else if (e.phase === "bytes") {
      const it = items.get(k);
      if (it && e.bytes) {
        it.item.advance(e.bytes);
        it.counted += e.bytes;
      }
    } else if (e.phase === "staged" || e.phase === "pushed" || e.phase === "done") {
      const it = items.get(k);
      if (it) {
        if (e.bytes && e.bytes > it.counted) it.item.advance(e.bytes - it.counted);
        it.item.done();
        items.delete(k);
      }
      other(e);
    } else {
      other(e);
    }
  };
}
