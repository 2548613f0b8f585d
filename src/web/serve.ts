/**
 * `serve`: the web view over HTTP, read-only. It answers the pages of `site.ts` (rendered from
 * data read once at start), its two assets, the mirrors' own objects under `/mirror/N/PATH`,
 * and `verify.html`, which re-checks an entry (or the whole mirror) and streams its progress
 * and result as HTML while it runs (no script needed).
 *
 * Only GET and HEAD are answered; a path with `.`/`..` segments, backslashes or NUL is refused;
 * nothing else is served (no directory listings, no files outside the mirrors' stores).
 * Every answer carries the strict Content-Security-Policy; mirror objects are also sandboxed.
 *
 * @module
 */
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { errorMessage } from "../errors.ts";
import type { MirrorSet } from "../layout/mod.ts";
import type { VerifyReport } from "../mirror/verify.ts";
import { checkStorePath } from "../storage/path.ts";
import { escapeXml as esc } from "./graph.ts";
import {
  browserScript,
  contentTypeOf,
  humanBytes,
  keysJson,
  renderIndex,
  renderLive,
  renderMirror,
  type RenderOptions,
  renderSpec,
  type SiteData,
  WEB_CSP,
} from "./site.ts";
import { APP_CSS, APP_JS } from "./assets.ts";

/** Options of `serveSite`. */
export interface ServeOptions {
  data: SiteData;
  mirrors: MirrorSet;
  /** Address to bind (default 127.0.0.1). */
  host?: string;
  /** Port (default 8765; 0 picks a free one). */
  port?: number;
  /** Checks a whole mirror (`verifyMirror` with the caller's keys), reporting progress. */
  verifyMirror?: (
    index: number,
    onProgress: (p: { done: number; total: number; bytes: number }) => void,
    signal: AbortSignal,
  ) => Promise<VerifyReport>;
}

/** A running server. */
export interface RunningServer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

const HEADERS = {
  "Content-Security-Policy": WEB_CSP,
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "X-Frame-Options": "DENY",
  "Cross-Origin-Resource-Policy": "same-origin",
};

const HASH = /^[a-z2-7]{32}$/;

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** The path segments of a request target, decoded; refuses traversal and odd bytes. */
export function requestSegments(rawUrl: string): { segments: string[]; query: URLSearchParams } {
  const q = rawUrl.indexOf("?");
  const rawPath = q < 0 ? rawUrl : rawUrl.slice(0, q);
  if (!rawPath.startsWith("/")) throw new HttpError(400, "the request path must start with /");
  const segments = rawPath.slice(1).split("/").map((s) => {
    let d: string;
    try {
      d = decodeURIComponent(s);
    } catch {
      throw new HttpError(400, "the request path is not valid percent-encoding");
    }
    if (d === "." || d === ".." || /[\\\0]/.test(d) || d.includes("/")) {
      throw new HttpError(400, "path traversal refused");
    }
    return d;
  });
  return { segments, query: new URLSearchParams(q < 0 ? "" : rawUrl.slice(q + 1)) };
}

/** What every request of one server reads: the options, the rendering, the running checks. */
interface Site {
  opts: ServeOptions;
  render: RenderOptions;
  browserJs: string | undefined;
  byHash: Map<string, SiteData["specs"][number]>;
  /** The verifications under way, aborted when the server closes. */
  running: Set<AbortController>;
}

