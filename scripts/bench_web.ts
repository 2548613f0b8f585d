/**
 * The web view on a large mirror: writes a synthetic v3 mirror of N specs (default 2000,
 * scripts/gen_mirror.ts), times `spackle report` and measures the site's size, then opens it in
 * headless Chromium and measures the time to first render (first contentful paint) and to the
 * load event of the table of specs, from file:// and from `spackle serve`, and the time the
 * library takes in the browser (WebAssembly core) to open the mirror and list it on live.html.
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
  } finally {
    await browser.close();
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
