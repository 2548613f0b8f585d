/**
 * Retries with exponential backoff and full jitter, for temporary failures only
 * (`SpackleError.temporary`: 5xx, 429, connection resets, timeouts); never for 404 or 403.
 *
 * @module
 */
import { SpackleError } from "../errors.ts";
import type { ReadStore, Store, StoreCallOptions, StoreStat, WriteOptions } from "./store.ts";

/** How to retry. */
export interface RetryOptions {
  /** Retries after the first attempt. Default 4; 0 disables retrying. */
  retries?: number;
  /** Delay before the first retry, in ms (doubled each time, before jitter). Default 250. */
  baseDelayMs?: number;
  /** Longest delay between attempts, in ms. Default 8000. */
  maxDelayMs?: number;
  /**
   * Total time one call may spend, attempts and waits together, before no further attempt is
   * made, in ms. Default 75000: a server that never answers costs about a minute (two
   * connect timeouts), reported at each retry, not five timeouts in silence.
   */
  maxElapsedMs?: number;
  /** Which errors are worth retrying. Default: `isTemporary`. */
  retryable?: (err: unknown) => boolean;
  /** Called before each wait (for logging). */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  /** Random source in [0, 1) for the jitter. Default Math.random. */
  random?: () => number;
  /** Stops the waiting (and the retrying) when aborted. */
  signal?: AbortSignal;
}

/** True for errors a retry may cure: a SpackleError marked temporary. */
export function isTemporary(err: unknown): boolean {
  return err instanceof SpackleError && err.temporary;
}

/** The delay before retry number `attempt` (1-based): uniform in [0, min(max, base * 2^(attempt-1))]. */
export function backoffDelay(attempt: number, opts: RetryOptions = {}): number {
  const base = opts.baseDelayMs ?? 250;
  const max = opts.maxDelayMs ?? 8000;
  const cap = Math.min(max, base * 2 ** (attempt - 1));
  return Math.round(cap * (opts.random ?? Math.random)());
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Runs `fn` until it succeeds, fails with an error that is not retryable, or has failed
 * `retries + 1` times (then the last error is thrown). `fn` gets the attempt number (0-based).
 */
export async function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  opts: RetryOptions = {},
): Promise<T> {
  const retries = opts.retries ?? 4;
  const retryable = opts.retryable ?? isTemporary;
  const started = Date.now();
  const budget = opts.maxElapsedMs ?? 75_000;
  let longest = 0;
  for (let attempt = 0;; attempt++) {
    opts.signal?.throwIfAborted();
    const t0 = Date.now();
    try {
      return await fn(attempt);
    } catch (e) {
      if (attempt >= retries || !retryable(e) || opts.signal?.aborted) throw e;
      // A server's Retry-After is honoured, up to the longest delay.
      const asked = (e as { retryAfterMs?: unknown }).retryAfterMs;
      const delay = typeof asked === "number"
        ? Math.max(backoffDelay(attempt + 1, opts), Math.min(asked, opts.maxDelayMs ?? 8000))
        : backoffDelay(attempt + 1, opts);
      // No attempt that would, taking as long as the longest so far, end past the budget.
      longest = Math.max(longest, Date.now() - t0);
      if (Date.now() - started + delay + longest > budget) throw e;
      opts.onRetry?.(e, attempt + 1, delay);
      await sleep(delay, opts.signal);
    }
  }
}

/**
 * A store whose calls are retried on temporary failures. `read` retries opening the stream
 * (a failure in the middle of a body is the caller's to handle); `write` retries only byte
 * array bodies (a stream cannot be replayed); `list` retries until the first path is yielded.
 */
export function retryStore<S extends ReadStore>(store: S, opts: RetryOptions = {}): S {
  const withSignal = (o?: StoreCallOptions): RetryOptions =>
    o?.signal
      ? { ...opts, signal: opts.signal ? AbortSignal.any([opts.signal, o.signal]) : o.signal }
      : opts;
  const wrapped: ReadStore = {
    url: store.url,
    stat: (path: string, o?: StoreCallOptions): Promise<StoreStat | undefined> =>
      withRetry(() => store.stat(path, o), withSignal(o)),
    read: (path: string, o?: StoreCallOptions): Promise<ReadableStream<Uint8Array>> =>
      withRetry(() => store.read(path, o), withSignal(o)),
  };
  if (store.list) {
    const list = store.list.bind(store);
    wrapped.list = async function* (prefix: string, o?: StoreCallOptions) {
      const r = withSignal(o);
      const it = await withRetry(async () => {
        const it = list(prefix, o)[Symbol.asyncIterator]();
        return { it, first: await it.next() };
      }, r);
      let cur = it.first;
      while (!cur.done) {
        yield cur.value;
        cur = await it.it.next();
      }
    };
  }
  const w = store as unknown as Store;
  if (typeof w.write === "function") {
    const s = wrapped as Store;
    s.write = (path: string, body: Uint8Array | ReadableStream<Uint8Array>, o?: WriteOptions) =>
      body instanceof Uint8Array
        ? withRetry(() => w.write(path, body, o), withSignal(o))
        : w.write(path, body, o);
    s.delete = (path: string, o?: StoreCallOptions) =>
      withRetry(() => w.delete(path, o), withSignal(o));
    if (w.copy) {
      const copy = w.copy.bind(w);
      s.copy = (from: string, to: string, o?: StoreCallOptions) =>
        withRetry(() => copy(from, to, o), withSignal(o));
    }
  }
  return Object.assign(Object.create(Object.getPrototypeOf(store)), store, wrapped) as S;
}

/** The line a retry is reported with: `retrying in 2 s: connection reset`. */
export function retryMessage(err: unknown, delayMs: number): string {
  const secs = delayMs >= 1000 ? `${Math.round(delayMs / 100) / 10} s` : `${delayMs} ms`;
  const msg = err instanceof Error ? err.message : String(err);
  return `retrying in ${secs}: ${msg}`;
}