/** Starts the server; resolves once it listens. */
export async function serveSite(opts: ServeOptions): Promise<RunningServer> {
  const host = opts.host ?? "127.0.0.1";
  const site: Site = {
    opts,
    render: {
      live: true,
      objectHref: (i, path) => `mirror/${i}/${path.split("/").map(encodeURIComponent).join("/")}`,
      mirrorRoot: (i) => `mirror/${i}/`,
    },
    browserJs: await browserScript(),
    byHash: new Map(opts.data.specs.map((s) => [s.hash, s])),
    running: new Set<AbortController>(),
  };
  // node:http is loaded here: evaluating it when the library is imported costs every command.
  const { createServer } = await import("node:http");
  const server = createServer((req, res) => {
    handle(site, req, res).catch((e) => sendError(req, res, e));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 8765, host, () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : opts.port;
  const shown = host.includes(":") ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}/`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        for (const ac of site.running) ac.abort();
        server.close(() => resolve());
        server.closeAllConnections?.();
      }),
  };
}

/** Answers one request (an HttpError thrown says which error to answer). */
async function handle(site: Site, req: IncomingMessage, res: ServerResponse) {
  const { opts, render, browserJs, byHash } = site;
  if (req.method !== "GET" && req.method !== "HEAD") {
    throw new HttpError(405, "read-only: only GET and HEAD are answered");
  }
  const { segments, query } = requestSegments(req.url ?? "/");
  const path = segments.join("/");
  const send = (body: string, type = contentTypeOf(path || "index.html")) => {
    const bytes = new TextEncoder().encode(body);
    res.writeHead(200, {
      ...HEADERS,
      "Content-Type": type,
      "Content-Length": String(bytes.byteLength),
      "Cache-Control": "no-cache",
    });
    res.end(req.method === "HEAD" ? undefined : bytes);
  };
  if (path === "" || path === "index.html") return send(renderIndex(opts.data, render));
  if (path === "mirror.html") return send(renderMirror(opts.data, render));
  if (path === "assets/app.css") return send(APP_CSS);
  if (path === "assets/app.js") return send(APP_JS);
  if (path === "assets/browser.js" && browserJs) return send(browserJs);
  if (path === "assets/keys.json") return send(keysJson(opts.data));
  if (path === "live.html") return send(renderLive(opts.data, render));
  if (segments.length === 2 && segments[0] === "spec" && segments[1].endsWith(".html")) {
    const s = byHash.get(segments[1].slice(0, -5));
    if (s) return send(renderSpec(opts.data, s, render));
  }
  if (segments[0] === "mirror" && segments.length >= 3) {
    return await sendMirrorObject(opts.mirrors, req, res, segments);
  }
  if (path === "verify.html") return await verifyPage(site, req, res, query.get("spec"));
  throw new HttpError(404, "not found");
}

/** Answers `/mirror/N/PATH` with the object PATH of mirror N, sandboxed. */
async function sendMirrorObject(
  mirrors: MirrorSet,
  req: IncomingMessage,
  res: ServerResponse,
  segments: string[],
) {
  const m = mirrors.mirrors[Number(segments[1])];
  if (!m || !/^\d+$/.test(segments[1])) throw new HttpError(404, "no such mirror");
  const objectPath = segments.slice(2).join("/");
  try {
    checkStorePath(objectPath);
  } catch {
    throw new HttpError(400, "path traversal refused");
  }
  const st = await m.store.stat(objectPath);
  if (!st) throw new HttpError(404, "not in the mirror");
  res.writeHead(200, {
    ...HEADERS,
    // A mirror object is data, never a page: sandboxed, and not sniffed.
    "Content-Security-Policy": `sandbox; ${WEB_CSP}`,
    "Content-Type": "application/octet-stream",
    "Content-Length": String(st.size),
  });
  if (req.method === "HEAD") return res.end();
  for await (const chunk of await m.store.read(objectPath)) {
    if (!res.write(chunk)) await new Promise((r) => res.once("drain", r));
  }
  return res.end();
}

/** Answers with a plain-text error, or ends an answer already under way. */
function sendError(req: IncomingMessage, res: ServerResponse, e: unknown) {
  const status = e instanceof HttpError ? e.status : 500;
  const msg = e instanceof HttpError ? e.message : errorMessage(e);
  if (res.headersSent) {
    res.end();
    return;
  }
  const body = `${status} ${msg}\n`;
  res.writeHead(status, {
    ...HEADERS,
    "Content-Type": "text/plain; charset=utf-8",
    "Content-Length": String(new TextEncoder().encode(body).byteLength),
  });
  res.end(req.method === "HEAD" ? undefined : body);
}

/** `verify.html`: checks one entry (`spec`) or every mirror, streaming the progress as HTML. */
async function verifyPage(
  site: Site,
  req: IncomingMessage,
  res: ServerResponse,
  spec: string | null,
) {
  if (spec !== null && (!HASH.test(spec) || !site.byHash.has(spec))) {
    throw new HttpError(404, "no such spec in the mirrors");
  }
  const s = spec ? site.byHash.get(spec)! : undefined;
  res.writeHead(200, {
    ...HEADERS,
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "X-Accel-Buffering": "no",
  });
  if (req.method === "HEAD") return res.end();
  const ac = new AbortController();
  site.running.add(ac);
  res.on("close", () => ac.abort());
  const write = (html: string) => {
    if (!res.writableEnded) res.write(html + "\n");
  };
  const title = s ? `Verify ${s.name}@${s.version}/${s.hash.slice(0, 7)}` : "Verify the mirror";
  write(`<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${WEB_CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title><link rel="stylesheet" href="assets/app.css"></head>
<body><header><nav aria-label="site"><a href="index.html">Specs</a> <a href="mirror.html">Mirror</a>${
    s ? ` <a href="spec/${s.hash}.html">${esc(s.name)}@${esc(s.version)}</a>` : ""
  }</nav></header><main id="main"><h1>${
    esc(title)
  }</h1><div id="progress" role="log" aria-live="polite">`);
  try {
    if (s) await verifyEntry(site.opts.mirrors, s.hash, write, ac.signal);
    else await verifyAll(site.opts, write, ac.signal);
  } catch (e) {
    if (!ac.signal.aborted) {
      write(
        `</div><p class="verify-result sig bad" id="result" data-result="error">failed: ${
          esc(errorMessage(e))
        }</p>`,
      );
    }
  } finally {
    site.running.delete(ac);
  }
  write("</main></body></html>");
  res.end();
}

/** Checks one entry: its metadata's signature, its spec blob, its tarball's checksum. */
async function verifyEntry(
  mirrors: MirrorSet,
  hash: string,
  write: (h: string) => void,
  signal: AbortSignal,
) {
  write(`<p>reading the metadata…</p>`);
  const e = await mirrors.entry(hash, { requireSignature: false, signal });
  write(
    `<p>metadata <code>${esc(e.metadataPath)}</code>: ${
      e.signedBy
        ? `<span class="sig ok">signature verified</span> (key <code>${esc(e.signedBy)}</code>)`
        : e.signed
        ? `<span class="sig warn">signed, NOT verified</span>${
          e.signatureError ? `: ${esc(e.signatureError)}` : ""
        }`
        : '<span class="sig none">unsigned</span>'
    }</p>`,
  );
  if (e.specBlob) {
    write(
      `<p>spec blob <code>${
        esc(e.specBlob.path)
      }</code>: size and sha256 match <span class="sig ok">ok</span></p>`,
    );
  }
  write(
    `<p>tarball <code>${esc(e.tarballPath)}</code>, ${e.tarball.size} bytes, sha256:${
      esc(e.tarball.checksum)
    }</p>`,
  );
  let bytes = 0, shown = 0;
  for await (const chunk of await e.openTarball({ signal })) {
    bytes += chunk.byteLength;
    if (bytes - shown >= 4 << 20) {
      shown = bytes;
      write(`<p class="muted">${humanBytes(bytes)} of ${humanBytes(e.tarball.size)}</p>`);
    }
  }
  write(
    `</div><p class="verify-result sig ok" id="result" data-result="ok">verified: the tarball's ${bytes} bytes have the sha256 the manifest names</p>`,
  );
}

/** Checks every mirror with `opts.verifyMirror`, listing its findings. */
async function verifyAll(opts: ServeOptions, write: (h: string) => void, signal: AbortSignal) {
  if (!opts.verifyMirror) throw new Error("verification is not available here");
  let problems = 0;
  for (let i = 0; i < opts.mirrors.mirrors.length; i++) {
    const m = opts.mirrors.mirrors[i];
    write(`<p>mirror <code>${esc(m.name ?? m.url)}</code></p>`);
    let last = -1;
    const report = await opts.verifyMirror(i, ({ done, total, bytes }) => {
      if (done === total || done - last >= Math.max(1, Math.floor(total / 20))) {
        last = done;
        write(`<p class="muted">${done} of ${total} entries, ${humanBytes(bytes)}</p>`);
      }
    }, signal);
    for (const f of report.findings) {
      if (f.kind !== "notice") problems++;
      write(
        `<p class="k-${esc(f.kind)}"><strong>${esc(f.kind)}</strong> <code>${esc(f.code)}</code> ${
          esc(f.message)
        }</p>`,
      );
    }
  }
  write(
    problems
      ? `</div><p class="verify-result sig bad" id="result" data-result="problems">${problems} problem(s) found</p>`
      : `</div><p class="verify-result sig ok" id="result" data-result="ok">no problems found</p>`,
  );
}
