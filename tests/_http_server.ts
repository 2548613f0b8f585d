/**
 * Small in-process HTTP servers and a forward proxy for the network store tests.
 *
 * @module
 */
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { createServer, type IncomingMessage, request, type ServerResponse } from "node:http";
import { type AddressInfo, connect, type Socket } from "node:net";
import { join } from "node:path";

/** A running server: its base URL, the requests it saw, and a way to stop it. */
export interface TestServer {
  url: string;
  requests: { method: string; url: string; headers: Record<string, unknown> }[];
  close(): Promise<void>;
}

/** Starts a server on a free loopback port with `handler` answering every request. */
export async function startServer(
  handler: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>,
): Promise<TestServer> {
  const requests: TestServer["requests"] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    requests.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers });
    Promise.resolve(handler(req, res)).catch((e) => {
      res.statusCode = 500;
      res.end(String(e));
    });
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/`,
    requests,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** A static file server over `root` (GET and HEAD; 404 for absent files; 405 for others). */
export function serveDir(
  root: string,
  opts: { refuseHead?: boolean } = {},
): Promise<TestServer> {
  return startServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url!, "http://x").pathname);
    if (req.method !== "GET" && req.method !== "HEAD" || opts.refuseHead && req.method === "HEAD") {
      res.writeHead(405).end();
      return;
    }
    if (path.split("/").includes("..")) {
      res.writeHead(400).end();
      return;
    }
    const file = join(root, path);
    const st = await stat(file).catch(() => undefined);
    if (!st?.isFile()) {
      res.writeHead(404, { "content-type": "text/html" }).end("<html>not found</html>");
      return;
    }
    res.writeHead(200, {
      "content-length": String(st.size),
      "content-type": "application/octet-stream",
      etag: `"${st.size}-${st.mtimeMs}"`,
    });
    if (req.method === "HEAD") res.end();
    else createReadStream(file).pipe(res);
  });
}

/**
 * A forward proxy: plain http requests in absolute form are relayed, CONNECT opens a tunnel.
 * `seen` records "CONNECT host:port" or "GET http://...".
 */
export async function startProxy(): Promise<TestServer & { seen: string[]; auth: string[] }> {
  const seen: string[] = [];
  const auth: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    if (req.headers["proxy-authorization"]) auth.push(String(req.headers["proxy-authorization"]));
    const target = new URL(req.url!);
    const up = request({
      host: target.hostname,
      port: target.port,
      method: req.method,
      path: target.pathname + target.search,
      headers: { ...req.headers, host: target.host },
    }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      ur.pipe(res);
    });
    up.on("error", () => res.writeHead(502).end());
    req.pipe(up);
  });
  server.on("connect", (req, client: Socket, head) => {
    seen.push(`CONNECT ${req.url}`);
    if (req.headers["proxy-authorization"]) auth.push(String(req.headers["proxy-authorization"]));
    const [host, port] = req.url!.split(":");
    const up = connect(Number(port), host, () => {
      client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      up.write(head);
      up.pipe(client);
      client.pipe(up);
    });
    sockets.add(up);
    up.on("error", () => client.destroy());
    client.on("error", () => up.destroy());
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/`,
    requests: [],
    seen,
    auth,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
