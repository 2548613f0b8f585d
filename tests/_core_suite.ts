/**
 * The core's unit tests (`src/core/*_test.ts`) run outside `deno test`: under Deno or Bun as a
 * script, or bundled into a page in a browser. `Deno.test` is replaced by a collector, each
 * test module is imported and its tests run one after another; the results say which backend
 * (`core/backend.ts`) ran them, so that the native and WebAssembly runs can be compared.
 *
 * @module
 */
import { BACKEND } from "../src/core/backend.ts";

/** One test's outcome. */
export interface CaseResult {
  module: string;
  name: string;
  ok: boolean;
  ignored?: boolean;
  error?: string;
}

/** Modules whose tests are about the runtime (Deno's garbage collector hooks), not the core. */
export const DENO_ONLY = ["memory_test.ts"];

/** The file-system calls of Deno's the core tests use, on `node:fs/promises` (Bun). */
async function denoFsShim(d: Record<string, unknown>): Promise<void> {
  if (typeof d.makeTempDir === "function") return;
  const name = ["node", "fs/promises"].join(":");
  const fs = await import(name).catch(() => undefined);
  if (!fs) return; // a browser: those tests fail, as they must
  const os = await import(["node", "os"].join(":"));
  d.makeTempDir = () => fs.mkdtemp(`${os.tmpdir()}/spackle-core-`);
  d.writeFile = (p: string, b: Uint8Array) => fs.writeFile(p, b);
  d.remove = (p: string, o?: { recursive?: boolean }) =>
    fs.rm(p, { recursive: !!o?.recursive, force: false });
}

/** The test modules of the core (imported lazily, after the collector is installed). */
export const CORE_TEST_MODULES: Record<string, () => Promise<unknown>> = {
  "base32_test.ts": () => import("../src/core/base32_test.ts"),
  "digest_test.ts": () => import("../src/core/digest_test.ts"),
  "gzip_test.ts": () => import("../src/core/gzip_test.ts"),
  "json_test.ts": () => import("../src/core/json_test.ts"),
  "memory_test.ts": () => import("../src/core/memory_pacer_test.ts"),
  "tar_test.ts": () => import("../src/core/tar_test.ts"),
};

type Fn = (t: unknown) => unknown;
type Case = { name: string; fn: Fn; ignore?: boolean };

/** Runs the core's tests (those of `only`, when given); resolves with every result. */
export async function runCoreSuite(
  only?: string[],
): Promise<{ backend: typeof BACKEND; results: CaseResult[] }> {
  const g = globalThis as { Deno?: { test: unknown } };
  let cases: Case[] = [];
  const collect = (a: unknown, b?: unknown, c?: unknown) => {
    if (typeof a === "string") cases.push({ name: a, fn: (c ?? b) as Fn });
    else if (typeof a === "function") cases.push({ name: a.name, fn: a as Fn });
    else {
      const o = a as { name: string; fn?: Fn; ignore?: boolean };
      cases.push({ name: o.name, fn: (o.fn ?? b) as Fn, ignore: o.ignore });
    }
  };
  const saved = g.Deno?.test;
  const isDeno = !!g.Deno;
  if (g.Deno) g.Deno.test = collect;
  else g.Deno = { test: collect };
  await denoFsShim(g.Deno as unknown as Record<string, unknown>);
  const results: CaseResult[] = [];
  try {
    for (const [module, load] of Object.entries(CORE_TEST_MODULES)) {
      if (only && !only.includes(module)) continue;
      if (!isDeno && DENO_ONLY.includes(module)) continue;
      cases = [];
      await load();
      for (const c of cases) {
        if (c.ignore) {
          results.push({ module, name: c.name, ok: true, ignored: true });
          continue;
        }
        const t = {
          step: async (n: unknown, f?: Fn) => {
            const fn = typeof n === "object" ? (n as { fn: Fn }).fn : (f ?? n) as Fn;
            await fn(t);
            return true;
          },
        };
        try {
          await c.fn(t);
          results.push({ module, name: c.name, ok: true });
        } catch (e) {
          const cause = (e as { cause?: unknown }).cause;
          const error = String(e) + (cause ? ` (cause: ${String(cause)})` : "");
          results.push({ module, name: c.name, ok: false, error: error.slice(0, 4000) });
        }
      }
    }
  } finally {
    if (saved) g.Deno!.test = saved;
    else if (!isDeno) delete g.Deno;
  }
  return { backend: { ...BACKEND }, results };
}

/** Under Deno or Bun as a script: prints the results as one JSON line. */
if ((import.meta as { main?: boolean }).main) {
  const only = (globalThis as { process?: { argv: string[] } }).process?.argv.slice(2) ?? [];
  const r = await runCoreSuite(only.length ? only : undefined);
  const runtime = "Bun" in globalThis ? "bun" : "Deno" in globalThis ? "deno" : "?";
  console.log(JSON.stringify({ runtime, ...r }));
}
