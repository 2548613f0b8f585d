/**
 * The https:// and http:// store: read-only, like Spack's own web mirrors. `stat` is a HEAD
 * (a GET whose body is dropped when the server refuses HEAD), `read` a streamed GET. A page of
 * HTML where other data was expected (a captive portal or a proxy's block page) is refused.
 *
 * @module
 */
import { TransportError, UsageError } from "../errors.ts";
import { concatBytes } from "../core/streams.ts";
import { type HttpOptions, makeFetch, redact, statusError } from "./http_client.ts";
import { checkStorePath } from "./path.ts";
import { type ReopenedBody, resumingBody } from "./resume.ts";
import type { ReadStore, StoreCallOptions, StoreStat } from "./store.ts";

/** Options of an HttpsStore. */
export interface HttpsStoreOptions {
  /** The fetch to use; default `makeFetch(http)`. */
  fetch?: typeof fetch;
  /** HTTP client settings when `fetch` is not given. */
  http?: HttpOptions;
  /** How many times one read may resume a body cut short by the network (default 3). */
  maxResumes?: number;
  /** Called before a broken body is resumed (what broke, the attempt, the wait). */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

function looksLikeHtml(head: Uint8Array): boolean {
  let text = new TextDecoder().decode(head.subarray(0, 512)).replace(/^\uFEFF/, "").trimStart();
  text = text.toLowerCase();
  return text.startsWith("<!doctype html") || text.startsWith("<html") ||
    (text.startsWith("<!doctype") && text.includes("html"));
}

function expectsHtml(path: string): boolean {
  return /\.x?html?$/i.test(path);
}

/** A read-only store over an http(s) URL. */
export class HttpsStore implements ReadStore {
  readonly url: URL;
  /** How many times one read may resume a body cut short by the network. */
  readonly maxResumes: number;
  private readonly fetch: typeof fetch;
  private readonly onRetry?: (err: unknown, attempt: number, delayMs: number) => void;

  constructor(url: URL | string, opts: HttpsStoreOptions = {}) {
    const u = new URL(url);
    if (u.protocol !== "https:" && u.protocol !== "http:") {
      throw new UsageError(`HttpsStore needs an http:// or https:// URL, not "${u.href}"`);
    }
    u.hash = "";
    u.search = "";
    if (!u.pathname.endsWith("/")) u.pathname += "/";
    this.url = u;
    this.fetch = opts.fetch ?? makeFetch(opts.http);
    this.maxResumes = opts.maxResumes ?? 3;
    this.onRetry = opts.onRetry;
  }

  /** The URL of `path`, each segment percent-encoded. */
  urlOf(path: string): URL {
    const parts = checkStorePath(path);
    return new URL(parts.map(encodeURIComponent).join("/"), this.url);
  }

  /** A transport failure: the network answered in the mirror's place, with a page of its own. */
  private portalError(url: URL, res: Response, why: string): TransportError {
    const final = res.url && res.url !== url.href ? ` (redirected to ${res.url})` : "";
    return new TransportError(
      `Expected data at ${redact(url)} but got an HTML page${final}: ${why}; ` +
        "it looks like a captive portal or a proxy's block page",
    );
  }

  async stat(path: string, opts?: StoreCallOptions): Promise<StoreStat | undefined> {
    const url = this.urlOf(path);
    let res = await this.fetch(url, { method: "HEAD", signal: opts?.signal });
    await res.body?.cancel();
    let viaGet = false;
    if (res.status === 405 || res.status === 501) {
      res = await this.fetch(url, { method: "GET", signal: opts?.signal });
      viaGet = true;
    }
    try {
      if (res.status === 404 || res.status === 410) return undefined;
      if (!res.ok) throw statusError(res, url, "stat");
      const type = res.headers.get("content-type") ?? "";
      if (/^\s*text\/html/i.test(type) && !expectsHtml(path)) {
        throw this.portalError(url, res, `content-type "${type}"`);
      }
      const etag = res.headers.get("etag") ?? undefined;
      const len = res.headers.get("content-length");
      let size: number;
      if (
        len !== null && /^\d+$/.test(len.trim()) && res.headers.get("content-encoding") === null
      ) {
        size = Number(len);
      } else {
        // No usable length: count the bytes of a GET.
        if (!viaGet) {
          await res.body?.cancel();
          res = await this.fetch(url, { method: "GET", signal: opts?.signal });
          viaGet = true;
          if (!res.ok) throw statusError(res, url, "stat");
        }
        size = 0;
        for await (const c of res.body ?? []) size += c.byteLength;
      }
      return etag ? { size, etag } : { size };
    } finally {
      if (viaGet) await res.body?.cancel().catch(() => {});
    }
  }

