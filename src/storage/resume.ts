/**
 * A resuming response body, shared by the network stores (https, s3): when the body breaks
 * (a connection reset, a read timeout, an early end before the announced length), the rest is
 * asked for again from the byte where it broke, a few times with a backoff, each attempt
 * reported (`onRetry`). The backend's `reopen` makes the request: a Range request guarded by
 * the ETag where the object has one; a body that starts over from byte 0 (a server without
 * ranges) is accepted when it has the same length, and the bytes already delivered are
 * skipped. Callers verify digests, so a splice of two different objects cannot pass unnoticed.
 *
 * @module
 */
import { SpackleError, TransportError } from "../errors.ts";
import { backoffDelay } from "./retry.ts";

/** A body to continue with, and the offset of its first byte in the object. */
export interface ReopenedBody {
  body: ReadableStream<Uint8Array>;
  start: number;
}

/** Options of `resumingBody`. */
export interface ResumeOptions {
  /** Names the object in error messages: `"https://host/path"`, `s3://bucket/key`. */
  label: string;
  /** The object's length, when announced (an early end is then a break). */
  total?: number;
  /** Bytes already delivered before `first` (default 0). */
  delivered?: number;
  /**
   * Asks for the object again from `offset`. Undefined (or a throw) when it cannot be resumed:
   * the object changed, the server refused.
   */
  reopen: (offset: number) => Promise<ReopenedBody | undefined>;
  /** Attempts to resume (default 3). */
  maxResumes?: number;
  /** Delay before the first resume in ms, doubled each time before jitter (default 200). */
  baseDelayMs?: number;
  signal?: AbortSignal;
  /** Called before each resume: what broke, and the wait. */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

/** A temporary TransportError for anything a body read throws that is not already typed. */
export function bodyError(e: unknown, label: string, signal?: AbortSignal): unknown {
  if (
    e instanceof SpackleError || (e as Error)?.name === "AbortError" || signal?.aborted
  ) return e;
  return new TransportError(`Cannot read ${label}: ${(e as Error)?.message ?? e}`, {
    cause: e,
    temporary: true,
  });
}

/** The body `first` continued across breaks (see the module doc). */
export function resumingBody(
  first: ReadableStreamDefaultReader<Uint8Array>,
  opts: ResumeOptions,
): ReadableStream<Uint8Array> {
  const { label, total, signal } = opts;
  const max = opts.maxResumes ?? 3;
  let current = first;
  let delivered = opts.delivered ?? 0;
  /** Bytes of the current body still to drop (it started before `delivered`). */
  let skip = 0;
  let resumes = 0;
  const resume = async (err: unknown): Promise<boolean> => {
    if (total === undefined || resumes >= max || signal?.aborted) return false;
    resumes++;
    const delay = backoffDelay(resumes, { baseDelayMs: opts.baseDelayMs ?? 200 });
    opts.onRetry?.(err, resumes, delay);
    await new Promise((r) => setTimeout(r, delay));
    try {
      const r = await opts.reopen(delivered);
      if (!r || r.start > delivered) {
        await r?.body.cancel().catch(() => {});
        return false;
      }
      current = r.body.getReader();
      skip = delivered - r.start;
      return true;
    } catch {
      return false;
    }
  };
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      for (;;) {
        let err: unknown;
        try {
          const { value, done } = await current.read();
          if (!done) {
            let v = value;
            if (skip) {
              const n = Math.min(skip, v.byteLength);
              skip -= n;
              v = v.subarray(n);
              if (!v.byteLength) continue;
            }
            delivered += v.byteLength;
            c.enqueue(v);
            return;
          }
          if (total === undefined || delivered >= total) {
            c.close();
            return;
          }
          err = new TransportError(
            `Cannot read ${label}: the body ended after ${delivered} of ${total} bytes`,
            { temporary: true },
          );
        } catch (e) {
          err = bodyError(e, label, signal);
        }
        if (!(err as { temporary?: unknown })?.temporary || !(await resume(err))) {
          c.error(err);
          return;
        }
      }
    },
    cancel(reason) {
      return current.cancel(reason);
    },
  }, { highWaterMark: 0 });
}
