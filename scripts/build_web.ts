/**
 * Bundles browser code with Bun's bundler: `bun scripts/build_web.ts ENTRY OUTFILE`.
 *
 * Node built-ins have no place in a browser: every `node:*` import (but `node:assert`, which
 * tests use and Bun polyfills) becomes a stub module whose functions throw "not available in the
 * browser" when called, so that the library's feature detection (`core/backend.ts`) finds no
 * `node:crypto` or `node:zlib` and uses the WebAssembly core. Nothing is fetched: the bundle is
 * made from the repository and node_modules.
 *
 * @module
 */
import process from "node:process";

const [entry, outfile] = process.argv.slice(2);
if (!entry || !outfile) {
  console.error("usage: bun scripts/build_web.ts ENTRY OUTFILE");
  process.exit(2);
}
const Bun = (globalThis as unknown as { Bun?: any }).Bun;
if (!Bun) {
  console.error("build_web.ts runs under Bun (node_modules/.bin/bun scripts/build_web.ts ...)");
  process.exit(2);
}

const KEEP = new Set(["node:assert", "assert"]);

const stubs = {
  name: "node-builtins-stubbed",
  setup(build: any) {
    build.onResolve(
      { filter: /^node:/ },
      (args: { path: string }) =>
        KEEP.has(args.path)
          ? undefined
          : args.path === "node:assert/strict"
          ? { path: args.path, namespace: "assert-strict" }
          : { path: args.path, namespace: "node-stub" },
    );
    // Bun's browser polyfill of assert has no assert/strict: its `strict` member is that.
    build.onLoad({ filter: /.*/, namespace: "assert-strict" }, () => ({
      contents: `import a from "node:assert"; export default a.strict;`,
      loader: "js",
    }));
    build.onLoad({ filter: /.*/, namespace: "node-stub" }, async (args: { path: string }) => {
      let names: string[] = [];
      try {
        names = Object.keys(await import(args.path)).filter((n) =>
          /^[A-Za-z_$][\w$]*$/.test(n) && n !== "default"
        );
      } catch { /* a module this Bun lacks: default export only */ }
      const lines = [
        `function stub(name) { return function () { throw new Error(name + " is not available in the browser"); }; }`,
        `export default new Proxy({}, { get: (_, k) => typeof k === "string" ? stub(${
          JSON.stringify(args.path)
        } + "." + k) : undefined });`,
        ...names.map((n) => `export const ${n} = stub(${JSON.stringify(`${args.path}.${n}`)});`),
      ];
      return { contents: lines.join("\n"), loader: "js" };
    });
  },
};

const res = await Bun.build({
  entrypoints: [entry],
  target: "browser",
  format: "esm",
  minify: true,
  plugins: [stubs],
});
if (!res.success) {
  for (const m of res.logs) console.error(m);
  process.exit(1);
}
const out = res.outputs.find((o: { kind: string }) => o.kind === "entry-point");
await Bun.write(outfile, out);
console.log(`${outfile}: ${out.size} bytes`);
