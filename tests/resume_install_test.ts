/**
 * A real local HTTP server that drops the connection once in the middle of each tarball blob:
 * `spackle install` from it succeeds (the bodies are resumed with Range requests) and says on
 * stderr that it is retrying.
 */
import assert from "node:assert/strict";
import { createReadStream, existsSync, rmSync } from "node:fs";
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { fixture, HAVE_FIXTURES, REPO_ROOT } from "./_fixtures.ts";
import { startServer } from "./_http_server.ts";

Deno.test({
  name:
    "install from a server that drops the connection once mid-blob succeeds, reporting the retry",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const root = fixture("v3-unsigned");
    const cut = new Set<string>();
    const s = await startServer(async (req, res) => {
      const path = decodeURIComponent(new URL(req.url!, "http://x").pathname);
      const file = join(root, path);
      const st = await stat(file).catch(() => undefined);
      if (path.includes("..") || !st?.isFile()) {
        res.writeHead(404).end();
        return;
      }
      const etag = `"${st.size}-${Math.round(st.mtimeMs)}"`;
      const range = /^bytes=(\d+)-$/.exec(String(req.headers.range ?? ""));
      if (range && req.headers["if-range"] === etag) {
        const from = Number(range[1]);
        res.writeHead(206, {
          etag,
          "content-length": String(st.size - from),
          "content-range": `bytes ${from}-${st.size - 1}/${st.size}`,
        });
        createReadStream(file, { start: from }).pipe(res);
        return;
      }
      res.writeHead(200, { etag, "content-length": String(st.size), "accept-ranges": "bytes" });
      if (req.method === "HEAD") {
        res.end();
        return;
      }
      if (path.startsWith("/blobs/") && st.size > 1000 && !cut.has(path)) {
        // Half the body, then the connection is dropped.
        cut.add(path);
        const half = Math.floor(st.size / 2);
        createReadStream(file, { end: half - 1 }).on("data", (c) => res.write(c)).on(
          "end",
          () => setTimeout(() => req.socket.destroy(), 20),
        );
        return;
      }
      createReadStream(file).pipe(res);
    });
    const base = await Deno.makeTempDir({ prefix: "sp-resume-" });
    try {
      const p = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          join(REPO_ROOT, "cli.ts"),
          "install",
          "-m",
          s.url,
          "--root",
          join(base, "tree"),
          "--allow-unsigned",
          "fooapp",
        ],
        env: { NO_COLOR: "1", NO_PROXY: "127.0.0.1", no_proxy: "127.0.0.1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const err = new TextDecoder().decode(p.stderr);
      assert.equal(p.code, 0, err);
      assert.ok(cut.size >= 1, "some blob was cut");
      assert.match(err, /retrying in \d+(\.\d)? m?s: /);
      const ranges = s.requests.filter((r) => r.headers.range);
      assert.ok(ranges.length >= cut.size, `${ranges.length} range requests, ${cut.size} cuts`);
      assert.ok(existsSync(join(base, "tree", ".spack-db", "index.json")));
    } finally {
      await s.close();
      rmSync(base, { recursive: true, force: true });
    }
  },
});

Deno.test("a server that never answers costs bounded time and each retry is reported", async () => {
  const s = await startServer(() => {/* never answers */});
  try {
    const t0 = performance.now();
    const p = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        join(REPO_ROOT, "cli.ts"),
        "--connect-timeout",
        "1",
        "list",
        "-m",
        s.url,
      ],
      env: { NO_COLOR: "1", NO_PROXY: "127.0.0.1", no_proxy: "127.0.0.1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const secs = (performance.now() - t0) / 1000;
    const err = new TextDecoder().decode(p.stderr);
    assert.notEqual(p.code, 0);
    const retries = err.match(/retrying in \d+(\.\d)? m?s: .*No response within 1000 ms/g) ?? [];
    assert.ok(retries.length >= 1, err);
    assert.match(err, /No response within 1000 ms/);
    assert.ok(secs < 30, `${secs} s`);
  } finally {
    await s.close();
  }
});
