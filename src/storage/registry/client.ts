/**
 * A client of the OCI distribution API for one repository: the `WWW-Authenticate` challenge
 * (Bearer tokens from the realm, anonymous when no credentials are known, with Basic as the
 * fallback), manifests, blobs (HEAD, GET resumed with Range, digest checked by the caller's
 * descriptor), uploads (POST then monolithic PUT; chunked PATCH for large blobs; a blob
 * already there is not sent; cross-repository mount), tags with `Link` pagination, retries of
 * temporary failures (5xx, 429 with `Retry-After`, network) and errors a user understands.
 *
 * @module
 */
import { createHash } from "node:crypto";
import {
  IntegrityError,
  NotFoundError,
  type SpackleError,
  TransportError,
  UsageError,
} from "../../errors.ts";
import { type HttpOptions, makeFetch, redact, retryAfterMs } from "../http_client.ts";
import { backoffDelay, type RetryOptions, withRetry } from "../retry.ts";
import { apiBase, type RepositoryRef } from "./reference.ts";

/** Credentials for a registry, and where they came from (named by `--verbose`). */
export interface RegistryCredentials {
  username?: string;
  password?: string;
  /** A bearer token used as is (an `access_token`, or a docker config `registrytoken`). */
  token?: string;
  /** Where they came from (never the secret itself). */
  source: string;
}

/** Finds credentials for a registry host (called once, when a registry first asks). */
export type CredentialsProvider = (
  registry: string,
) => RegistryCredentials | undefined | Promise<RegistryCredentials | undefined>;

/** Options of a RegistryClient. */
export interface RegistryClientOptions {
  http?: HttpOptions;
  /** The fetch to use instead of one made from `http`. */
  fetch?: typeof fetch;
  retry?: RetryOptions;
  credentials?: CredentialsProvider;
  /** Receives debug lines (credential source, token realm, retries); never secrets. */
  log?: (line: string) => void;
  /**
   * Blobs larger than this are uploaded in PATCH chunks of this size (default 64 MiB);
   * smaller ones with a single PUT.
   */
  chunkSize?: number;
}

/** OCI and Docker manifest media types Spack reads and writes. */
export const MANIFEST_TYPES = [
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.v2+json",
] as const;
/** Image index (multi-arch) media types. */
export const INDEX_TYPES = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
] as const;

/** A manifest as fetched: the exact bytes, their media type and digest. */
export interface FetchedManifest {
  bytes: Uint8Array;
  mediaType: string;
  /** `sha256:<hex>` of the bytes. */
  digest: string;
}

/** How an upload ended. */
export type UploadResult = "present" | "mounted" | "uploaded";

/** Counters of what the client did (for figures: requests per entry). */
export interface ClientStats {
  requests: number;
  bytesUp: number;
}

interface Challenge {
  scheme: "bearer" | "basic";
  params: Record<string, string>;
}

/** Parses a `WWW-Authenticate` header (one challenge; parameters quoted or not). */
export function parseChallenge(header: string | null): Challenge | undefined {
  if (!header) return undefined;
  const m = /^\s*(\w+)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const scheme = m[1].toLowerCase();
  if (scheme !== "bearer" && scheme !== "basic") return undefined;
  const params: Record<string, string> = {};
  for (const p of m[2].matchAll(/([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g)) {
    params[p[1].toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, "$1") : p[3];
  }
  return { scheme, params };
}

/** The `rel="next"` target of a `Link` header, if any. */
export function linkNext(header: string | null): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(/,(?=\s*<)/)) {
    const m = /^\s*<([^>]*)>\s*;(.*)$/.exec(part);
    if (m && /\brel\s*=\s*"?next"?/i.test(m[2])) return m[1];
  }
  return undefined;
}

function sha256Digest(bytes: Uint8Array): string {
  return "sha256:" + createHash("sha256").update(bytes).digest("hex");
}

