/**
 * The HTTP client every network backend uses: a `fetch` with a custom CA bundle, proxies from
 * `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` (also when a custom CA is in use), a connect timeout
 * (until the response headers arrive) and a read timeout (longest pause between body chunks).
 *
 * Network failures and timeouts become temporary `TransportError`s; HTTP statuses are left to
 * the caller (`statusError` maps them).
 *
 * @module
 */
import { readFileSync } from "node:fs";
import process from "node:process";
import { NotFoundError, TransportError, UsageError } from "../errors.ts";
import { builtinOnFirstUse } from "../core/lazy_require.ts";

/** Settings of the HTTP client. */
export interface HttpOptions {
  /** A PEM file of CA certificates trusted in addition to the system ones. Default: `SSL_CERT_FILE`. */
  caFile?: string;
  /** PEM text of CA certificates trusted in addition to the system ones. */
  caCerts?: string[];
  /**
   * The proxy for every request (`http://host:port`), `false` for none. Default: from
   * `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY` and `NO_PROXY` (either case). Deno and Bun apply
   * the process's own proxy variables to every connection without a proxy of its own, so
   * `false` (or a `noProxy` that is wider than the process's `NO_PROXY`) cannot turn off a
   * proxy that the process environment sets.
   */
  proxy?: string | false;
  /** Hosts that bypass the proxy, as in `NO_PROXY`. Default: the `NO_PROXY` variable. */
  noProxy?: string;
  /** Milliseconds to wait for the response headers (connecting included). Default 30000; 0 = none. */
  connectTimeoutMs?: number;
  /** Longest pause in milliseconds between two chunks of a body. Default 60000; 0 = none. */
  readTimeoutMs?: number;
  /** The `User-Agent` header sent when the caller sets none. */
  userAgent?: string;
  /** The environment proxies and `SSL_CERT_FILE` are read from. Default: the process's. */
  env?: Record<string, string | undefined>;
  /** The underlying fetch. Default: the runtime's. */
  fetch?: typeof fetch;
}

/** Default connect timeout (ms). */
export const DEFAULT_CONNECT_TIMEOUT_MS = 30_000;
/** Default read timeout (ms). */
export const DEFAULT_READ_TIMEOUT_MS = 60_000;

function envGet(env: Record<string, string | undefined>, name: string): string | undefined {
  const v = env[name] ?? env[name.toLowerCase()] ?? env[name.toUpperCase()];
  return v === undefined || v.trim() === "" ? undefined : v.trim();
}

/** True when `host` (and `port`) match an entry of a `NO_PROXY` list. */
export function bypassesProxy(url: URL, noProxy: string | undefined): boolean {
  if (!noProxy) return false;
  const host = url.hostname.replace(/^\[|\]$/g, "").toLowerCase();
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  for (let entry of noProxy.split(/[,\s]+/)) {
    entry = entry.trim().toLowerCase();
    if (!entry) continue;
    if (entry === "*") return true;
    let entryPort: string | undefined;
    const m = /^(.*):(\d+)$/.exec(entry);
    if (m && !entry.startsWith("[") && m[1].includes(":") === false) {
      entry = m[1];
      entryPort = m[2];
    } else if (/^\[.*\]:\d+$/.test(entry)) {
      entryPort = entry.slice(entry.lastIndexOf(":") + 1);
      entry = entry.slice(0, entry.lastIndexOf(":"));
    }
    entry = entry.replace(/^\[|\]$/g, "");
    if (entryPort && entryPort !== port) continue;
    if (entry.startsWith("*.")) entry = entry.slice(1);
    if (entry.startsWith(".")) {
      if (host.endsWith(entry) || host === entry.slice(1)) return true;
    } else if (host === entry || host.endsWith("." + entry)) return true;
    else if (entry.includes("/") && cidrContains(entry, host)) return true;
  }
  return false;
}

function cidrContains(cidr: string, host: string): boolean {
  const [net, bitsText] = cidr.split("/");
  const bits = Number(bitsText);
  const a = ipv4(net), b = ipv4(host);
  if (a === undefined || b === undefined || !(bits >= 0 && bits <= 32)) return false;
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return ((a & mask) >>> 0) === ((b & mask) >>> 0);
}

function ipv4(s: string): number | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (!m) return undefined;
  const p = m.slice(1).map(Number);
  if (p.some((x) => x > 255)) return undefined;
  return ((p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3]) >>> 0;
}

/**
 * The proxy URL to use for `url`, or undefined for a direct connection: `opts.proxy` when set,
 * else `HTTPS_PROXY` (https) or `HTTP_PROXY` (http), then `ALL_PROXY`, unless `NO_PROXY`
 * matches the host.
 */
