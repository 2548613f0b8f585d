/**
 * The s3:// store: any S3-compatible server, requests signed with SigV4 (aws4fetch).
 *
 * URL model as Spack's: `s3://bucket/path/` — the bucket is the host part, object keys are the
 * path without its leading slash. Objects up to `multipartThreshold` are sent in one PUT
 * whose payload hash is signed; larger ones (and streams that turn out larger) as a multipart
 * upload whose parts go up in parallel (at most `concurrency` at once) and which is aborted
 * when anything fails. Listing is ListObjectsV2, page by page. Every request is retried with
 * backoff on temporary failures (5xx, SlowDown, 429, RequestTimeout, connection resets).
 * Errors name the bucket and key: wrong credentials (SignatureDoesNotMatch,
 * InvalidAccessKeyId), a missing bucket, access denied; an absent key is a NotFoundError.
 *
 * @module
 */
import { createHash } from "node:crypto";
import {
  NotFoundError,
  type SpackleError,
  TransportError,
  UnsupportedError,
  UsageError,
} from "../errors.ts";
import { type HttpOptions, makeFetch, retryAfterMs } from "./http_client.ts";
import { checkStorePath } from "./path.ts";
import { type RetryOptions, withRetry } from "./retry.ts";
import { resumingBody } from "./resume.ts";
import {
  resolveS3Settings,
  type S3CredentialOptions,
  s3OptionsFrom,
  type S3Settings,
} from "./s3_credentials.ts";
import type {
  CopyFromOptions,
  ListedObject,
  PendingUpload,
  ReadStore,
  Store,
  StoreCallOptions,
  StoreReadOptions,
  StoreStat,
  WriteOptions,
} from "./store.ts";
import {
  completeMultipartXml,
  parseListPage,
  parseS3Error,
  xmlBlocks,
  xmlText,
} from "./_s3_xml.ts";

/** The user metadata header that keeps an object's sha256 (`WriteOptions.sha256`). */
const META_SHA256 = "x-amz-meta-sha256";

/** The headers of a PUT or multipart start: content type and the sha256 to keep. */
function writeHeaders(opts: WriteOptions): Record<string, string> {
  const headers: Record<string, string> = {};
  if (opts.contentType) headers["content-type"] = opts.contentType;
  if (opts.sha256 && /^[0-9a-f]{64}$/.test(opts.sha256)) headers[META_SHA256] = opts.sha256;
  return headers;
}

/** Settings of an s3:// store: where and who (see s3_credentials.ts) plus transfer tuning. */
export interface S3Options extends S3CredentialOptions {
  /** Objects larger than this many bytes go up as a multipart upload. Default 16 MiB. */
  multipartThreshold?: number;
  /** Size of a multipart part in bytes (S3 wants at least 5 MiB but the last). Default 8 MiB. */
  partSize?: number;
  /** Parts uploaded at once. Default 4. */
  concurrency?: number;
  /** Keys per ListObjectsV2 page (at most 1000). Default 1000. */
  maxKeys?: number;
  /** How many times one read may resume a body cut short by the network. Default 3. */
  maxResumes?: number;
  /**
   * Server-side copies of objects larger than this many bytes go as a multipart upload of
   * UploadPartCopy parts. Default (and at most) 5 GiB, the most one CopyObject copies.
   */
  copyThreshold?: number;
  /** Size of an UploadPartCopy part in bytes (at most 5 GiB). Default 512 MiB. */
  copyPartSize?: number;
  /**
   * Called once when the store opens with `describe()`'s line (endpoint, region, addressing,
   * credential source; never the secret), for `--verbose` output.
   */
  log?: (line: string) => void;
}

/** Network settings shared with the other network stores. */
export interface S3NetOptions {
  /** HTTP client settings (CA bundle, proxy, timeouts). */
  http?: HttpOptions;
  /** Retry settings (`{ retries: 0 }` turns retrying off). */
  retry?: RetryOptions;
  /** The fetch to use instead of one made from `http`. */
  fetch?: typeof fetch;
}

const MIB = 1024 * 1024;
/** The most bytes one CopyObject copies. */
const COPY_LIMIT = 5 * 1024 * MIB;
const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const WRONG_CREDENTIALS = new Set([
  "SignatureDoesNotMatch",
  "InvalidAccessKeyId",
  "InvalidToken",
  "ExpiredToken",
  "TokenRefreshRequired",
  "InvalidClientTokenId",
]);
const TEMPORARY_CODES = new Set([
  "SlowDown",
  "InternalError",
  "ServiceUnavailable",
  "RequestTimeout",
  "OperationAborted",
]);

type Signer = new (init: {
  method?: string;
  url: string;
  headers?: HeadersInit;
  body?: BodyInit | null;
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  service?: string;
  region?: string;
}) => { sign(): Promise<{ method: string; url: URL; headers: Headers; body?: BodyInit | null }> };