/** The body of a request: bytes (replayable), or a stream opened for each attempt. */
type Body = Uint8Array | (() => Promise<ReadableStream<Uint8Array>>);

interface RequestInit2 {
  method?: string;
  headers?: Record<string, string>;
  body?: Body;
  /** Actions needed on this repository ("pull" or "pull,push"). */
  actions?: string;
  /** Extra scopes (a mount's source repository). */
  extraScopes?: string[];
  signal?: AbortSignal;
  /** Statuses that are not errors (default: 2xx). */
  ok?: number[];
  /** What is being done, for messages ("read manifest ..."). */
  what: string;
}

const enc = new TextEncoder();

/** A client of one repository of an OCI registry. */
export class RegistryClient {
  readonly base: URL;
  readonly stats: ClientStats = { requests: 0, bytesUp: 0 };
  #fetch: typeof fetch;
  #opts: RegistryClientOptions;
  #creds?: Promise<RegistryCredentials | undefined>;
  /** Authorization header by scope key ("" = whatever the registry asked for first). */
  #auth = new Map<string, string>();
  #basic = false;
  #challenge?: Challenge;

  constructor(readonly ref: RepositoryRef, opts: RegistryClientOptions = {}) {
    this.#opts = opts;
    this.base = apiBase(ref);
    this.#fetch = opts.fetch ?? makeFetch(opts.http);
  }

  /** `host[:port]/name` as a user reads it. */
  get display(): string {
    return `${this.ref.domain}/${this.ref.name}`;
  }