export function proxyFor(
  url: URL,
  opts: Pick<HttpOptions, "proxy" | "noProxy" | "env"> = {},
): string | undefined {
  if (opts.proxy === false) return undefined;
  const env = opts.env ?? process.env;
  const noProxy = opts.noProxy ?? envGet(env, "NO_PROXY");
  if (bypassesProxy(url, noProxy)) return undefined;
  if (opts.proxy) return opts.proxy;
  const p = url.protocol === "https:"
    ? envGet(env, "HTTPS_PROXY") ?? envGet(env, "ALL_PROXY")
    : url.protocol === "http:"
    ? envGet(env, "HTTP_PROXY") ?? envGet(env, "ALL_PROXY")
    : undefined;
  if (!p) return undefined;
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(p) ? p : `http://${p}`;
}

/** Reads the CA bundle named by `opts.caFile` (or `SSL_CERT_FILE`) plus `opts.caCerts`. */
export function loadCaCerts(opts: Pick<HttpOptions, "caFile" | "caCerts" | "env">): string[] {
  const env = opts.env ?? process.env;
  const file = opts.caFile ?? envGet(env, "SSL_CERT_FILE");
  const certs = [...(opts.caCerts ?? [])];
  if (file) {
    let pem: string;
    try {
      pem = readFileSync(file, "utf8");
    } catch (e) {
      throw new UsageError(
        `Cannot read the CA bundle "${file}": ${(e as Error).message}`,
        { cause: e },
      );
    }
    if (!pem.includes("-----BEGIN CERTIFICATE-----")) {
      throw new UsageError(`The CA bundle "${file}" holds no PEM certificate`);
    }
    certs.push(pem);
  }
  return certs;
}

type AnyClient = { close(): void };

/**
 * A `fetch` with the given CA bundle, proxy, timeouts and user agent. Network errors and
 * timeouts reject with a temporary `TransportError`; an abort by the caller's signal rejects
 * with the signal's reason.
 */
export function makeFetch(opts: HttpOptions = {}): typeof fetch {
  const base = opts.fetch ?? globalThis.fetch.bind(globalThis);
  const caCerts = loadCaCerts(opts);
  const connectMs = opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const readMs = opts.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS;
  const custom = opts.fetch === undefined;
  const isDeno = "Deno" in globalThis;
  const isBun = !isDeno && "Bun" in globalThis;
  const clients = new Map<string, AnyClient>();
  let bunCa: string[] | undefined;

  /** Runtime-specific init fields that carry CA certs and the proxy. */
  function runtimeInit(url: URL): Record<string, unknown> {
    if (!custom) return {};
    const proxy = proxyFor(url, opts);
    // Without a custom CA and with the proxy the runtime itself would choose, its own fetch
    // is right as is; a custom client is needed only for a CA bundle or an explicit proxy.
    if (caCerts.length === 0 && opts.proxy === undefined && opts.noProxy === undefined) {
      return {};
    }
    if (isDeno) {
      const key = proxy ?? "";
      let client = clients.get(key);
      if (!client) {
        const D = (globalThis as any).Deno;
        const o: Record<string, unknown> = {};
        if (caCerts.length) o.caCerts = caCerts;
        if (proxy) o.proxy = denoProxy(proxy);
        client = D.createHttpClient(o) as AnyClient;
        clients.set(key, client);
      }
      return { client };
    }
    if (isBun) {
      const o: Record<string, unknown> = {};
      if (caCerts.length) {
        o.tls = { ca: bunCa ??= [...bunRootCertificates(), ...caCerts] };
      }
      if (proxy) o.proxy = proxy;
      return o;
    }
    return {};
  }

  const f = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const callerSignal = init?.signal ?? (input instanceof Request ? input.signal : undefined);
    callerSignal?.throwIfAborted();
    const ctrl = new AbortController();
    const onAbort = () => ctrl.abort(callerSignal!.reason);
    callerSignal?.addEventListener("abort", onAbort, { once: true });
    let timedOut: string | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const arm = (ms: number, what: string) => {
      clearTimeout(timer);
      if (ms > 0) {
        timer = setTimeout(() => {
          timedOut = what;
          ctrl.abort(new TransportError(`${what} for ${redact(url)}`, { temporary: true }));
        }, ms);
      }
    };
    const cleanup = () => {
      clearTimeout(timer);
      callerSignal?.removeEventListener("abort", onAbort);
    };
    const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : {}));
    if (opts.userAgent && !headers.has("user-agent")) headers.set("user-agent", opts.userAgent);
    arm(connectMs, `No response within ${connectMs} ms`);
    let res: Response;
    try {
      res = await base(input, {
        ...init,
        headers,
        signal: ctrl.signal,
        ...runtimeInit(url),
      } as RequestInit);
    } catch (e) {
      cleanup();
      if (callerSignal?.aborted && !timedOut) throw callerSignal.reason;
      if (timedOut) throw ctrl.signal.reason;
      throw networkError(e, url);
    }
    if (!res.body) {
      cleanup();
      return res;
    }
    arm(readMs, `No data for ${readMs} ms reading the body`);
    const reader = res.body.getReader();
    const body = new ReadableStream<Uint8Array>({
      async pull(c) {
        try {
          const { value, done } = await reader.read();
          if (done) {
            cleanup();
            c.close();
            return;
          }
          arm(readMs, `No data for ${readMs} ms reading the body`);
          c.enqueue(value);
        } catch (e) {
          cleanup();
          if (callerSignal?.aborted && !timedOut) c.error(callerSignal.reason);
          else if (timedOut) c.error(ctrl.signal.reason);
          else c.error(networkError(e, url));
        }
      },
      cancel(reason) {
        cleanup();
        return reader.cancel(reason);
      },
    }, { highWaterMark: 0 });
    const out = new Response(body, {
      status: res.status,
      statusText: res.statusText,
      headers: res.headers,
    });
    Object.defineProperty(out, "url", { value: res.url });
    Object.defineProperty(out, "redirected", { value: res.redirected });
    return out;
  };
  return f as typeof fetch;
}

