/**
 * A macOS (darwin, arm64 and x86_64) build cache installed on Linux: a prefix of Mach-O files
 * built with clang + ld64.lld, pushed by spackle, installed by spackle into another root; the
 * install names, dylib paths, rpaths and C strings point into the new root and every arm64
 * file carries a valid ad-hoc signature again.
 */
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildFat, buildMacho, HAVE_MACHO_TOOLS, loadPaths, verifySignature } from "./_macho.ts";
import { dagHash } from "../src/spec/dag_hash.ts";
import { main } from "../src/cli/app.ts";

async function spackle(...args: string[]) {
  const code = await main(["--quiet", ...args]);
  assert.equal(code, 0, `spackle ${args.join(" ")} exited ${code}`);
}

/** A darwin prefix (with its spec file) under `store`; returns it and its hash. */
function darwinPrefix(base: string, store: string, fat: boolean) {
  const node: Record<string, unknown> = {
    name: "answer",
    version: "1.0",
    arch: { platform: "darwin", platform_os: "sonoma", target: fat ? "x86_64" : "m1" },
    namespace: "builtin",
    parameters: { build_system: "generic" },
    package_hash: "a".repeat(32),
  };
  const hash = dagHash(node)!;
  node.hash = hash;
  const prefix = join(store, `darwin-${fat ? "x86_64" : "m1"}`, `answer-1.0-${hash}`);
  if (fat) buildFat(join(base, "build"), prefix);
  else buildMacho(join(base, "build-arm64"), prefix, "arm64");
  mkdirSync(join(prefix, ".spack"), { recursive: true });
  writeFileSync(
    join(prefix, ".spack", "spec.json"),
    JSON.stringify({ spec: { _meta: { version: 5 }, nodes: [node] } }),
  );
  return { prefix, hash };
}

for (const fat of [false, true]) {
  Deno.test({
    name: `a darwin ${fat ? "universal (fat)" : "arm64"} cache installs on Linux, relocated ` +
      "and re-signed",
    ignore: !HAVE_MACHO_TOOLS,
    async fn() {
      const base = await Deno.makeTempDir({ prefix: "sp-darwin-" });
      try {
        const store = join(base, "build-store-with-a-long-name", "opt", "spack");
        const { prefix, hash } = darwinPrefix(base, store, fat);
        const mirror = join(base, "mirror");
        await spackle("push", "--unsigned", mirror, prefix);
        await spackle("update-index", mirror);
        const root = join(base, "r");
        await spackle(
          "install",
          "-m",
          mirror,
          "--allow-unsigned",
          "--check-target",
          "none",
          "--root",
          root,
          `/${hash}`,
        );
        const arch = fat ? "darwin-x86_64" : "darwin-m1";
        const installed = join(root, arch, `answer-1.0-${hash}`);
        const prog = join(installed, "bin/prog");
        const paths = loadPaths(prog);
        assert.ok(paths.includes(`LC_LOAD_DYLIB ${installed}/lib/libans.dylib`), paths.join("\n"));
        assert.ok(paths.includes(`LC_LOAD_WEAK_DYLIB ${installed}/lib/libweak.dylib`));
        assert.ok(paths.includes(`LC_RPATH ${installed}/lib`));
        const lib = loadPaths(join(installed, "lib/libans.dylib"));
        assert.ok(lib.includes(`LC_ID_DYLIB ${installed}/lib/libans.dylib`));
        assert.ok(lib.includes(`LC_REEXPORT_DYLIB ${installed}/lib/libdep.dylib`));
        const text = readFileSync(prog).toString("latin1");
        assert.ok(!text.includes(store), "no build prefix is left");
        assert.match(text, new RegExp(`/+${installed}/share/data\0`));
        for (const f of ["bin/prog", "lib/libans.dylib", "lib/libdep.dylib", "lib/libweak.dylib"]) {
          assert.ok(verifySignature(join(installed, f)).length >= 1, f);
        }
      } finally {
        rmSync(base, { recursive: true, force: true });
      }
    },
  });
}
