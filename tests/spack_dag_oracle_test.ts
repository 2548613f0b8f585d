/**
 * A many-package build cache written by real Spack (`scripts/gen_spack_dag_mirror`: a DAG of
 * small packages with shared dependencies, each with a text file naming prefixes, a script,
 * a header and a shared library with RPATHs into its dependencies, built in a padded store
 * and pushed by `spack buildcache push`) is installed by Spack (`spack install --cache-only`)
 * and by spackle into fresh roots: every package lands in the same prefix with the same files
 * (type, mode, content after normalising the root, symlink targets, ELF dynamic entries), the
 * same `.spack` metadata, and the libraries of both trees load and compute the same value.
 * Signed: spackle verifies Spack's signatures with the key Spack published.
 *
 * Runs only when `SPACKLE_ORACLE_SPACK_V3` names a Spack 1.x work tree (and gcc, python3 and
 * gpg are installed); takes about a minute.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "./_fixtures.ts";
import { compareTrees, describePrefix, substTable } from "./_install_tree.ts";
import { main } from "../src/cli/app.ts";

const SPACK_V3 = Deno.env.get("SPACKLE_ORACLE_SPACK_V3");
const has = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
const HAVE = !!SPACK_V3 && existsSync(join(SPACK_V3, "bin", "spack")) && has("gcc") &&
  has("python3") && has("gpg");
const GEN = join(REPO_ROOT, "scripts", "gen_spack_dag_mirror");

function gen(...args: string[]): void {
  const r = spawnSync("bash", [GEN, ...args], {
    encoding: "utf8",
    env: { PATH: "/usr/bin:/bin", SPACKLE_ORACLE_SPACK_V3: SPACK_V3! },
  });
  assert.equal(r.status, 0, `gen_spack_dag_mirror ${args.join(" ")}: ${r.stderr}${r.stdout}`);
}

interface Specs {
  specs: { name: string; hash: string; prefix: string; dependencies: string[] }[];
  roots: string[];
}

/** The prefix directories under `root` (relative), sorted. */
function prefixes(root: string): string[] {
  return readdirSync(join(root, "linux-x86_64")).sort().map((d) => `linux-x86_64/${d}`);
}

/** What each root's library returns, loaded by the dynamic linker from `root`. */
function libraryValues(root: string, names: string[]): string {
  const libs = names.map((n) => {
    const dir = readdirSync(join(root, "linux-x86_64")).find((d) => d.startsWith(`${n}-`))!;
    return [n.replace("-", "_"), join(root, "linux-x86_64", dir, "lib")];
  });
  const r = spawnSync("python3", [
    "-c",
    "import ctypes, json, sys\n" +
    "for sym, lib in json.loads(sys.argv[1]):\n" +
    "    print(sym, getattr(ctypes.CDLL(f'{lib}/lib{sym}.so'), sym)())",
    JSON.stringify(libs),
  ], { encoding: "utf8", env: { PATH: "/usr/bin:/bin" } });
  assert.equal(r.status, 0, `loading the libraries of ${root}: ${r.stderr}`);
  return r.stdout;
}

async function check(signed: boolean, n: number) {
  const base = await Deno.makeTempDir({ prefix: "sp-dag-" });
  try {
    const out = join(base, "gen");
    gen(...(signed ? ["--signed"] : []), out, String(n));
    const specs: Specs = JSON.parse(readFileSync(join(out, "specs.json"), "utf8"));
    assert.equal(specs.specs.length, n);
    assert.ok(specs.specs.some((s) => s.dependencies.length > 1), "a package with several deps");
    const names = readFileSync(join(out, "roots"), "utf8").trim().split("\n");
    assert.equal(names.length, specs.roots.length);
    // Cached: a second call does nothing.
    const stamp = readFileSync(join(out, "stamp"), "utf8");
    gen(...(signed ? ["--signed"] : []), out, String(n));
    assert.equal(readFileSync(join(out, "stamp"), "utf8"), stamp);

    const spackRoot = join(base, "spack");
    gen("--install", out, spackRoot);
    const root = join(base, "spackle");
    const code = await main([
      "--quiet",
      "install",
      "-m",
      join(out, "mirror"),
      "--root",
      root,
      "-j",
      "4",
      ...(signed ? ["--key", join(out, "key.pub.asc")] : ["--allow-unsigned"]),
      ...names,
    ]);
    assert.equal(code, 0, "spackle install");

    const rels = prefixes(spackRoot);
    assert.equal(rels.length, n, "Spack installed every package");
    assert.deepEqual(prefixes(root), rels, "the same prefixes");
    const named = (r: string) =>
      rels.map((rel) => ({ name: rel.split("/")[1].slice(0, 8), prefix: join(r, rel) }));
    const theirs = substTable(named(spackRoot), spackRoot);
    const ours = substTable(named(root), root);
    for (const rel of rels) {
      const expected = describePrefix(join(spackRoot, rel), theirs);
      const actual = describePrefix(join(root, rel), ours);
      assert.ok(expected.filter((e) => e.elf).length === 1, `${rel}: one ELF library`);
      assert.deepEqual(compareTrees(expected, actual), [], rel);
      // The metadata too (install_times.json holds timings).
      const meta = (t: typeof expected) =>
        t.filter((e) => e.meta && e.path !== ".spack/install_times.json")
          .map((e) => `${e.path} ${e.type} ${e.mode} ${e.norm_sha256 ?? ""}`);
      assert.deepEqual(meta(actual), meta(expected), `${rel}: .spack`);
    }
    assert.equal(libraryValues(root, names), libraryValues(spackRoot, names));
  } finally {
    spawnSync("chmod", ["-R", "u+w", base]);
    rmSync(base, { recursive: true, force: true });
  }
}

Deno.test({
  name: "a DAG of 12 packages written by real Spack: spackle installs it as Spack does",
  ignore: !HAVE,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () => check(false, 12),
});

Deno.test({
  name: "a signed DAG written by real Spack: spackle verifies and installs it as Spack does",
  ignore: !HAVE,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () => check(true, 4),
});

Deno.test({
  name: "gen_spack_dag_mirror: bad input is refused with a clear error",
  ignore: !HAVE,
  async fn() {
    const base = await Deno.makeTempDir({ prefix: "sp-dag-bad-" });
    try {
      const run = (...args: string[]) =>
        spawnSync("bash", [GEN, ...args], {
          encoding: "utf8",
          env: { PATH: "/usr/bin:/bin", SPACKLE_ORACLE_SPACK_V3: SPACK_V3! },
        });
      let r = run(join(base, "a"), "0");
      assert.equal(r.status, 1);
      assert.match(r.stderr, /N must be a number from 1 to 9999, not '0'/);
      writeFileSync(join(base, "keep"), "mine\n");
      r = run(base, "3");
      assert.equal(r.status, 1);
      assert.match(r.stderr, /is not empty and holds no generated mirror/);
      assert.equal(readFileSync(join(base, "keep"), "utf8"), "mine\n");
      r = run("--install", join(base, "nothing"), join(base, "dest"));
      assert.equal(r.status, 1);
      assert.match(r.stderr, /no generated mirror at/);
      r = spawnSync("bash", [GEN, join(base, "b"), "3"], {
        encoding: "utf8",
        env: { PATH: "/usr/bin:/bin", SPACKLE_ORACLE_SPACK_V3: join(base, "no-spack") },
      });
      assert.equal(r.status, 1);
      assert.match(r.stderr, /no Spack work tree at/);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  },
});