/**
 * Under Bun a `tls.ca` replaces the default roots, so they are passed along with the extra CAs.
 * `node:tls` is loaded here, on first use: evaluating it costs every command's startup.
 */
function bunRootCertificates(): readonly string[] {
  return tls().rootCertificates;
}
const tls = builtinOnFirstUse<typeof import("node:tls")>("node:tls");

/** Deno's proxy setting for a proxy URL: credentials in the URL become basic auth. */
export function denoProxy(
  proxy: string,
): { url: string; basicAuth?: { username: string; password: string } } {
  const u = new URL(proxy);
  if (!u.username && !u.password) return { url: proxy };
  const basicAuth = {
    username: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
  };
  u.username = "";
  u.password = "";
  return { url: u.href, basicAuth };
}

/** The URL without user info or query (for messages). */
export function redact(url: URL): string {
  const u = new URL(url.href);
  u.username = "";
  u.password = "";
  u.search = "";
  return u.href;
}

function networkError(e: unknown, url: URL): TransportError {
  if (e instanceof TransportError) return e;
  const msg = (e as Error)?.message ?? String(e);
  const cause = (e as any)?.cause?.message ? `: ${(e as any).cause.message}` : "";
  const tls = /certificate|UnknownIssuer|self.signed|TLS|SSL/i.test(msg + cause);
  return new TransportError(
    `Cannot reach ${redact(url)}: ${msg}${cause}` +
      (tls
        ? " (if a proxy or the site uses a private CA, pass its certificates with --ca-file or SSL_CERT_FILE)"
        : ""),
    // A certificate problem does not go away by retrying.
    { cause: e, temporary: !tls },
  );
}

/**
 * The error for a response that is not 2xx: NotFoundError for 404 (and 410), a temporary
 * TransportError for 408, 429 and 5xx (with `retryAfterMs` when the server sent
 * `Retry-After`), a permanent TransportError otherwise.
 */
export function statusError(
  res: Response,
  url: URL,
  what = "read",
): NotFoundError | TransportError {
  const where = redact(url);
  if (res.status === 404 || res.status === 410) {
    return new NotFoundError(
      `Cannot ${what} ${where}: HTTP ${res.status} ${res.statusText}`.trim(),
    );
  }
  const temporary = res.status === 408 || res.status === 429 || res.status >= 500;
  const hint = res.status === 401 || res.status === 403 ? " (access denied)" : "";
  const err = new TransportError(
    `Cannot ${what} ${where}: HTTP ${res.status} ${res.statusText}${hint}`.replace(/ +$/, ""),
    { status: res.status, temporary },
  );
  const after = temporary ? retryAfterMs(res.headers.get("retry-after")) : undefined;
  return after === undefined ? err : Object.assign(err, { retryAfterMs: after });
}

/** Milliseconds a `Retry-After` header (seconds or an HTTP date) asks to wait, if any. */
export function retryAfterMs(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === "") return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}
