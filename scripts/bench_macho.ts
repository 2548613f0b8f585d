/**
 * Mach-O relocation throughput (run by `scripts/bench_relocate macho`): about 100 MB of arm64
 * dylibs and executables (each with a 2 MiB random section, install names, dylib paths,
 * rpaths and C strings under the prefix, and a linker signature) relocated to a shorter
 * prefix by spackle's relocation and by Spack's `relocate_macho_binaries` +
 * `relocate_text_bin` (through `spack python`, llvm-install-name-tool as install_name_tool),
 * on fresh copies of the same files.
 *
 *   deno run -A scripts/bench_macho.ts WORKDIR [RUNS]
 *
 * Spack's time is measured inside `spack python` (its start-up excluded). Needs clang, lld,
 * llvm, and a Spack work tree: SPACKLE_ORACLE_SPACK_V3 (what the tests use), else SPACK_V3.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { buildMacho, INSTALL_NAME_TOOL, verifySignature } from "../tests/_macho.ts";
import { applyRelocation, parseBuildinfo, planRelocation } from "../src/install/relocate.ts";
import type { PrefixEntryType } from "../src/install/extract.ts";

const work = resolve(Deno.args[0] ?? "/dev/shm/spackle-bench-macho");
const runs = Number(Deno.args[1] ?? 1);
const spack = Deno.env.get("SPACKLE_ORACLE_SPACK_V3") ?? Deno.env.get("SPACK_V3") ??
  "/nonexistent";
const COPIES = 48;

mkdirSync(work, { recursive: true });
const old = join(work, "build", "store-with-a-long-root-directory-name", "pkg-abcdef");
const files: string[] = [];
{
  // One dylib with a 2 MiB random section, then copies of it: relocation work does not
  // depend on the file names.
  const blob = join(work, "blob.bin");
  const rnd = new Uint8Array(2 << 20);
  for (let o = 0; o < rnd.byteLength; o += 65536) {
    crypto.getRandomValues(rnd.subarray(o, o + 65536));
  }
  writeFileSync(blob, rnd);
  const built = buildMacho(join(work, "src"), old, "arm64", 0x400, false, [
    `-Wl,-sectcreate,__DATA,__blob,${blob}`,
  ]);
  for (const base of ["bin/prog", "lib/libans.dylib"]) {
    const path = base === "bin/prog" ? built.prog : built.lib;
    for (let i = 0; i < COPIES / 2; i++) {
      const rel = `${base}.${i}`;
      cpSync(path, join(old, rel));
      files.push(rel);
    }
  }
  files.push("lib/libdep.dylib", "lib/libweak.dylib");
}
const bytes = files.reduce((a, f) => a + statSync(join(old, f)).size, 0);
const neu = join(work, "n", "pkg-abcdef");
const pairs: [string, string][] = [[old, neu]];
console.error(`==> ${files.length} Mach-O files, ${(bytes / 1e6).toFixed(1)} MB`);

function fresh(dest: string) {
  rmSync(dest, { recursive: true, force: true });
  cpSync(old, dest, { recursive: true });
}

const ours: number[] = [];
const theirs: number[] = [];
for (let r = 0; r < runs; r++) {
  const copy = join(work, "ours");
  fresh(copy);
  const t0 = performance.now();
  const info = parseBuildinfo(
    `{buildpath: /nowhere, hash_to_prefix: {}, relocate_binaries: [${files.join(", ")}]}`,
  );
  const entries = new Map<string, PrefixEntryType>(files.map((f) => [f, "file"]));
  const plan = planRelocation(copy, info, pairs, entries);
  if (plan.problems.length) throw new Error(JSON.stringify(plan.problems.slice(0, 3)));
  applyRelocation(copy, plan);
  ours.push((performance.now() - t0) / 1000);
  verifySignature(join(copy, files[0]));
  console.error(`spackle run ${r + 1}: ${ours[r].toFixed(2)} s`);

  if (!INSTALL_NAME_TOOL || !statSafe(join(spack, "bin", "spack"))) continue;
  const spackCopy = join(work, "spack");
  fresh(spackCopy);
  const bin = join(work, "bin");
  mkdirSync(bin, { recursive: true });
  rmSync(join(bin, "install_name_tool"), { force: true });
  const tool = spawnSync("sh", ["-c", `command -v ${INSTALL_NAME_TOOL}`], { encoding: "utf8" });
  symlinkSync(tool.stdout.trim(), join(bin, "install_name_tool"));
  const cfg = join(work, "cfg");
  mkdirSync(cfg, { recursive: true });
  writeFileSync(join(cfg, "repos.yaml"), "repos:: {}\n");
  writeFileSync(join(cfg, "bootstrap.yaml"), "bootstrap:\n  sources:: []\n");
  const script = join(work, "reloc.py");
  writeFileSync(
    script,
    "import json, sys, time\nimport spack.relocate as r\n" +
      "pairs = dict(json.loads(sys.argv[1]))\nfiles = json.loads(sys.argv[2])\n" +
      "t = time.perf_counter()\nr.relocate_macho_binaries(files, pairs)\n" +
      "r.relocate_text_bin(files, pairs)\nprint(time.perf_counter() - t)\n",
  );
  const home = join(work, "home");
  mkdirSync(home, { recursive: true });
  const res = spawnSync(join(spack, "bin", "spack"), [
    "-C",
    cfg,
    "python",
    script,
    JSON.stringify([[old, join(work, "n", "pkg-abcdef")]]),
    JSON.stringify(files.map((f) => join(spackCopy, f))),
  ], {
    encoding: "utf8",
    env: {
      PATH: `${bin}:/usr/bin:/bin`,
      HOME: home,
      SPACK_DISABLE_LOCAL_CONFIG: "1",
      SPACK_USER_CACHE_PATH: join(home, "cache"),
    },
  });
  if (res.status !== 0) throw new Error(`spack python: ${res.stderr}`);
  theirs.push(Number(res.stdout.trim().split("\n").pop()));
  console.error(`Spack run ${r + 1}: ${theirs[r].toFixed(2)} s`);
}

function statSafe(p: string) {
  try {
    return statSync(p);
  } catch {
    return undefined;
  }
}
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const mb = bytes / 1e6;
const o = median(ours);
let line = `macho: ${mb.toFixed(1)} MB in ${files.length} files: spackle ${o.toFixed(2)} s ` +
  `(${(mb / o).toFixed(0)} MB/s)`;
if (theirs.length) {
  const t = median(theirs);
  line += `; Spack ${t.toFixed(2)} s (${(mb / t).toFixed(0)} MB/s); ${
    (t / o).toFixed(1)
  } times faster`;
}
console.log(line);