  async read(path: string, opts?: StoreCallOptions): Promise<ReadableStream<Uint8Array>> {
    const url = this.urlOf(path);
    const res = await this.fetch(url, { method: "GET", signal: opts?.signal });
    if (!res.ok) {
      await res.body?.cancel().catch(() => {});
      throw statusError(res, url, "read");
    }
    if (expectsHtml(path)) return res.body ?? new ReadableStream({ start: (c) => c.close() });
    const type = res.headers.get("content-type") ?? "";
    if (/^\s*text\/html/i.test(type)) {
      await res.body?.cancel().catch(() => {});
      throw this.portalError(url, res, `content-type "${type}"`);
    }
    if (!res.body) return new ReadableStream({ start: (c) => c.close() });
    // Peek at the first bytes to catch an HTML page served with another content type.
    const reader = res.body.getReader();
    const head: Uint8Array[] = [];
    let headSize = 0;
    let ended = false;
    while (headSize < 16) {
      const { value, done } = await reader.read();
      if (done) {
        ended = true;
        break;
      }
      head.push(value);
      headSize += value.byteLength;
    }
    const first = head.length === 1 ? head[0] : concatBytes(head, headSize);
    if (looksLikeHtml(first)) {
      await reader.cancel().catch(() => {});
      throw this.portalError(url, res, "the body starts with an HTML tag");
    }
    // A body cut short by the network is resumed from where it broke with a Range request
    // (guarded by the ETag so that a changed object is never spliced), or read again from the
    // start when the server has no ranges (storage/resume.ts).
    const etag = res.headers.get("etag");
    const strongEtag = etag && !etag.startsWith("W/") ? etag : undefined;
    const lengthHeader = res.headers.get("content-length");
    const total = lengthHeader !== null && /^\d+$/.test(lengthHeader) &&
        res.headers.get("content-encoding") === null
      ? Number(lengthHeader)
      : undefined;
    const signal = opts?.signal;
    const fetchFn = this.fetch;
    const reopen = async (offset: number): Promise<ReopenedBody | undefined> => {
      const headers: Record<string, string> = { range: `bytes=${offset}-` };
      if (strongEtag) headers["if-range"] = strongEtag;
      const r2 = await fetchFn(url, { method: "GET", signal, headers });
      const cr = r2.headers.get("content-range") ?? "";
      if (
        r2.status === 206 && r2.body && cr.startsWith(`bytes ${offset}-`) &&
        (strongEtag || cr.endsWith(`/${total}`))
      ) return { body: r2.body, start: offset };
      const e2 = r2.headers.get("etag");
      if (
        r2.status === 200 && r2.body && r2.headers.get("content-length") === String(total) &&
        r2.headers.get("content-encoding") === null && (!strongEtag || e2 === strongEtag)
      ) return { body: r2.body, start: 0 };
      await r2.body?.cancel().catch(() => {});
      return undefined;
    };
    const rest = resumingBody(reader, {
      label: redact(url),
      total,
      delivered: first.byteLength,
      reopen,
      maxResumes: this.maxResumes,
      signal,
      onRetry: this.onRetry,
    });
    if (ended) {
      return new ReadableStream({
        start(c) {
          if (first.byteLength) c.enqueue(first);
          c.close();
        },
      });
    }
    let sentHead = !first.byteLength;
    const restReader = rest.getReader();
    return new ReadableStream<Uint8Array>({
      async pull(c) {
        if (!sentHead) {
          sentHead = true;
          c.enqueue(first);
          return;
        }
        try {
          const { value, done } = await restReader.read();
          if (done) c.close();
          else c.enqueue(value);
        } catch (e) {
          c.error(e);
        }
      },
      cancel(reason) {
        return restReader.cancel(reason);
      },
    }, { highWaterMark: 0 });
  }
}
