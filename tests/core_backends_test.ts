/**
 * The core's test suite on both backends of `core/backend.ts` (native node:crypto/node:zlib,
 * and the WebAssembly core), under Deno, under Bun, and in Chromium (where only the WebAssembly
 * core exists): the same tests pass everywhere, but for those a browser cannot run.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT } from "./_fixtures.ts";
import { Browser, CHROMIUM } from "./_chromium.ts";
import type { CaseResult } from "./_core_suite.ts";

const BUN = join(REPO_ROOT, "node_modules/.bin/bun");
type Run = { runtime: string; backend: { sha256: string; gzip: string }; results: CaseResult[] };

async function suite(runtime: "deno" | "bun", backend: "native" | "wasm"): Promise<Run> {
  const cmd = runtime === "deno" ? Deno.execPath() : BUN;
  const p = await new Deno.Command(cmd, {
    args: [...(runtime === "deno" ? ["run", "-A"] : []), join(REPO_ROOT, "tests/_core_suite.ts")],
    env: { SPACKLE_CORE_BACKEND: backend },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(p.stdout);
  assert.equal(p.code, 0, new TextDecoder().decode(p.stderr));
  return JSON.parse(out.trim().split("\n").pop()!);
}

const outcome = (r: Run) => r.results.map((c) => `${c.module} ${c.name}: ${c.ok ? "ok" : c.error}`);

/**
 * What a browser cannot run, and why: local files (Deno's file API, digestFile, tar bodies from
 * paths) and SHA-1 (the DAG hash's, not part of the WebAssembly core).
 */
const BROWSER_CANNOT = /Deno\.makeTempDir|node:crypto\.createHash/;

Deno.test("the core suite passes on the native and the WebAssembly backends under Deno and Bun", async () => {
  const deno = await suite("deno", "native");
  const denoWasm = await suite("deno", "wasm");
  assert.deepEqual(deno.backend, { sha256: "native", gzip: "native" });
  assert.deepEqual(denoWasm.backend, { sha256: "wasm", gzip: "wasm" });
  assert.ok(deno.results.length >= 38, `${deno.results.length} tests`);
  assert.deepEqual(outcome(denoWasm), outcome(deno));
  assert.deepEqual(deno.results.filter((c) => !c.ok), []);
  const bun = await suite("bun", "native");
  const bunWasm = await suite("bun", "wasm");
  assert.equal(bun.runtime, "bun");
  assert.deepEqual(bunWasm.backend, { sha256: "wasm", gzip: "wasm" });
  assert.deepEqual(outcome(bunWasm), outcome(bun));
  assert.deepEqual(bun.results.filter((c) => !c.ok), []);
  // Bun runs every test Deno runs, but the ones about Deno's garbage collector hooks.
  assert.deepEqual(
    bun.results.map((c) => c.name),
    deno.results.filter((c) => c.module !== "memory_test.ts").map((c) => c.name),
  );
});

Deno.test({
  name:
    "the core suite in Chromium runs on the WebAssembly core; all pass but what needs local files or SHA-1",
  ignore: !CHROMIUM,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await mkdtemp(join(tmpdir(), "spackle-core-browser-"));
    const ac = new AbortController();
    const browser = await Browser.launch();
    try {
      const b = await new Deno.Command(BUN, {
        args: [
          join(REPO_ROOT, "scripts/build_web.ts"),
          join(REPO_ROOT, "tests/_core_suite_browser.ts"),
          join(dir, "suite.js"),
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(b.code, 0, new TextDecoder().decode(b.stderr));
      await writeFile(
        join(dir, "index.html"),
        `<!DOCTYPE html><meta charset="utf-8"><script type="module" src="suite.js"></script>`,
      );
      const server = Deno.serve(
        { port: 0, hostname: "127.0.0.1", signal: ac.signal, onListen() {} },
        async (req) => {
          const name = new URL(req.url).pathname === "/suite.js" ? "suite.js" : "index.html";
          return new Response(await readFile(join(dir, name)), {
            headers: { "content-type": name.endsWith(".js") ? "text/javascript" : "text/html" },
          });
        },
      );
      const page = await browser.newPage();
      await page.goto(`http://127.0.0.1:${server.addr.port}/`);
      await page.waitFor("globalThis.coreSuite || globalThis.coreSuiteError", 240_000);
      const run = await page.eval<Run & { error?: string }>(
        "globalThis.coreSuite ?? { error: globalThis.coreSuiteError }",
      );
      assert.equal(run.error, undefined);
      assert.deepEqual(run.backend, { sha256: "wasm", gzip: "wasm" });
      const deno = await suite("deno", "native");
      const portable = deno.results.filter((c) => c.module !== "memory_test.ts");
      assert.deepEqual(run.results.map((c) => c.name), portable.map((c) => c.name));
      const failed = run.results.filter((c) => !c.ok);
      assert.deepEqual(failed.filter((c) => !BROWSER_CANNOT.test(c.error ?? "")), []);
      const passed = run.results.filter((c) => c.ok).length;
      console.log(`Chromium: ${passed} of ${run.results.length} passed on the WebAssembly core`);
      assert.ok(passed >= 34, `${passed} passed`);
      assert.equal(failed.length, run.results.length - passed);
      for (
        const name of [
          /^sha256Hex\(\)/,
          /^verifyStream\(\) errors on a digest mismatch/,
          /^gzip round trip holds/,
          /^gunzipStream\(\) errors with IntegrityError on a bad CRC/,
          /^gunzipStream\(\) holds little output/,
        ]
      ) {
        assert.ok(run.results.some((c) => name.test(c.name) && c.ok), String(name));
      }
    } finally {
      ac.abort();
      await browser.close();
      await rm(dir, { recursive: true, force: true });
    }
  },
});

const HAVE_CLANG = (() => {
  try {
    return new Deno.Command("clang", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
})();

Deno.test({
  name:
    "wasm/build.sh rebuilds the committed WebAssembly modules (core, index scanner) byte for byte, offline",
  ignore: !HAVE_CLANG,
  fn: async () => {
    const p = await new Deno.Command("bash", {
      args: [join(REPO_ROOT, "wasm/build.sh"), "--check"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(p.code, 0, new TextDecoder().decode(p.stderr));
  },
});
