/**
 * The web view on a large mirror: writes a synthetic v3 mirror of N specs (default 2000,
 * scripts/gen_mirror.ts), times `spackle report` and measures the site's size, then opens it in
 * headless Chromium and measures the time to first render (first contentful paint) and to the
 * load event of the table of specs, from file:// and from `spackle serve`, and the time the
 * library takes in the browser (WebAssembly core) to open the mirror and list it on live.html;
 * and the WebAssembly core's sha256 and gunzip throughput in Chromium against the native backend
 * (Deno) and OpenSSL / gzip on the same bytes.
 *
 *   deno run -A scripts/bench_web.ts [N=2000]
 *
 * @module
 */
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { pathToFileURL } from "node:url";
import { Browser, type Page } from "../tests/_chromium.ts";
import { gzipBytes } from "../mod.ts";
import { coreThroughput } from "./_core_throughput.ts";

const n = Number(process.argv[2] ?? 2000);
const repo = new URL("..", import.meta.url).pathname;
const dir = await mkdtemp(join(tmpdir(), "spackle-bench-web-"));
const run = async (args: string[]) => {
  const p = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (p.code !== 0) throw new Error(new TextDecoder().decode(p.stderr));
  return new TextDecoder().decode(p.stdout);
};
async function size(path: string): Promise<{ bytes: number; files: number }> {
  let bytes = 0, files = 0;
  for (const e of await readdir(path, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) {
      bytes += (await stat(join(e.parentPath, e.name))).size;
      files++;
    }
  }
  return { bytes, files };
}
async function firstRender(page: Page, url: string) {
  await page.goto(url);
  return await page.eval<{ fcp: number; dcl: number; load: number; rows: number }>(
    `new Promise((resolve) => {
    const done = (fcp) => {
      const nav = performance.getEntriesByType("navigation")[0];
      resolve({ fcp, dcl: nav.domContentLoadedEventEnd, load: nav.loadEventEnd,
        rows: document.querySelectorAll("#specs tbody tr").length });
    };
    new PerformanceObserver((list) => {
      const e = list.getEntriesByName("first-contentful-paint")[0];
      if (e) done(e.startTime);
    }).observe({ type: "paint", buffered: true });
    setTimeout(() => done(-1), 10000);
  })`,
  );
}

