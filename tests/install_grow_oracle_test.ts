/**
 * A longer root with real Spack: a package whose ELF files hold their prefix only in RPATH /
 * RUNPATH and interpreter-free programs (built here with gcc, pushed by spackle) is installed into
 * a root 40 characters longer than its build store by Spack 1.2, which runs Debian's patchelf,
 * and by spackle, which grows the files itself: the same dynamic entries, the programs of both
 * run, the other files are identical.
 *
 * Runs only when `SPACKLE_ORACLE_SPACK_V3` names a Spack 1.2 work tree, the oracle scripts are
 * present and patchelf is installed.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { HAVE_FIXTURES, ORACLE } from "./_fixtures.ts";
import { dagHash } from "../src/spec/dag_hash.ts";
import { main } from "../src/cli/app.ts";

const SPACK_V3 = Deno.env.get("SPACKLE_ORACLE_SPACK_V3");
const has = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
const HAVE = HAVE_FIXTURES && !!SPACK_V3 && existsSync(join(SPACK_V3, "bin", "spack")) &&
  existsSync(join(ORACLE, "common.sh")) && has("patchelf") && has("gcc") && has("readelf");

function sh(cmd: string, args: string[], env?: Record<string, string>): string {
  const r = spawnSync(cmd, args, { encoding: "utf8", env: env ?? { PATH: "/usr/bin:/bin" } });
  assert.equal(r.status, 0, `${cmd} ${args.join(" ")}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

async function spackle(...args: string[]) {
  const code = await main(["--quiet", ...args]);
  assert.equal(code, 0, `spackle ${args.join(" ")} exited ${code}`);
}

Deno.test({
  name: "a longer root: spackle grows RPATHs as Spack does with patchelf, and both run",
  ignore: !HAVE,
  async fn() {
    const base = await Deno.makeTempDir({ prefix: "sp-grow-" });
    try {
      // The package, built in a short store (`bigpkg` of the fixtures repository, whose
      // recipe Spack never runs for a binary install).
      const node: Record<string, unknown> = {
        name: "bigpkg",
        version: "1.0",
        arch: { platform: "linux", platform_os: "debian12", target: "x86_64" },
        namespace: "fixtures",
        parameters: {
          build_system: "generic",
          cflags: [],
          cppflags: [],
          cxxflags: [],
          fflags: [],
          ldflags: [],
          ldlibs: [],
        },
        package_hash: "growgrowgrowgrowgrowgrowgrowgrow",
      };
      const hash = dagHash(node)!;
      node.hash = hash;
      const store = join(base, "b");
      const rel = join("linux-x86_64", `bigpkg-1.0-${hash}`);
      const p = join(store, rel);
      mkdirSync(join(p, ".spack"), { recursive: true });
      mkdirSync(join(p, "bin"));
      mkdirSync(join(p, "lib"));
      mkdirSync(join(p, "share"));
      writeFileSync(
        join(p, ".spack/spec.json"),
        JSON.stringify({ spec: { _meta: { version: 5 }, nodes: [node] } }),
      );
      writeFileSync(join(base, "dep.c"), "int dep(void) { return 7; }\n");
      writeFileSync(
        join(base, "lib.c"),
        "int dep(void);\nint answer(void) { return 35 + dep(); }\n",
      );
      writeFileSync(
        join(base, "main.c"),
        "int printf(const char *, ...);\nint answer(void);\n" +
          'int main(void) { printf("answer=%d\\n", answer()); return 0; }\n',
      );
      sh("gcc", ["-shared", "-fPIC", "-o", join(p, "lib/libdep.so"), join(base, "dep.c")]);
      sh("gcc", [
        "-shared",
        "-fPIC",
        "-o",
        join(p, "lib/libans.so"),
        join(base, "lib.c"),
        `-L${p}/lib`,
        "-ldep",
        `-Wl,-rpath,${p}/lib`,
        "-Wl,--enable-new-dtags",
      ]);
      for (const [name, dtags] of [["prog", "enable"], ["prog-rpath", "disable"]]) {
        sh("gcc", [
          "-o",
          join(p, "bin", name),
          join(base, "main.c"),
          `-L${p}/lib`,
          "-lans",
          `-Wl,-rpath,${p}/lib:$ORIGIN/../lib`,
          `-Wl,--${dtags}-new-dtags`,
        ]);
      }
      writeFileSync(join(p, "share/paths.txt"), `prefix=${p}\nlib=${p}/lib\n`);
      const mirror = join(base, "mirror");
      await spackle("push", "--unsigned", mirror, p);
      await spackle("update-index", mirror);

      // Both roots are 40 characters longer than the build store.
      const spackRoot = join(base, "s", "x".repeat(39));
      const ourRoot = join(base, "o", "x".repeat(39));
      assert.equal(spackRoot.length, store.length + 40);
      const inst = join(base, "inst");
      const log = sh("bash", [
        "-c",
        `set -e; source "${ORACLE}/common.sh"
        make_instance v3 "${inst}" "${spackRoot}"
        add_mirror "${inst}" m "${mirror}"
        cd "${inst}/tmp"; sp "${inst}" install --cache-only "/${hash}" 2>&1`,
      ], { PATH: "/usr/bin:/bin", SPACK_V3: SPACK_V3! });
      assert.match(log, /bigpkg/);
      await spackle("install", "-m", mirror, "--allow-unsigned", "--root", ourRoot, `/${hash}`);

      const dynamic = (root: string, f: string) =>
        sh("readelf", ["-dW", join(root, rel, f)]).split("\n")
          .filter((l) => /RPATH|RUNPATH|NEEDED|SONAME/.test(l))
          .map((l) => l.trim().replace(/^0x[0-9a-f]+\s+/, "").replaceAll(root, "<root>"));
      for (const f of ["bin/prog", "bin/prog-rpath", "lib/libans.so"]) {
        const theirs = dynamic(spackRoot, f);
        const ours = dynamic(ourRoot, f);
        assert.deepEqual(ours, theirs, f);
        assert.ok(ours.some((l) => l.includes("(RPATH)") && l.includes("<root>/")), f);
      }
      for (const root of [spackRoot, ourRoot]) {
        for (const prog of ["bin/prog", "bin/prog-rpath"]) {
          assert.equal(sh(join(root, rel, prog), []), "answer=42\n");
        }
      }
      const text = (root: string) =>
        readFileSync(join(root, rel, "share/paths.txt"), "utf8").replaceAll(root, "<root>");
      assert.equal(text(ourRoot), text(spackRoot));
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  },
});
