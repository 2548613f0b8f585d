/**
 * Test helper: builds Mach-O dylibs and executables on Linux with clang and ld64.lld against a
 * small `libSystem.tbd` stub, and reads them back with llvm-otool.
 *
 * @module
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const has = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
/** The first of the names found on PATH (Debian suffixes LLVM tools with the version). */
export function tool(...names: string[]): string | undefined {
  for (const n of names) if (has(n)) return n;
  return undefined;
}
const versions = ["", "-19", "-18", "-17", "-16", "-15", "-14"];
export const OTOOL = tool(...versions.map((v) => `llvm-otool${v}`));
export const LIPO = tool(...versions.map((v) => `llvm-lipo${v}`));
export const INSTALL_NAME_TOOL = tool(...versions.map((v) => `llvm-install-name-tool${v}`));
export const HAVE_MACHO_TOOLS = has("clang") &&
  tool(...versions.map((v) => `ld64.lld${v}`)) !== undefined && OTOOL !== undefined &&
  LIPO !== undefined;

export function run(cmd: string, args: string[], env?: Record<string, string>): string {
  const r = spawnSync(cmd, args, { encoding: "utf8", env: env ?? { PATH: "/usr/bin:/bin" } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

const TBD = `--- !tapi-tbd
tbd-version: 4
targets: [ x86_64-macos, arm64-macos ]
install-name: '/usr/lib/libSystem.B.dylib'
current-version: 1311
exports:
  - targets: [ x86_64-macos, arm64-macos ]
    symbols: [ _puts, dyld_stub_binder ]
...
`;

/**
 * Builds, under `dir`, for `arch`: `<prefix>/lib/libdep.dylib`, `<prefix>/lib/libweak.dylib`,
 * `<prefix>/lib/libans.dylib` (install name in the prefix, loads libdep, re-exports nothing)
 * and `<prefix>/bin/prog` (loads libans, weakly libweak, re-exports nothing, rpaths into the
 * prefix and `@loader_path`, and holds the prefix as a C string).
 */
export function buildMacho(
  dir: string,
  prefix: string,
  arch: "arm64" | "x86_64",
  headerpad = 0x200,
  /** Debian's llvm-install-name-tool (what Spack runs on Linux) refuses LC_REEXPORT_DYLIB. */
  reexport = true,
  /** More linker arguments for the dylib and the program. */
  extra: string[] = [],
): { lib: string; prog: string; dep: string; weak: string } {
  mkdirSync(join(prefix, "lib"), { recursive: true });
  mkdirSync(join(prefix, "bin"), { recursive: true });
  mkdirSync(dir, { recursive: true });
  const tbd = join(dir, "libSystem.tbd");
  writeFileSync(tbd, TBD);
  const src = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  const cc = [
    `--target=${arch}-apple-macos11`,
    "-fuse-ld=lld",
    "-nostdlib",
    "-Wl,-platform_version,macos,11.0,11.0",
    `-Wl,-headerpad,0x${headerpad.toString(16)}`,
    ...extra,
  ];
  const dep = join(prefix, "lib/libdep.dylib");
  const weak = join(prefix, "lib/libweak.dylib");
  const lib = join(prefix, "lib/libans.dylib");
  const prog = join(prefix, "bin/prog");
  run("clang", [
    ...cc,
    "-shared",
    "-o",
    dep,
    src("dep.c", "int dep(void) { return 7; }\n"),
    `-Wl,-install_name,${dep}`,
    tbd,
  ]);
  run("clang", [
    ...cc,
    "-shared",
    "-o",
    weak,
    src("weak.c", "int weak(void) { return 1; }\n"),
    `-Wl,-install_name,${weak}`,
    tbd,
  ]);
  run("clang", [
    ...cc,
    "-shared",
    "-o",
    lib,
    src("lib.c", "int dep(void);\nint answer(void) { return 35 + dep(); }\n"),
    `-Wl,-install_name,${lib}`,
    ...(reexport ? [`-Wl,-reexport_library,${dep}`] : [dep]),
    `-Wl,-rpath,${prefix}/lib`,
    tbd,
  ]);
  run("clang", [
    ...cc,
    "-o",
    prog,
    src(
      "main.c",
      `int puts(const char *);\nint answer(void);\nint weak(void);\n` +
        `static const char where[] = "${prefix}/share/data";\n` +
        "int main(void) { puts(where); return answer() + weak(); }\n",
    ),
    lib,
    `-Wl,-weak_library,${weak}`,
    `-Wl,-rpath,${prefix}/lib`,
    "-Wl,-rpath,@loader_path/../lib",
    "-Wl,-e,_main",
    tbd,
  ]);
  return { lib, prog, dep, weak };
}

/** The load commands llvm-otool prints, as `CMD path` lines (paths and rpaths only). */
export function loadPaths(path: string): string[] {
  const out = run(OTOOL!, ["-l", path]);
  const lines: string[] = [];
  let cmd = "";
  for (const l of out.split("\n")) {
    const m = l.match(/^\s+cmd (\S+)/);
    if (m) cmd = m[1];
    const p = l.match(/^\s+(?:name|path) (.*) \(offset \d+\)$/);
    if (p) lines.push(`${cmd} ${p[1]}`);
  }
  return lines;
}

/**
 * Checks every code signature of a Mach-O file from scratch (no spackle code): every code
 * slot of every CodeDirectory is the hash of its page. Returns the CodeDirectory hashes.
 */
export function verifySignature(path: string): string[] {
  const data = readFileSync(path);
  const slices: number[] = [];
  if (data.readUInt32BE(0) === 0xcafebabe) {
    for (let i = 0; i < data.readUInt32BE(4); i++) slices.push(data.readUInt32BE(8 + i * 20 + 8));
  } else slices.push(0);
  const cdhashes: string[] = [];
  for (const base of slices) {
    const ncmds = data.readUInt32LE(base + 16);
    let at = base + 32;
    let sig: [number, number] | undefined;
    for (let i = 0; i < ncmds; i++) {
      if (data.readUInt32LE(at) === 0x1d) {
        sig = [data.readUInt32LE(at + 8), data.readUInt32LE(at + 12)];
      }
      at += data.readUInt32LE(at + 4);
    }
    if (!sig) {
      // Only arm64 code must be signed (ld64.lld signs nothing else by default).
      assert.notEqual(data.readUInt32LE(base + 4), 0x0100000c, `${path}: arm64 without signature`);
      continue;
    }
    const sb = base + sig[0];
    assert.equal(data.readUInt32BE(sb), 0xfade0cc0);
    for (let i = 0; i < data.readUInt32BE(sb + 8); i++) {
      const cd = sb + data.readUInt32BE(sb + 12 + i * 8 + 4);
      if (data.readUInt32BE(cd) !== 0xfade0c02) continue;
      const hashOffset = data.readUInt32BE(cd + 16);
      const nCode = data.readUInt32BE(cd + 28);
      const limit = data.readUInt32BE(cd + 32);
      const hashSize = data[cd + 36];
      assert.equal(data[cd + 37], 2, "SHA-256");
      const page = 2 ** data[cd + 39];
      assert.equal(nCode, Math.ceil(limit / page));
      for (let p = 0; p < nCode; p++) {
        const want = createHash("sha256")
          .update(data.subarray(base + p * page, base + Math.min((p + 1) * page, limit)))
          .digest();
        const got = data.subarray(cd + hashOffset + p * hashSize, cd + hashOffset + (p + 1) * 32);
        assert.deepEqual(got, want, `${path}: page ${p} hash`);
      }
      cdhashes.push(
        createHash("sha256").update(data.subarray(cd, cd + data.readUInt32BE(cd + 4)))
          .digest("hex"),
      );
    }
  }
  return cdhashes;
}

/** {@link buildMacho} for arm64 and x86_64, joined into universal files at `prefix`. */
export function buildFat(dir: string, prefix: string, headerpad = 0x200, reexport = true) {
  const arm = join(dir, "arm64-prefix");
  buildMacho(join(dir, "arm64"), arm, "arm64", headerpad, reexport);
  buildMacho(join(dir, "x86_64"), prefix, "x86_64", headerpad, reexport);
  for (const f of ["bin/prog", "lib/libans.dylib", "lib/libdep.dylib", "lib/libweak.dylib"]) {
    run(LIPO!, ["-create", join(arm, f), join(prefix, f), "-output", join(prefix, f + ".fat")]);
    run("mv", [join(prefix, f + ".fat"), join(prefix, f)]);
  }
}