try {
  const mirror = join(dir, "mirror");
  await run([join(repo, "scripts/gen_mirror.ts"), mirror, String(n)]);
  const site = join(dir, "site");
  let t0 = performance.now();
  await run([join(repo, "cli.ts"), "report", "-m", mirror, "-o", site]);
  const reportS = (performance.now() - t0) / 1000;
  const s = await size(site);
  const idx = (await stat(join(site, "index.html"))).size;
  console.log(
    `report of ${n} specs: ${reportS.toFixed(1)} s (with verify), ${s.files} files, ` +
      `${(s.bytes / 1e6).toFixed(1)} MB (index.html ${(idx / 1e6).toFixed(2)} MB)`,
  );
  const browser = await Browser.launch();
  try {
    const page = await browser.newPage();
    await page.viewport(1280, 900);
    const best = async (url: string) => {
      let b: Awaited<ReturnType<typeof firstRender>> | undefined;
      for (let i = 0; i < 3; i++) {
        const r = await firstRender(page, url);
        if (!b || r.fcp < b.fcp) b = r;
      }
      return b!;
    };
    const f = await best(pathToFileURL(join(site, "index.html")).href);
    console.log(
      `file:// index.html, ${f.rows} rows: first contentful paint ${f.fcp.toFixed(0)} ms, ` +
        `DOMContentLoaded ${f.dcl.toFixed(0)} ms, load ${f.load.toFixed(0)} ms (best of 3)`,
    );
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", join(repo, "cli.ts"), "serve", "--port", "0", "-m", mirror],
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    t0 = performance.now();
    while (!/http:\/\/\S+\//.test(text)) text += (await reader.read()).value ?? "";
    const startS = (performance.now() - t0) / 1000;
    const url = /http:\/\/\S+\//.exec(text)![0];
    try {
      const sv = await best(url);
      console.log(
        `serve (ready in ${startS.toFixed(1)} s): first contentful paint ${
          sv.fcp.toFixed(0)
        } ms, ` +
          `load ${sv.load.toFixed(0)} ms (best of 3)`,
      );
      let live = Infinity;
      for (let i = 0; i < 3; i++) {
        await page.goto(`${url}live.html?url=${encodeURIComponent(url + "mirror/0/")}`);
        await page.waitFor(`document.getElementById("live-out").dataset.specs`, 120_000);
        const line = await page.eval<string>(`document.querySelector("#live-out p").textContent`);
        live = Math.min(live, Number(/read in (\d+) ms/.exec(line)?.[1] ?? NaN));
      }
      console.log(
        `in the browser (WebAssembly core): layout detected, index read and ${n} specs listed in ${live} ms (best of 3)`,
      );
    } finally {
      child.kill("SIGTERM");
      reader.releaseLock();
      await child.stdout.cancel().catch(() => {});
      await child.status;
    }
    await wasmThroughput(browser);
  } finally {
    await browser.close();
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}

/** sha256 and gunzip: the WebAssembly core in Chromium, native in Deno, OpenSSL and gzip. */
async function wasmThroughput(browser: Browser) {
  const MB = 64;
  const data = new Uint8Array(MB << 20);
  const words = new TextEncoder().encode("spack /opt/spack/linux-x86_64/pkg-1.0-abc/lib libz.so ");
  for (let i = 0; i < data.length; i += 1 << 16) {
    if ((i >> 16) % 3 === 0) crypto.getRandomValues(data.subarray(i, i + (1 << 16)));
    else for (let j = i; j < i + (1 << 16); j++) data[j] = words[(j * 7) % words.length];
  }
  const gz = gzipBytes(data);
  const wdir = join(dir, "wasm");
  await Deno.mkdir(wdir);
  await Deno.writeFile(join(wdir, "data.bin"), data);
  await Deno.writeFile(join(wdir, "data.gz"), gz);
  const b = await new Deno.Command(join(repo, "node_modules/.bin/bun"), {
    args: [
      join(repo, "scripts/build_web.ts"),
      join(repo, "scripts/_bench_wasm_page.ts"),
      join(wdir, "bench.js"),
    ],
    stdout: "null",
  }).output();
  if (b.code !== 0) throw new Error("bundling the throughput page failed");
  await Deno.writeFile(
    join(wdir, "index.html"),
    new TextEncoder().encode(`<!DOCTYPE html><script type="module" src="bench.js"></script>`),
  );
  const ac = new AbortController();
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", signal: ac.signal, onListen() {} },
    async (req) => {
      const name = new URL(req.url).pathname.slice(1) || "index.html";
      if (!["index.html", "bench.js", "data.bin", "data.gz"].includes(name)) {
        return new Response(
          "",
          { status: 404 },
        );
      }
      return new Response(await Deno.readFile(join(wdir, name)), {
        headers: {
          "content-type": name.endsWith(".js")
            ? "text/javascript"
            : name.endsWith(".html")
            ? "text/html"
            : "application/octet-stream",
        },
      });
    },
  );
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${server.addr.port}/`);
  await page.waitFor("globalThis.wasmBench", 600_000);
  const w = await page.eval<{ backend: unknown; sha256: number; gunzip: number }>(
    "globalThis.wasmBench",
  );
  ac.abort();
  // Native, in this Deno process, same bytes, same 1 MiB chunks, best of 3.
  const { sha256: nsha, gunzip: ngz } = await coreThroughput(data, gz);
  const tool = async (cmd: string, args: string[]) => {
    let best = Infinity;
    for (let run = 0; run < 3; run++) {
      const t0 = performance.now();
      await new Deno.Command(cmd, { args, stdout: "null" }).output();
      best = Math.min(best, (performance.now() - t0) / 1000);
    }
    return data.length / 1e6 / best;
  };
  const ssl = await tool("openssl", ["dgst", "-sha256", join(wdir, "data.bin")]);
  const gzd = await tool("gzip", ["-dc", join(wdir, "data.gz")]);
  const f = (x: number) => x.toFixed(0).padStart(5);
  console.log(`${MB} MiB (a third random, the rest text), MB/s (10^6 bytes), best of 3:`);
  console.log(
    `sha256  WebAssembly in Chromium ${f(w.sha256)}   native (Deno) ${f(nsha)}   openssl dgst ${
      f(ssl)
    }   ` +
      `wasm/native ${(w.sha256 / nsha).toFixed(2)}  wasm/openssl ${(w.sha256 / ssl).toFixed(2)}`,
  );
  console.log(
    `gunzip  WebAssembly in Chromium ${f(w.gunzip)}   native (Deno) ${f(ngz)}   gzip -dc     ${
      f(gzd)
    }   ` +
      `wasm/native ${(w.gunzip / ngz).toFixed(2)}  wasm/gzip ${(w.gunzip / gzd).toFixed(2)}`,
  );
}