  /** The URL of `path` under the repository (`manifests/x`) or an absolute/relative Location. */
  url(path: string): URL {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(path)) return new URL(path);
    if (path.startsWith("/")) return new URL(path, this.base);
    return new URL(`${this.ref.name}/${path}`, this.base);
  }

  #credentials(): Promise<RegistryCredentials | undefined> {
    if (!this.#creds) {
      this.#creds = Promise.resolve(this.#opts.credentials?.(this.ref.domain)).then((c) => {
        if (c) this.#opts.log?.(`registry ${this.ref.domain}: credentials from ${c.source}`);
        else this.#opts.log?.(`registry ${this.ref.domain}: no credentials (anonymous)`);
        return c;
      });
    }
    return this.#creds;
  }

  #scopeKey(actions: string, extra: string[] = []): string {
    return [`repository:${this.ref.name}:${actions}`, ...extra].join(" ");
  }

  /** Answers a challenge: a bearer token for the scope, or Basic credentials. */
  async #authorize(ch: Challenge, scope: string, signal?: AbortSignal): Promise<string> {
    const creds = await this.#credentials();
    if (ch.scheme === "basic") {
      if (!creds || creds.username === undefined) {
        throw this.#unauthorized(ch, scope, "no credentials were found");
      }
      this.#basic = true;
      return "Basic " + btoa(`${creds.username}:${creds.password ?? ""}`);
    }
    if (creds?.token && creds.username === undefined) return `Bearer ${creds.token}`;
    const realm = ch.params.realm;
    if (!realm) throw this.#unauthorized(ch, scope, "the challenge names no realm");
    let u: URL;
    try {
      u = new URL(realm);
    } catch {
      throw this.#unauthorized(ch, scope, `the token realm "${realm}" is not a URL`);
    }
    if (ch.params.service) u.searchParams.set("service", ch.params.service);
    const scopes = new Set(scope.split(" "));
    if (ch.params.scope) { for (const s of ch.params.scope.split(" ")) scopes.add(s); }
    for (const s of scopes) u.searchParams.append("scope", s);
    u.searchParams.set("client_id", "spackle");
    const headers: Record<string, string> = {};
    // An identity token (docker login's `identitytoken`) is a refresh token: exchanged by an
    // OAuth2 POST to the realm. Other credentials go as Basic auth on the GET.
    const oauth = creds?.username === "<token>";
    let body: URLSearchParams | undefined;
    if (oauth) {
      body = new URLSearchParams({
        grant_type: "refresh_token",
        refresh_token: creds!.password ?? "",
        client_id: "spackle",
        scope: [...scopes].join(" "),
      });
      if (ch.params.service) body.set("service", ch.params.service);
      headers["content-type"] = "application/x-www-form-urlencoded";
    } else if (creds?.username !== undefined) {
      headers.authorization = "Basic " + btoa(`${creds.username}:${creds.password ?? ""}`);
    }
    this.#opts.log?.(
      `registry ${this.ref.domain}: token from ${redact(u)} for ${[...scopes].join(" ")}${
        creds ? "" : " (anonymous)"
      }`,
    );
    const res = await withRetry(async () => {
      this.stats.requests++;
      const r = oauth
        ? await this.#fetch(new URL(realm), { method: "POST", headers, body, signal })
        : await this.#fetch(u, { headers, signal });
      if (r.status === 429 || r.status >= 500) {
        await r.body?.cancel().catch(() => {});
        throw Object.assign(
          new TransportError(`Cannot get a token from ${redact(u)}: HTTP ${r.status}`, {
            temporary: true,
            status: r.status,
          }),
          { retryAfterMs: retryAfterMs(r.headers.get("retry-after")) },
        );
      }
      return r;
    }, { ...this.#opts.retry, signal });
    if (!res.ok) {
      await res.body?.cancel().catch(() => {});
      throw this.#unauthorized(
        ch,
        [...scopes].join(" "),
        `the token service answered HTTP ${res.status}${
          creds ? ` for the credentials from ${creds.source}` : " to an anonymous request"
        }`,
      );
    }
    let doc: { token?: string; access_token?: string };
    try {
      doc = await res.json();
    } catch (e) {
      throw new TransportError(`Cannot read the token from ${redact(u)}: not JSON`, { cause: e });
    }
    const tok = doc.token ?? doc.access_token;
    if (!tok) throw new TransportError(`Cannot read the token from ${redact(u)}: no "token"`);
    return `Bearer ${tok}`;
  }

  #unauthorized(ch: Challenge | undefined, scope: string, why: string): TransportError {
    const realm = ch?.params.realm ? ` realm "${ch.params.realm}"` : "";
    const service = ch?.params.service ? ` service "${ch.params.service}"` : "";
    return new TransportError(
      `Unauthorized at registry ${this.ref.domain}: it asks for ${
        ch?.scheme === "basic" ? "Basic" : "Bearer"
      } credentials (${(realm + service).trim() || "no realm"}, scope "${scope}"): ${why}` +
        " (give credentials with --oci-username/--oci-password-variable, the mirror's access_pair, or docker login)",
      { status: 401 },
    );
  }

  /** One request with authentication, retries of temporary failures and mapped errors. */
  async request(path: string, init: RequestInit2): Promise<Response> {
    const url = this.url(path);
    const actions = init.actions ?? "pull";
    const scope = this.#scopeKey(actions, init.extraScopes);
    const replayable = !(typeof init.body === "function");
    const once = async (): Promise<Response> => {
      let authorization = this.#auth.get(scope) ?? (this.#basic ? this.#auth.get("") : undefined);
      for (let round = 0;; round++) {
        const headers: Record<string, string> = { ...init.headers };
        if (authorization) headers.authorization = authorization;
        let body: BodyInit | undefined;
        if (init.body instanceof Uint8Array) body = init.body as Uint8Array<ArrayBuffer>;
        else if (init.body) body = await init.body();
        this.stats.requests++;
        const res = await this.#fetch(url, {
          method: init.method ?? "GET",
          headers,
          body,
          signal: init.signal,
          redirect: "follow",
          ...(body instanceof ReadableStream ? { duplex: "half" } : {}),
        } as RequestInit);
        if (res.status !== 401 || round > 0) {
          if (res.status === 401) {
            await res.body?.cancel().catch(() => {});
            throw this.#unauthorized(
              parseChallenge(res.headers.get("www-authenticate")) ?? this.#challenge,
              scope,
              "the registry refused the credentials" +
                (await this.#credentials().then((c) => (c ? ` from ${c.source}` : ""))),
            );
          }
          return res;
        }
        const ch = parseChallenge(res.headers.get("www-authenticate"));
        await res.body?.cancel().catch(() => {});
        if (!ch) {
          throw this.#unauthorized(undefined, scope, "HTTP 401 without a usable challenge");
        }
        this.#challenge = ch;
        authorization = await this.#authorize(ch, scope, init.signal);
        this.#auth.set(scope, authorization);
        if (ch.scheme === "basic") this.#auth.set("", authorization);
        if (!replayable && body instanceof ReadableStream) {
          // A stream cannot be sent twice: the caller's retry opens it again.
          throw new TransportError(`Authentication needed for ${init.what}: retrying`, {
            temporary: true,
          });
        }
      }
    };
    return await withRetry(async () => {
      const res = await once();
      const ok = init.ok ?? [];
      if (res.ok || ok.includes(res.status)) return res;
      throw await this.#statusError(res, url, init.what);
    }, { ...this.#opts.retry, signal: init.signal });
  }

  async #statusError(res: Response, url: URL, what: string): Promise<SpackleError> {
    let codes: { code?: string; message?: string }[] = [];
    let text = "";
    try {
      text = await res.text();
      const doc = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
      if (Array.isArray(doc.errors)) codes = doc.errors;
    } catch { /* not JSON */ }
    const code = codes[0]?.code ?? "";
    const detail = codes.length
      ? codes.map((c) => `${c.code}${c.message ? ` (${c.message})` : ""}`).join(", ")
      : `HTTP ${res.status} ${res.statusText}`.trim();
    const where = `${this.display}`;
    if (res.status === 404) {
      if (code === "NAME_UNKNOWN") {
        return new NotFoundError(
          `Cannot ${what}: the repository "${this.ref.name}" does not exist on ${this.ref.domain} (${detail})`,
        );
      }
      if (code === "MANIFEST_UNKNOWN") {
        return new NotFoundError(`Cannot ${what}: manifest unknown in ${where} (${detail})`);
      }
      if (code === "BLOB_UNKNOWN") {
        return new NotFoundError(`Cannot ${what}: blob unknown in ${where} (${detail})`);
      }
      if (!codes.length && !res.headers.get("docker-distribution-api-version")) {
        return await this.#notARegistry(what, res.status);
      }
      return new NotFoundError(`Cannot ${what} in ${where}: ${detail}`);
    }
    if (res.status === 403) {
      return new TransportError(
        `Cannot ${what}: denied by ${this.ref.domain} (${detail}); the credentials lack the permission`,
        { status: 403 },
      );
    }
    if (res.status === 429) {
      const after = retryAfterMs(res.headers.get("retry-after"));
      return Object.assign(
        new TransportError(
          `Cannot ${what}: rate limited by ${this.ref.domain} (HTTP 429${
            after !== undefined ? `, Retry-After ${Math.ceil(after / 1000)} s` : ""
          }${codes.length ? `, ${detail}` : ""})`,
          { status: 429, temporary: true },
        ),
        after === undefined ? {} : { retryAfterMs: after },
      );
    }
    const temporary = res.status === 408 || res.status >= 500;
    const html = /<html|<!doctype/i.test(text.slice(0, 200));
    if (html && !codes.length && res.status < 500) {
      return await this.#notARegistry(what, res.status);
    }
    return new TransportError(`Cannot ${what} at ${redact(url)}: ${detail}`, {
      status: res.status,
      temporary,
    });
  }

  async #notARegistry(what: string, status: number): Promise<SpackleError> {
    let probe = "";
    try {
      this.stats.requests++;
      const r = await this.#fetch(this.base, { method: "GET" });
      await r.body?.cancel().catch(() => {});
      if (
        r.headers.get("docker-distribution-api-version") || r.status === 200 || r.status === 401
      ) {
        return new NotFoundError(`Cannot ${what} in ${this.display}: HTTP ${status}`);
      }
      probe = `; ${this.base.href} answers HTTP ${r.status}`;
    } catch (e) {
      probe = `; ${this.base.href} fails: ${(e as Error).message}`;
    }
    return new UsageError(
      `Cannot ${what}: ${this.ref.scheme}://${this.ref.domain} is not an OCI registry (HTTP ${status} without the registry API${probe})`,
    );
  }

  /** Checks that the host speaks the registry API (GET /v2/, authenticating if asked). */
  async ping(signal?: AbortSignal): Promise<void> {
    const res = await this.request(this.base.href, { what: "reach the registry", signal });
    await res.body?.cancel().catch(() => {});
  }

  /** The manifest at a tag or digest; NotFoundError when absent. */
  async getManifest(
    reference: string,
    opts: { accept?: readonly string[]; signal?: AbortSignal } = {},
  ): Promise<FetchedManifest> {
    const accept = opts.accept ?? [...MANIFEST_TYPES, ...INDEX_TYPES];
    const res = await this.request(`manifests/${reference}`, {
      headers: { accept: accept.join(", ") },
      what: `read manifest "${reference}"`,
      signal: opts.signal,
    });
    const bytes = new Uint8Array(await res.arrayBuffer());
    const digest = sha256Digest(bytes);
    if (reference.startsWith("sha256:") && reference !== digest) {
      throw new IntegrityError(
        `Cannot verify manifest "${reference}" of ${this.display}: digest is "${digest}"`,
      );
    }
    let mediaType = (res.headers.get("content-type") ?? "").split(";")[0].trim();
    try {
      const doc = JSON.parse(new TextDecoder().decode(bytes)) as { mediaType?: string };
      if (typeof doc.mediaType === "string") mediaType = doc.mediaType;
    } catch { /* the caller reports bad JSON */ }
    return { bytes, mediaType, digest };
  }

  /** Digest and size of the manifest at a tag, or undefined when absent. */
  async headManifest(
    reference: string,
    signal?: AbortSignal,
  ): Promise<{ digest?: string; size?: number } | undefined> {
    const res = await this.request(`manifests/${reference}`, {
      method: "HEAD",
      headers: { accept: [...MANIFEST_TYPES, ...INDEX_TYPES].join(", ") },
      what: `check manifest "${reference}"`,
      ok: [404],
      signal,
    });
    await res.body?.cancel().catch(() => {});
    if (res.status === 404) return undefined;
    const len = res.headers.get("content-length");
    return {
      digest: res.headers.get("docker-content-digest") ?? undefined,
      size: len ? Number(len) : undefined,
    };
  }

  /** Uploads a manifest under a tag (or its digest); returns its digest. The commit point. */
  async putManifest(
    reference: string,
    bytes: Uint8Array,
    mediaType: string,
    signal?: AbortSignal,
  ): Promise<string> {
    const res = await this.request(`manifests/${reference}`, {
      method: "PUT",
      headers: { "content-type": mediaType },
      body: bytes,
      actions: "pull,push",
      what: `write manifest "${reference}"`,
      signal,
    });
    await res.body?.cancel().catch(() => {});
    return sha256Digest(bytes);
  }

  /** The size of a blob, or undefined when the repository lacks it. */
  async blobSize(digest: string, signal?: AbortSignal): Promise<number | undefined> {
    const res = await this.request(`blobs/${digest}`, {
      method: "HEAD",
      what: `check blob "${digest}"`,
      ok: [404],
      signal,
    });
    await res.body?.cancel().catch(() => {});
    if (res.status === 404) return undefined;
    const len = res.headers.get("content-length");
    return len && /^\d+$/.test(len) ? Number(len) : 0;
  }

  /**
   * A blob's bytes from `offset`. A body cut short by the network is resumed with a Range
   * request from where it broke (blobs are content-addressed, so the bytes cannot change).
   * The caller checks the digest while the bytes stream.
   */
  async getBlob(
    digest: string,
    opts: { offset?: number; signal?: AbortSignal; maxResumes?: number } = {},
  ): Promise<ReadableStream<Uint8Array>> {
    const what = `read blob "${digest}"`;
    const open = async (from: number) => {
      const res = await this.request(`blobs/${digest}`, {
        headers: from > 0 ? { range: `bytes=${from}-` } : {},
        what,
        signal: opts.signal,
      });
      if (from > 0 && res.status !== 206) {
        await res.body?.cancel().catch(() => {});
        throw new TransportError(`Cannot resume ${what}: the registry ignores Range requests`);
      }
      return res.body!.getReader();
    };
    let delivered = opts.offset ?? 0;
    let current = await open(delivered);
    let resumes = 0;
    const max = opts.maxResumes ?? 3;
    const signal = opts.signal;
    return new ReadableStream<Uint8Array>({
      async pull(c) {
        for (;;) {
          try {
            const { value, done } = await current.read();
            if (done) return c.close();
            delivered += value.byteLength;
            c.enqueue(value);
            return;
          } catch (e) {
            const temporary = (e as { temporary?: unknown }).temporary === true;
            if (!temporary || resumes >= max || signal?.aborted) return c.error(e);
            resumes++;
            await new Promise((r) => setTimeout(r, backoffDelay(resumes, { baseDelayMs: 200 })));
            try {
              current = await open(delivered);
            } catch (e2) {
              return c.error(e2);
            }
          }
        }
      },
      cancel(reason) {
        return current.cancel(reason);
      },
    }, { highWaterMark: 0 });
  }

  /**
   * Uploads a blob unless the repository has it: a cross-repository mount from `mountFrom`
   * (a repository of the same registry) when given, else POST then a monolithic PUT, or PATCH
   * chunks for blobs over the chunk size. `body` is opened (again) for each attempt.
   */
  async uploadBlob(
    digest: string,
    size: number,
    body: Uint8Array | (() => Promise<ReadableStream<Uint8Array>>),
    opts: { mountFrom?: string; signal?: AbortSignal; force?: boolean } = {},
  ): Promise<UploadResult> {
    const signal = opts.signal;
    if (!opts.force) {
      const have = await this.blobSize(digest, signal);
      if (have !== undefined) return "present";
    }
    const what = `upload blob "${digest}"`;
    let start: Response;
    if (opts.mountFrom && opts.mountFrom !== this.ref.name) {
      const q = new URLSearchParams({ mount: digest, from: opts.mountFrom });
      start = await this.request(`blobs/uploads/?${q}`, {
        method: "POST",
        headers: { "content-length": "0" },
        actions: "pull,push",
        extraScopes: [`repository:${opts.mountFrom}:pull`],
        what,
        signal,
      });
      await start.body?.cancel().catch(() => {});
      if (start.status === 201) return "mounted";
    } else {
      start = await this.request("blobs/uploads/", {
        method: "POST",
        headers: { "content-length": "0" },
        actions: "pull,push",
        what,
        signal,
      });
      await start.body?.cancel().catch(() => {});
      if (start.status === 201) return "uploaded";
    }
    let location = start.headers.get("location");
    if (!location) {
      throw new TransportError(`Cannot ${what}: the registry gave no upload location`);
    }
    const chunk = this.#opts.chunkSize ?? 64 * 1024 * 1024;
    const withDigest = (loc: string) => {
      const u = this.url(loc);
      u.searchParams.set("digest", digest);
      return u.href;
    };
    if (size <= chunk) {
      const res = await this.request(withDigest(location), {
        method: "PUT",
        headers: { "content-type": "application/octet-stream", "content-length": String(size) },
        body,
        actions: "pull,push",
        what,
        signal,
      });
      await res.body?.cancel().catch(() => {});
      this.stats.bytesUp += size;
      return "uploaded";
    }
    // Chunked: PATCH each chunk (buffered, so it can be retried), then PUT with the digest.
    const src = body instanceof Uint8Array
      ? new ReadableStream<Uint8Array>({ start: (c) => (c.enqueue(body), c.close()) })
      : await body();
    const reader = src.getReader();
    let offset = 0;
    let pending: Uint8Array[] = [];
    let pendingSize = 0;
    const flush = async () => {
      const buf = new Uint8Array(pendingSize);
      let o = 0;
      for (const p of pending) (buf.set(p, o), o += p.byteLength);
      pending = [];
      pendingSize = 0;
      const res = await this.request(location!, {
        method: "PATCH",
        headers: {
          "content-type": "application/octet-stream",
          "content-range": `${offset}-${offset + buf.byteLength - 1}`,
          "content-length": String(buf.byteLength),
        },
        body: buf,
        actions: "pull,push",
        what,
        signal,
      });
      await res.body?.cancel().catch(() => {});
      offset += buf.byteLength;
      this.stats.bytesUp += buf.byteLength;
      location = res.headers.get("location") ?? location;
    };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      let v = value;
      while (pendingSize + v.byteLength >= chunk) {
        const take = chunk - pendingSize;
        pending.push(v.subarray(0, take));
        pendingSize += take;
        v = v.subarray(take);
        await flush();
      }
      if (v.byteLength) (pending.push(v), pendingSize += v.byteLength);
    }
    if (pendingSize) await flush();
    if (offset !== size) {
      throw new IntegrityError(`Cannot ${what}: ${offset} bytes were sent, ${size} expected`);
    }
    const res = await this.request(withDigest(location), {
      method: "PUT",
      headers: { "content-length": "0" },
      body: new Uint8Array(0),
      actions: "pull,push",
      what,
      signal,
    });
    await res.body?.cancel().catch(() => {});
    return "uploaded";
  }

  /** Every tag of the repository, following `Link` pagination (`n` per page). */
  async *tags(opts: { signal?: AbortSignal; pageSize?: number } = {}): AsyncIterable<string> {
    let path = `tags/list${opts.pageSize ? `?n=${opts.pageSize}` : ""}`;
    const seen = new Set<string>();
    for (;;) {
      const res = await this.request(path, { what: "list tags", signal: opts.signal });
      let doc: { tags?: string[] | null };
      try {
        doc = await res.json();
      } catch (e) {
        throw new TransportError(`Cannot list the tags of ${this.display}: not JSON`, {
          cause: e,
        });
      }
      for (const t of doc.tags ?? []) yield t;
      const next = linkNext(res.headers.get("link"));
      if (!next || seen.has(next)) return;
      seen.add(next);
      path = next;
    }
  }

  /** Bytes of a small blob, checked against its digest (and size, when given). */
  async readBlobBytes(digest: string, size?: number, signal?: AbortSignal): Promise<Uint8Array> {
    const body = await this.getBlob(digest, { signal });
    const bytes = new Uint8Array(await new Response(body).arrayBuffer());
    const got = sha256Digest(bytes);
    if (got !== digest || (size !== undefined && bytes.byteLength !== size)) {
      throw new IntegrityError(
        `Cannot verify blob "${digest}" of ${this.display}: digest is "${got}", ${bytes.byteLength} bytes${
          size !== undefined ? ` (expected ${size})` : ""
        }`,
      );
    }
    return bytes;
  }
}

/** The bytes of a JSON value as Spack serialises manifests (compact). */
export function jsonBytes(text: string): Uint8Array {
  return enc.encode(text);
}