function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Percent-encodes an object key for a URL path, "/" kept. */
export function encodeKey(key: string): string {
  return key.split("/").map((s) =>
    encodeURIComponent(s).replace(
      /[!'()*]/g,
      (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase(),
    )
  ).join("/");
}

function positive(v: unknown, name: string, dflt: number): number {
  if (v === undefined || v === null) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 1) {
    throw new UsageError(
      `Invalid S3 setting ${name} ${JSON.stringify(v)}: must be a positive number`,
    );
  }
  return Math.floor(n);
}

/** Reads a byte stream in pieces of a requested size. */
class ByteSource {
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private done = false;
  constructor(private readonly reader?: ReadableStreamDefaultReader<Uint8Array>) {}

  /** Puts bytes back in front. */
  unshift(b: Uint8Array): void {
    if (b.byteLength === 0) return;
    this.pending.unshift(b);
    this.pendingBytes += b.byteLength;
  }

  /** Up to `n` bytes (fewer only at the end), or undefined when nothing is left. */
  async take(n: number): Promise<Uint8Array | undefined> {
    while (this.pendingBytes < n && !this.done && this.reader) {
      const { value, done } = await this.reader.read();
      if (done) this.done = true;
      else if (value.byteLength) {
        this.pending.push(value);
        this.pendingBytes += value.byteLength;
      }
    }
    if (this.pendingBytes === 0) return undefined;
    const size = Math.min(n, this.pendingBytes);
    if (this.pending[0].byteLength === size) {
      this.pendingBytes -= size;
      return this.pending.shift()!;
    }
    const out = new Uint8Array(size);
    let off = 0;
    while (off < size) {
      const c = this.pending[0];
      const want = size - off;
      if (c.byteLength <= want) {
        out.set(c, off);
        off += c.byteLength;
        this.pending.shift();
      } else {
        out.set(c.subarray(0, want), off);
        this.pending[0] = c.subarray(want);
        off += want;
      }
    }
    this.pendingBytes -= size;
    return out;
  }

  async cancel(reason: unknown): Promise<void> {
    this.pending = [];
    this.pendingBytes = 0;
    await this.reader?.cancel(reason).catch(() => {});
  }
}

interface SendInit {
  body?: Uint8Array;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** What the request does, for messages ("read", "write", ...). */
  op: string;
  /** Statuses the caller handles itself (no error is thrown for them). */
  accept?: number[];
}

/** A store over one S3 bucket and key prefix. */
export class S3Store implements Store {
  /** `s3://bucket/prefix/`. */
  readonly url: URL;
  /** The bucket name. */
  readonly bucket: string;
  /** The key prefix of the store ("" or ending in "/"). */
  readonly prefix: string;
  /** Endpoint, region, addressing and credentials in use. */
  readonly settings: S3Settings;
  private readonly fetch: typeof fetch;
  private readonly retry: RetryOptions;
  private readonly signer: Signer;
  private readonly threshold: number;
  private readonly partSize: number;
  private readonly concurrency: number;
  private readonly maxKeys: number;
  private readonly maxResumes: number;
  private readonly copyThreshold: number;
  private readonly copyPartSize: number;
  private bucketSeen = false;

  /** Use `openS3Store`, which loads the signer lazily. */
  constructor(
    url: URL,
    settings: S3Settings,
    signer: Signer,
    opts: S3Options = {},
    net: S3NetOptions = {},
  ) {
    this.bucket = url.hostname;
    let prefix = decodeURIComponent(url.pathname).replace(/^\/+/, "");
    if (prefix !== "" && !prefix.endsWith("/")) prefix += "/";
    this.prefix = prefix;
    this.url = new URL(`s3://${this.bucket}/${encodeKey(prefix)}`);
    this.settings = settings;
    this.signer = signer;
    this.fetch = net.fetch ?? makeFetch(net.http);
    this.retry = net.retry ?? {};
    this.threshold = positive(opts.multipartThreshold, "multipartThreshold", 16 * MIB);
    this.partSize = positive(opts.partSize, "partSize", 8 * MIB);
    this.concurrency = positive(opts.concurrency, "concurrency", 4);
    this.maxKeys = Math.min(1000, positive(opts.maxKeys, "maxKeys", 1000));
    this.maxResumes = opts.maxResumes === 0 ? 0 : positive(opts.maxResumes, "maxResumes", 3);
    this.copyThreshold = Math.min(
      COPY_LIMIT,
      positive(opts.copyThreshold, "copyThreshold", COPY_LIMIT),
    );
    this.copyPartSize = Math.min(
      COPY_LIMIT,
      positive(opts.copyPartSize, "copyPartSize", 512 * MIB),
    );
  }

  /** One line for `--verbose`: the bucket, endpoint, region and credential source. */
  describe(): string {
    return `${this.url.href}: ${this.settings.describe()}`;
  }

  /** The HTTP URL of `key` (or of the bucket when undefined), with a query. */
  httpUrl(key: string | undefined, query: Record<string, string> = {}): URL {
    const s = this.settings;
    const base = s.endpoint ?? new URL(
      s.pathStyle ? `https://s3.${s.region}.amazonaws.com/` : "https://s3.amazonaws.com/",
    );
    let u: URL;
    const path = key === undefined ? "" : encodeKey(key);
    if (s.pathStyle) {
      u = new URL(`${encodeURIComponent(this.bucket)}/${path}`, base);
    } else {
      const host = s.endpoint ? base.host : `s3.${s.region}.amazonaws.com`;
      u = new URL(`${base.protocol}//${this.bucket}.${host}${base.pathname}${path}`);
    }
    const q = Object.entries(query);
    if (q.length) {
      u.search = q.map(([k, v]) =>
        v === "" ? encodeURIComponent(k) : `${encodeURIComponent(k)}=${encodeURIComponent(v)}`
      )
        .join("&");
    }
    return u;
  }

  private where(key?: string): string {
    return key === undefined ? `bucket "${this.bucket}"` : `"s3://${this.bucket}/${key}"`;
  }

  private keyOf(path: string): string {
    checkStorePath(path);
    return this.prefix + path;
  }

  /** Signs and sends one request (retried on temporary failures); throws mapped errors. */
  private send(
    method: string,
    key: string | undefined,
    query: Record<string, string>,
    init: SendInit,
  ): Promise<Response> {
    const retry = init.signal
      ? {
        ...this.retry,
        signal: this.retry.signal ? AbortSignal.any([this.retry.signal, init.signal]) : init.signal,
      }
      : this.retry;
    const creds = this.settings.credentials;
    const payloadHash = creds ? (init.body ? sha256Hex(init.body) : EMPTY_SHA256) : "";
    return withRetry(async () => {
      for (let redirects = 0;; redirects++) {
        init.signal?.throwIfAborted();
        const url = this.httpUrl(key, query);
        const headers = new Headers(init.headers ?? {});
        let req: { method: string; url: URL | string; headers: Headers } = { method, url, headers };
        if (creds) {
          headers.set("x-amz-content-sha256", payloadHash);
          req = await new this.signer({
            method,
            url: url.href,
            headers,
            accessKeyId: creds.accessKeyId,
            secretAccessKey: creds.secretAccessKey,
            sessionToken: creds.sessionToken,
            service: "s3",
            region: this.settings.region,
          }).sign();
        }
        const res = await this.fetch(req.url, {
          method,
          headers: req.headers,
          body: init.body as BodyInit | undefined,
          signal: init.signal,
        });
        if (res.ok || init.accept?.includes(res.status)) return res;
        // On AWS, a bucket in another region answers with its region: follow it once, as the
        // AWS tools do.
        const bucketRegion = res.headers.get("x-amz-bucket-region");
        if (
          redirects === 0 && !this.settings.endpoint && bucketRegion &&
          bucketRegion !== this.settings.region && [301, 307, 400].includes(res.status)
        ) {
          await res.body?.cancel().catch(() => {});
          this.settings.region = bucketRegion;
          this.settings.regionSource = "the bucket's region (x-amz-bucket-region)";
          continue;
        }
        throw await this.errorOf(res, method, key, init.op);
      }
    }, retry);
  }

  /** The error a failed response stands for. */
  private async errorOf(
    res: Response,
    method: string,
    key: string | undefined,
    op: string,
    bodyText?: string,
  ): Promise<SpackleError> {
    let text = bodyText ?? "";
    if (bodyText === undefined && method !== "HEAD") {
      try {
        text = await res.text();
      } catch {
        text = "";
      }
    } else await res.body?.cancel().catch(() => {});
    const { code, message } = parseS3Error(text);
    const what = `Cannot ${op} ${this.where(key)}`;
    const detail = `HTTP ${res.status}${code ? ` ${code}` : ""}${message ? `: ${message}` : ""}`;
    const source = this.settings.credentials
      ? `credentials from ${this.settings.credentialSource}`
      : "no credentials (anonymous request)";
    const bucketRegion = res.headers.get("x-amz-bucket-region");
    if (code === "NoSuchBucket" || (res.status === 404 && key === undefined)) {
      return new NotFoundError(
        `${what}: the bucket "${this.bucket}" does not exist at ${this.endpointName()} (${detail})`,
      );
    }
    if (res.status === 404 || res.status === 410 || code === "NoSuchKey") {
      return new NotFoundError(`${what}: no such key (${detail})`);
    }
    if (code && WRONG_CREDENTIALS.has(code)) {
      return new TransportError(
        `${what}: wrong credentials, the server answered ${code} (${source})` +
          (message ? `: ${message}` : ""),
        { status: res.status },
      );
    }
    if (code === "RequestTimeTooSkewed") {
      return new TransportError(
        `${what}: the clock of this machine is too far from the server's (${detail}); ` +
          "set the system time (NTP) and try again",
        { status: res.status },
      );
    }
    if (res.status === 403 || code === "AccessDenied") {
      const hint = code === undefined ? " (access denied or wrong credentials" : " (access denied";
      return new TransportError(
        `${what}: ${detail}${hint}; ${source})` +
          (this.settings.credentials
            ? ""
            : "; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or a profile if the bucket is not public"),
        { status: res.status },
      );
    }
    if (bucketRegion && bucketRegion !== this.settings.region) {
      return new TransportError(
        `${what}: the bucket is in region "${bucketRegion}", not "${this.settings.region}" ` +
          `(set AWS_REGION=${bucketRegion} or the region option) (${detail})`,
        { status: res.status },
      );
    }
    const temporary = res.status === 408 || res.status === 429 || res.status >= 500 ||
      (code !== undefined && TEMPORARY_CODES.has(code));
    const who = !temporary && (res.status === 400 || res.status === 401) && !code
      ? ` (${source})`
      : "";
    const err = new TransportError(`${what}: ${detail}${who}`, { status: res.status, temporary });
    const after = temporary ? retryAfterMs(res.headers.get("retry-after")) : undefined;
    return after === undefined ? err : Object.assign(err, { retryAfterMs: after });
  }

  private endpointName(): string {
    return this.settings.endpoint ? this.settings.endpoint.href : `AWS (${this.settings.region})`;
  }

  /** Throws a NotFoundError when the bucket does not exist (checked once per store). */
  private async checkBucket(key: string, op: string, signal?: AbortSignal): Promise<void> {
    if (this.bucketSeen) return;
    const res = await this.send("HEAD", undefined, {}, {
      op,
      signal,
      accept: [403, 301, 400, 404],
    });
    await res.body?.cancel();
    if (res.status === 404) {
      throw new NotFoundError(
        `Cannot ${op} ${this.where(key)}: the bucket "${this.bucket}" does not exist at ` +
          `${this.endpointName()} (HTTP 404)`,
      );
    }
    this.bucketSeen = true;
  }

  async stat(path: string, opts?: StoreCallOptions): Promise<StoreStat | undefined> {
    const key = this.keyOf(path);
    const res = await this.send("HEAD", key, {}, {
      op: "stat",
      signal: opts?.signal,
      accept: [404, 403],
    });
    await res.body?.cancel();
    if (res.status === 404) {
      await this.checkBucket(key, "stat", opts?.signal);
      return undefined;
    }
    if (res.status === 403) {
      // A HEAD answer has no body to tell wrong credentials from access denied: ask with a GET.
      const get = await this.send("GET", key, {}, {
        op: "stat",
        signal: opts?.signal,
        headers: { range: "bytes=0-0" },
        accept: [404],
      });
      await get.body?.cancel();
      if (get.status === 404) return undefined;
      throw await this.errorOf(res, "HEAD", key, "stat");
    }
    this.bucketSeen = true;
    const len = Number(res.headers.get("content-length") ?? "NaN");
    if (!Number.isFinite(len)) {
      throw new TransportError(`Cannot stat ${this.where(key)}: the answer has no Content-Length`);
    }
    const etag = res.headers.get("etag") ?? undefined;
    const st: StoreStat = etag ? { size: len, etag } : { size: len };
    const sum = res.headers.get(META_SHA256);
    if (sum && /^[0-9a-f]{64}$/.test(sum)) st.sha256 = sum;
    return st;
  }

  /**
   * The object's bytes; with `ifMatch` (an ETag from `stat`) the read fails unless the object
   * still has that ETag.
   */
  async read(path: string, opts?: StoreReadOptions): Promise<ReadableStream<Uint8Array>> {
    const key = this.keyOf(path);
    const signal = opts?.signal;
    const res = await this.send("GET", key, {}, {
      op: "read",
      signal,
      headers: opts?.ifMatch ? { "if-match": opts.ifMatch } : undefined,
      accept: opts?.ifMatch ? [412] : undefined,
    });
    if (res.status === 412) {
      await res.body?.cancel().catch(() => {});
      throw new TransportError(
        `Cannot read ${this.where(key)}: the object changed since it was checked ` +
          `(its ETag is no longer ${opts?.ifMatch})`,
        { status: 412 },
      );
    }
    this.bucketSeen = true;
    if (!res.body) return new ReadableStream({ start: (c) => c.close() });
    // A body cut short by the network is resumed where it broke, with a Range request guarded
    // by the ETag (If-Match), so that a replaced object is never spliced (storage/resume.ts).
    const etag = res.headers.get("etag");
    opts?.onEtag?.(etag ?? undefined);
    const lengthHeader = res.headers.get("content-length");
    const total = lengthHeader !== null && /^\d+$/.test(lengthHeader)
      ? Number(lengthHeader)
      : undefined;
    return resumingBody(res.body.getReader(), {
      label: this.where(key),
      total,
      maxResumes: this.maxResumes,
      signal,
      onRetry: this.retry.onRetry,
      reopen: async (offset) => {
        if (etag === null) return undefined;
        const r2 = await this.send("GET", key, {}, {
          op: "resume reading",
          signal,
          headers: { range: `bytes=${offset}-`, "if-match": etag! },
        });
        const cr = r2.headers.get("content-range") ?? "";
        if (r2.status !== 206 || !cr.startsWith(`bytes ${offset}-`) || !r2.body) {
          await r2.body?.cancel().catch(() => {});
          return undefined;
        }
        return { body: r2.body, start: offset };
      },
    });
  }

  async *list(prefix: string, opts?: StoreCallOptions): AsyncIterable<string> {
    for await (const o of this.listStat(prefix, opts)) yield o.path;
  }

  async *listStat(prefix: string, opts?: StoreCallOptions): AsyncIterable<ListedObject> {
    if (prefix.startsWith("/") || prefix.split("/").some((p) => p === ".." || p === ".")) {
      throw new UsageError(
        `Invalid list prefix "${prefix}": must be relative, without "." or ".."`,
      );
    }
    const full = this.prefix + prefix;
    let token: string | undefined;
    do {
      const q: Record<string, string> = {
        "list-type": "2",
        "max-keys": String(this.maxKeys),
        prefix: full,
      };
      if (token) q["continuation-token"] = token;
      const res = await this.send("GET", undefined, q, { op: "list", signal: opts?.signal });
      const page = parseListPage(await res.text());
      this.bucketSeen = true;
      for (const { key, size, etag } of page.keys) {
        if (!key.startsWith(this.prefix) || key.endsWith("/")) continue;
        const path = key.slice(this.prefix.length);
        yield etag ? { path, size, etag } : { path, size };
      }
      token = page.truncated ? page.next : undefined;
      if (page.truncated && !page.next) {
        throw new TransportError(
          `Cannot list ${this.where(full)}: the page is truncated but has no continuation token`,
        );
      }
    } while (token);
  }

  async write(
    path: string,
    body: Uint8Array | ReadableStream<Uint8Array>,
    opts: WriteOptions = {},
  ): Promise<void> {
    const key = this.keyOf(path);
    opts.signal?.throwIfAborted();
    if (body instanceof Uint8Array) {
      if (body.byteLength <= this.threshold) return this.putObject(key, body, opts);
      const src = new ByteSource();
      src.unshift(body);
      return this.multipart(key, src, body.byteLength, opts);
    }
    const reader = body.getReader();
    const src = new ByteSource(reader);
    if (opts.size !== undefined && opts.size > this.threshold) {
      return this.multipart(key, src, opts.size, opts);
    }
    let head: Uint8Array | undefined;
    try {
      head = await src.take(this.threshold + 1);
    } catch (e) {
      await src.cancel(e);
      throw e;
    }
    if (!head || head.byteLength <= this.threshold) {
      return this.putObject(key, head ?? new Uint8Array(0), opts);
    }
    src.unshift(head);
    return this.multipart(key, src, opts.size, opts);
  }

  /**
   * Writes `body` unless an object of the same size is already at `path` (content-addressed
   * blobs need not go up twice). Returns true when it wrote.
   */
  async writeUnlessSameSize(
    path: string,
    body: Uint8Array | ReadableStream<Uint8Array>,
    opts: WriteOptions = {},
  ): Promise<boolean> {
    const size = body instanceof Uint8Array ? body.byteLength : opts.size;
    if (size !== undefined) {
      const st = await this.stat(path, opts);
      if (st?.size === size) {
        if (!(body instanceof Uint8Array)) await body.cancel().catch(() => {});
        return false;
      }
    }
    await this.write(path, body, opts);
    return true;
  }

  private async putObject(key: string, bytes: Uint8Array, opts: WriteOptions): Promise<void> {
    const headers = writeHeaders(opts);
    const res = await this.send("PUT", key, {}, {
      op: "write",
      body: bytes,
      headers,
      signal: opts.signal,
    });
    await res.body?.cancel();
    this.bucketSeen = true;
  }

  private async multipart(
    key: string,
    src: ByteSource,
    size: number | undefined,
    opts: WriteOptions,
  ): Promise<void> {
    const partSize = size === undefined
      ? this.partSize
      : Math.max(this.partSize, Math.ceil(size / 10000));
    const headers = writeHeaders(opts);
    const ctrl = new AbortController();
    const signal = opts.signal ? AbortSignal.any([opts.signal, ctrl.signal]) : ctrl.signal;
    const inflight = new Set<Promise<void>>();
    await this.inMultipart(key, "upload of", { headers, signal: opts.signal }, async (id) => {
      const parts: { number: number; etag: string }[] = [];
      let failure: { error: unknown } | undefined;
      for (let n = 1; !failure; n++) {
        while (inflight.size >= this.concurrency) await Promise.race(inflight);
        if (failure) break;
        const bytes = await src.take(partSize);
        if (!bytes) break;
        if (n > 10000) {
          throw new UnsupportedError(
            `Cannot write ${this.where(key)}: more than 10000 parts of ${partSize} bytes`,
          );
        }
        const p: Promise<void> = this.send("PUT", key, {
          partNumber: String(n),
          uploadId: id,
        }, { op: `upload part ${n} of`, body: bytes, signal }).then(async (r) => {
          await r.body?.cancel();
          const etag = r.headers.get("etag");
          if (!etag) {
            throw new TransportError(
              `Cannot upload part ${n} of ${this.where(key)}: the answer has no ETag`,
            );
          }
          parts.push({ number: n, etag });
        }).catch((error) => {
          failure ??= { error };
          ctrl.abort(error);
        }).finally(() => inflight.delete(p));
        inflight.add(p);
      }
      await Promise.all(inflight);
      if (failure) throw failure.error;
      return parts;
    }, async (e) => {
      // Parts still in flight are stopped before the abort, so that none lands after it.
      ctrl.abort(e);
      await Promise.allSettled(inflight);
      await src.cancel(e);
    });
  }

  /**
   * The life of a multipart upload (`what`: "upload of" or "copy to"): started, its parts sent
   * by `sendParts`, completed; when anything fails, `stop` ends the parts' work and the upload is
   * aborted (a bucket lifecycle rule removes it when even that fails).
   */
  private async inMultipart(
    key: string,
    what: string,
    opts: { headers?: Record<string, string>; signal?: AbortSignal },
    sendParts: (uploadId: string) => Promise<{ number: number; etag: string }[]>,
    stop: (e: unknown) => Promise<void>,
  ): Promise<void> {
    let uploadId: string | undefined;
    try {
      const res = await this.send("POST", key, { uploads: "" }, {
        op: `start a multipart ${what}`,
        headers: opts.headers,
        signal: opts.signal,
      });
      uploadId = xmlText(await res.text(), "UploadId");
      if (!uploadId) {
        throw new TransportError(
          `Cannot start a multipart ${what} ${this.where(key)}: the answer has no UploadId`,
        );
      }
      const parts = (await sendParts(uploadId)).sort((a, b) => a.number - b.number);
      const done = await this.send("POST", key, { uploadId }, {
        op: `complete the multipart ${what}`,
        body: new TextEncoder().encode(completeMultipartXml(parts)),
        headers: { "content-type": "application/xml" },
        signal: opts.signal,
      });
      // CompleteMultipartUpload can fail after a 200 status, with an error document as body.
      const text = await done.text();
      if (parseS3Error(text).code) {
        throw await this.errorOf(done, "POST", key, `complete the multipart ${what}`, text);
      }
      this.bucketSeen = true;
    } catch (e) {
      await stop(e);
      if (uploadId) {
        try {
          const r = await this.send("DELETE", key, { uploadId }, {
            op: `abort the multipart ${what}`,
            accept: [404],
          });
          await r.body?.cancel();
        } catch {
          // The upload stays incomplete; a bucket lifecycle rule removes it.
        }
      }
      throw e;
    }
  }

  /**
   * The multipart uploads begun and neither completed nor aborted under `prefix`
   * (ListMultipartUploads), with when each was begun.
   */
  async *listUploads(prefix: string, opts?: StoreCallOptions): AsyncIterable<PendingUpload> {
    const full = this.prefix + prefix;
    let keyMarker: string | undefined;
    let idMarker: string | undefined;
    do {
      const q: Record<string, string> = { uploads: "", prefix: full };
      if (keyMarker) q["key-marker"] = keyMarker;
      if (idMarker) q["upload-id-marker"] = idMarker;
      const res = await this.send("GET", undefined, q, {
        op: "list multipart uploads",
        signal: opts?.signal,
      });
      const xml = await res.text();
      for (const u of xmlBlocks(xml, "Upload")) {
        const key = xmlText(u, "Key") ?? "";
        const uploadId = xmlText(u, "UploadId") ?? "";
        if (!key.startsWith(this.prefix) || !uploadId) continue;
        const initiated = Date.parse(xmlText(u, "Initiated") ?? "");
        yield {
          path: key.slice(this.prefix.length),
          uploadId,
          initiated: Number.isFinite(initiated) ? initiated : 0,
        };
      }
      const truncated = (xmlText(xml, "IsTruncated") ?? "false").trim() === "true";
      keyMarker = truncated ? xmlText(xml, "NextKeyMarker") : undefined;
      idMarker = truncated ? xmlText(xml, "NextUploadIdMarker") : undefined;
    } while (keyMarker);
  }

  /** Aborts the multipart upload `uploadId` of `path` (an absent one is not an error). */
  async abortUpload(path: string, uploadId: string, opts?: StoreCallOptions): Promise<void> {
    const r = await this.send("DELETE", this.keyOf(path), { uploadId }, {
      op: "abort the multipart upload of",
      signal: opts?.signal,
      accept: [404],
    });
    await r.body?.cancel().catch(() => {});
  }

  async delete(path: string, opts?: StoreCallOptions): Promise<void> {
    const key = this.keyOf(path);
    const res = await this.send("DELETE", key, {}, {
      op: "delete",
      signal: opts?.signal,
      accept: [404],
    });
    const text = res.status === 404 ? await res.text() : "";
    await res.body?.cancel().catch(() => {});
    if (parseS3Error(text).code === "NoSuchBucket") {
      throw await this.errorOf(res, "DELETE", key, "delete", text);
    }
  }

  async copy(from: string, to: string, opts?: StoreCallOptions): Promise<void> {
    await this.copyFrom(this, from, to, opts);
  }

  /**
   * True when this store can copy objects out of `src` without the bytes passing through this
   * process: `src` is an S3 store on the same endpoint (or AWS region), with the same
   * addressing and the same credentials (so the copy request, signed by this store, may read
   * the source).
   */
  canCopyFrom(src: ReadStore): src is S3Store {
    if (!(src instanceof S3Store)) return false;
    const a = this.settings, b = src.settings;
    const ca = a.credentials, cb = b.credentials;
    return (a.endpoint?.href ?? "") === (b.endpoint?.href ?? "") && a.region === b.region &&
      a.pathStyle === b.pathStyle && !!ca && !!cb && ca.accessKeyId === cb.accessKeyId &&
      ca.secretAccessKey === cb.secretAccessKey && ca.sessionToken === cb.sessionToken;
  }

  /**
   * Copies the object `from` of `src` (a store this one {@link canCopyFrom}, or this store) to
   * `to` in this store, on the server: one CopyObject up to `copyThreshold` (S3 copies at most
   * 5 GiB at once), else a multipart upload whose parts are UploadPartCopy ranges. `size` is
   * the source's size (read with a HEAD when not given); with `ifMatch` the copy fails unless
   * the source still has that ETag (so that the object copied is the one checked before).
   */
  async copyFrom(
    src: ReadStore,
    from: string,
    to: string,
    opts: CopyFromOptions = {},
  ): Promise<void> {
    if (!(src instanceof S3Store) || (src !== this && !this.canCopyFrom(src))) {
      throw new UsageError(
        `Cannot copy server-side from ${src.url.href} to ${this.url.href}: not the same ` +
          "endpoint and credentials",
      );
    }
    const srcKey = src.keyOf(from);
    const dst = this.keyOf(to);
    const source = `/${encodeURIComponent(src.bucket)}/${encodeKey(srcKey)}`;
    const headers: Record<string, string> = { "x-amz-copy-source": source };
    if (opts.ifMatch) headers["x-amz-copy-source-if-match"] = opts.ifMatch;
    const size = opts.size ?? (await src.statOrThrow(from, opts)).size;
    if (size > this.copyThreshold) {
      return this.multipartCopy(src, srcKey, dst, size, headers, opts.signal);
    }
    const res = await this.send("PUT", dst, {}, {
      op: "copy to",
      headers,
      signal: opts.signal,
      accept: [404, 412],
    });
    const text = await res.text();
    if (res.status === 404) throw await src.errorOf(res, "GET", srcKey, "copy", text);
    if (res.status === 412) throw this.changedSource(src, srcKey, opts.ifMatch);
    if (parseS3Error(text).code) throw await this.errorOf(res, "PUT", dst, "copy to", text);
    this.bucketSeen = true;
  }

  private async statOrThrow(path: string, opts: StoreCallOptions): Promise<StoreStat> {
    const st = await this.stat(path, opts);
    if (!st) throw new NotFoundError(`Cannot copy ${this.where(this.keyOf(path))}: no such key`);
    return st;
  }

  private changedSource(src: S3Store, key: string, etag?: string): TransportError {
    return new TransportError(
      `Cannot copy ${src.where(key)}: the object changed since it was checked ` +
        `(its ETag is no longer ${etag})`,
      { status: 412 },
    );
  }

  /** A copy in UploadPartCopy parts of `copyPartSize` bytes, aborted when anything fails. */
  private async multipartCopy(
    src: S3Store,
    srcKey: string,
    key: string,
    size: number,
    copyHeaders: Record<string, string>,
    outer?: AbortSignal,
  ): Promise<void> {
    const partSize = Math.max(this.copyPartSize, Math.ceil(size / 10000));
    const count = Math.ceil(size / partSize);
    const ctrl = new AbortController();
    const signal = outer ? AbortSignal.any([outer, ctrl.signal]) : ctrl.signal;
    await this.inMultipart(key, "copy to", { signal: outer }, async (id) => {
      const parts: { number: number; etag: string }[] = [];
      let next = 1;
      const worker = async () => {
        while (next <= count) {
          const n = next++;
          const first = (n - 1) * partSize;
          const last = Math.min(size, first + partSize) - 1;
          const r = await this.send("PUT", key, { partNumber: String(n), uploadId: id }, {
            op: `copy part ${n} to`,
            headers: { ...copyHeaders, "x-amz-copy-source-range": `bytes=${first}-${last}` },
            signal,
            accept: [404, 412],
          });
          const text = await r.text();
          if (r.status === 404) throw await src.errorOf(r, "GET", srcKey, "copy", text);
          if (r.status === 412) {
            throw this.changedSource(src, srcKey, copyHeaders["x-amz-copy-source-if-match"]);
          }
          if (parseS3Error(text).code) {
            throw await this.errorOf(r, "PUT", key, `copy part ${n} to`, text);
          }
          const etag = xmlText(text, "ETag");
          if (!etag) {
            throw new TransportError(
              `Cannot copy part ${n} to ${this.where(key)}: the answer has no ETag`,
            );
          }
          parts.push({ number: n, etag });
        }
      };
      const workers = Array.from({ length: Math.min(this.concurrency, count) }, worker);
      const settled = await Promise.allSettled(workers.map((w) =>
        w.catch((e) => {
          ctrl.abort(e);
          throw e;
        })
      ));
      const failed = settled.find((s) => s.status === "rejected");
      if (failed) throw (failed as PromiseRejectedResult).reason;
      return parts;
    }, (e) => {
      ctrl.abort(e);
      return Promise.resolve();
    });
  }

  /** Creates the bucket; an existing bucket of ours is fine. */
  async createBucket(opts?: StoreCallOptions): Promise<void> {
    const region = this.settings.region;
    const body = region === "us-east-1" || this.settings.endpoint ? undefined : new TextEncoder()
      .encode(
        `<CreateBucketConfiguration><LocationConstraint>${region}</LocationConstraint></CreateBucketConfiguration>`,
      );
    const res = await this.send("PUT", undefined, {}, {
      op: "create",
      body,
      signal: opts?.signal,
      accept: [409],
    });
    const text = await res.text();
    if (res.status === 409 && parseS3Error(text).code !== "BucketAlreadyOwnedByYou") {
      throw await this.errorOf(res, "PUT", undefined, "create", text);
    }
    this.bucketSeen = true;
  }

  /** Deletes the (empty) bucket. */
  async deleteBucket(opts?: StoreCallOptions): Promise<void> {
    const res = await this.send("DELETE", undefined, {}, { op: "delete", signal: opts?.signal });
    await res.body?.cancel();
    this.bucketSeen = false;
  }
}

/**
 * Opens the store at `s3://bucket/prefix/`. `opts` may be S3Options or a mirror configuration
 * entry in Spack's spelling (`endpoint_url`, `access_pair`, `profile`, ...).
 */
export async function openS3Store(
  url: URL | string,
  opts: S3Options | Record<string, unknown> = {},
  net: S3NetOptions = {},
): Promise<S3Store> {
  const u = new URL(url);
  if (u.protocol !== "s3:") throw new UsageError(`Not an s3:// URL: "${u.href}"`);
  if (!u.hostname) throw new UsageError(`The S3 URL "${u.href}" names no bucket`);
  if (u.username || u.password) {
    throw new UsageError(
      `The S3 URL "s3://${u.hostname}${u.pathname}" carries credentials: use AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a profile`,
    );
  }
  const raw = opts as Record<string, unknown>;
  const o: S3Options = {
    ...s3OptionsFrom(raw),
    multipartThreshold: raw.multipartThreshold as number | undefined,
    partSize: raw.partSize as number | undefined,
    concurrency: raw.concurrency as number | undefined,
    maxKeys: raw.maxKeys as number | undefined,
    maxResumes: raw.maxResumes as number | undefined,
    copyThreshold: raw.copyThreshold as number | undefined,
    copyPartSize: raw.copyPartSize as number | undefined,
  };
  const settings = resolveS3Settings(o, u.hostname);
  const { AwsV4Signer } = await import("aws4fetch");
  const store = new S3Store(u, settings, AwsV4Signer as unknown as Signer, o, net);
  if (typeof raw.log === "function") (raw.log as (line: string) => void)(store.describe());
  return store;
}
