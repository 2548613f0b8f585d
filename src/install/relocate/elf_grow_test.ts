/**
 * ELF growth on real programs and libraries built by the system's compilers: relocated into
 * longer prefixes, then run (x86_64 natively, aarch64 under qemu-user-static) and checked with
 * readelf and eu-elflint.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { spawnSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseElf, planElfUpdates } from "../relocate_elf.ts";
import { applyWrites, ElfGrowError, planElfGrowth } from "./elf_grow.ts";
import { parseBuildinfo, planRelocation, prefixMap, relocatePrefix } from "../relocate.ts";
import type { PrefixEntryType } from "../extract.ts";
import { runProgram } from "../../../tests/_run.ts";

const has = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
const HAVE_GCC = has("gcc") && has("readelf");
const HAVE_CLANG = has("clang") && has("ld.lld");
const HAVE_ELFLINT = has("eu-elflint");
const AARCH64_LIBC = "/usr/aarch64-linux-gnu/lib";
const HAVE_QEMU = has("qemu-aarch64-static") && existsSync(join(AARCH64_LIBC, "libc.so.6"));

function run(cmd: string, args: string[], opts: { cwd?: string } = {}) {
  // A program just written may be refused as "text file busy" for a moment: tried again.
  const r = runProgram(cmd, args, { cwd: opts.cwd });
  return {
    code: r.code,
    out: r.stdout,
    err: r.stderr + (r.signal ? `(killed by ${r.signal})` : ""),
  };
}

function ok(cmd: string, args: string[]) {
  const r = run(cmd, args);
  assert.equal(r.code, 0, `${cmd} ${args.join(" ")}: ${r.err}${r.out}`);
  return r.out;
}

/** Relocates a file in memory with planElfUpdates + planElfGrowth, as the installer does. */
function relocateFile(path: string, pairs: [string, string][]) {
  const data = new Uint8Array(readFileSync(path));
  const ups = planElfUpdates(data, pairs.map(([o, n]) => [Buffer.from(o), Buffer.from(n)]));
  assert.ok(ups.length > 0, `nothing to relocate in ${path}`);
  const grow: { rpath?: Uint8Array; interp?: Uint8Array } = {};
  for (const u of ups) {
    if (u.new.byteLength > u.old.byteLength) grow[u.kind] = u.new;
    data.fill(0, u.offset, u.offset + u.old.byteLength);
    if (u.new.byteLength <= u.old.byteLength) data.set(u.new, u.offset);
  }
  const get = (o: number, n: number) => data.subarray(o, o + n);
  const out = applyWrites(data, planElfGrowth(get, data.byteLength, grow));
  writeFileSync(path, out);
  return out;
}

function elflint(path: string, before: string) {
  if (!HAVE_ELFLINT) return;
  // The relocated file must not have more complaints than the file the linker wrote.
  const after = run("eu-elflint", ["--gnu-ld", path]);
  assert.equal(after.out.trim(), before.trim(), `eu-elflint ${path}`);
}
const lint = (path: string) => HAVE_ELFLINT ? run("eu-elflint", ["--gnu-ld", path]).out : "";

const LIB = "int answer(void) { return 42; }\n";
const MAIN = "int printf(const char *, ...);\nint answer(void);\n" +
  'int main(void) { printf("answer=%d\\n", answer()); return 0; }\n';

for (
  const [pie, newDtags, bigPages] of [
    [true, true, false],
    [true, false, false],
    [false, true, false],
    [false, false, false],
    [true, true, true],
    [false, false, true],
  ]
) {
  {
    Deno.test({
      name: `x86_64 ${pie ? "PIE" : "ET_EXEC"} with ${newDtags ? "RUNPATH" : "RPATH"}` +
        `${bigPages ? " linked for 2 MiB pages" : ""} runs after its RPATH and interpreter grew`,
      ignore: !HAVE_GCC,
      fn() {
        const dir = mkdtempSync(join(tmpdir(), "sp-grow-"));
        try {
          const old = join(dir, "o");
          const oldLib = join(old, "lib");
          mkdirSync(oldLib, { recursive: true });
          writeFileSync(join(dir, "lib.c"), LIB);
          writeFileSync(join(dir, "main.c"), MAIN);
          const interp = ok("readelf", ["-l", "/bin/sh"]).match(/interpreter: (\S+)\]/)![1];
          copyFileSync(interp, join(old, "ld.so"));
          ok("gcc", ["-shared", "-fPIC", "-o", join(oldLib, "libans.so"), join(dir, "lib.c")]);
          const prog = join(dir, "prog");
          ok("gcc", [
            ...(pie ? ["-pie", "-fPIE"] : ["-no-pie", "-fno-pie"]),
            "-o",
            prog,
            join(dir, "main.c"),
            `-L${oldLib}`,
            "-lans",
            `-Wl,-rpath,${oldLib}:$ORIGIN/x`,
            `-Wl,--${newDtags ? "enable" : "disable"}-new-dtags`,
            `-Wl,--dynamic-linker=${join(old, "ld.so")}`,
            ...(bigPages ? ["-Wl,-z,max-page-size=0x200000"] : []),
          ]);
          assert.equal(ok(prog, []), "answer=42\n");
          const before = lint(prog);
          const sizeBefore = readFileSync(prog).byteLength;
          const type = ok("readelf", ["-h", prog]).match(/Type:\s+(\S+)/)![1];
          assert.equal(type, pie ? "DYN" : "EXEC");

          // The new prefix is much longer; the old one is gone.
          const neu = join(dir, "n".repeat(120), "prefix");
          mkdirSync(neu, { recursive: true });
          rmSync(neu, { recursive: true });
          ok("mv", [old, neu]);
          relocateFile(prog, [[old, neu]]);
          assert.equal(ok(prog, []), "answer=42\n");
          // The file grows by the new segment and the gap its addresses need.
          const grown = readFileSync(prog).byteLength - sizeBefore;
          assert.ok(grown < (bigPages ? 0x200000 : 0) + 0x10000 + 0x1000, `${grown}`);
          const dyn = ok("readelf", ["-d", prog]);
          assert.match(dyn, new RegExp(`\\(RPATH\\).*\\[${neu}/lib:\\$ORIGIN/x\\]`));
          assert.doesNotMatch(dyn, /RUNPATH/);
          assert.match(ok("readelf", ["-l", prog]), new RegExp(`interpreter: ${neu}/ld.so`));
          const info = parseElf(new Uint8Array(readFileSync(prog)))!;
          assert.equal(Buffer.from(info.rpath!.value).toString(), `${neu}/lib:$ORIGIN/x`);
          assert.deepEqual(info.needed, ["libans.so", "libc.so.6"]);
          elflint(prog, before);
          // A second relocation (shorter, in place) still works on the grown file.
          const third = join(dir, "t");
          ok("mv", [neu, third]);
          relocateFile(prog, [[neu, third]]);
          assert.equal(ok(prog, []), "answer=42\n");
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
    });
  }
}

Deno.test({
  name: "x86_64 shared library whose RUNPATH grew is found and loaded by its program",
  ignore: !HAVE_GCC,
  fn() {
    const dir = mkdtempSync(join(tmpdir(), "sp-grow-"));
    try {
      const old = join(dir, "o");
      mkdirSync(join(old, "lib"), { recursive: true });
      writeFileSync(join(dir, "dep.c"), "int dep(void) { return 7; }\n");
      writeFileSync(
        join(dir, "lib.c"),
        "int dep(void);\nint answer(void) { return 35 + dep(); }\n",
      );
      writeFileSync(join(dir, "main.c"), MAIN);
      ok("gcc", ["-shared", "-fPIC", "-o", join(old, "lib/libdep.so"), join(dir, "dep.c")]);
      const lib = join(dir, "libans.so");
      ok("gcc", [
        "-shared",
        "-fPIC",
        "-o",
        lib,
        join(dir, "lib.c"),
        `-L${old}/lib`,
        "-ldep",
        `-Wl,-rpath,${old}/lib`,
        "-Wl,--enable-new-dtags",
      ]);
      const prog = join(dir, "prog");
      ok("gcc", ["-o", prog, join(dir, "main.c"), lib, `-Wl,-rpath,${dir}`, `-L${old}/lib`]);
      assert.equal(ok(prog, []), "answer=42\n");
      const before = lint(lib);
      const neu = join(dir, "a-much-longer-directory-name-than-before", "lib-root");
      mkdirSync(join(neu, ".."), { recursive: true });
      ok("mv", [old, neu]);
      relocateFile(lib, [[old, neu]]);
      assert.equal(ok(prog, []), "answer=42\n");
      assert.match(ok("readelf", ["-d", lib]), new RegExp(`\\(RPATH\\).*\\[${neu}/lib\\]`));
      assert.match(ok("readelf", ["-d", lib]), /SONAME|NEEDED.*libdep/);
      elflint(lib, before);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
});

for (const page of [4096, 65536]) {
  Deno.test({
    name: `aarch64 program (${page / 1024} KiB pages) runs under qemu after its RPATH and ` +
      "interpreter grew",
    ignore: !HAVE_CLANG || !HAVE_QEMU || !HAVE_GCC,
    fn() {
      const dir = mkdtempSync(join(tmpdir(), "sp-grow-"));
      try {
        const old = join(dir, "o");
        mkdirSync(join(old, "lib"), { recursive: true });
        copyFileSync(join(AARCH64_LIBC, "ld-linux-aarch64.so.1"), join(old, "ld.so"));
        copyFileSync(join(AARCH64_LIBC, "libc.so.6"), join(old, "lib/libc.so.6"));
        writeFileSync(join(dir, "lib.c"), LIB);
        // No C library headers or start files for aarch64 here: the program brings its own.
        writeFileSync(
          join(dir, "main.c"),
          "int printf(const char *, ...);\nint answer(void);\nvoid exit(int);\n" +
            'void _start(void) { printf("answer=%d\\n", answer()); exit(0); }\n',
        );
        const cc = [
          "--target=aarch64-linux-gnu",
          "-fuse-ld=lld",
          "-nostdlib",
          "-fPIC",
          `-Wl,-z,max-page-size=${page}`,
        ];
        ok("clang", [
          ...cc,
          "-shared",
          "-Wl,-soname,libans.so",
          "-o",
          join(old, "lib/libans.so"),
          join(dir, "lib.c"),
        ]);
        const prog = join(dir, "prog");
        ok("clang", [
          ...cc,
          "-o",
          prog,
          join(dir, "main.c"),
          join(old, "lib/libans.so"),
          join(old, "lib/libc.so.6"),
          `-Wl,-rpath,${old}/lib`,
          `-Wl,--dynamic-linker=${old}/ld.so`,
        ]);
        const exec = () => ok("qemu-aarch64-static", [prog]);
        assert.equal(exec(), "answer=42\n");
        const before = lint(prog);
        const neu = join(dir, "x".repeat(100), "prefix");
        mkdirSync(join(neu, ".."), { recursive: true });
        ok("mv", [old, neu]);
        const out = relocateFile(prog, [[old, neu]]);
        assert.equal(exec(), "answer=42\n");
        const hdrs = ok("readelf", ["-lW", prog]);
        assert.match(hdrs, new RegExp(`interpreter: ${neu}/ld.so`));
        // The new segment keeps the page size the linker chose.
        const loads = [...hdrs.matchAll(/^\s*LOAD\s.*\s(0x[0-9a-f]+)$/gm)];
        assert.ok(loads.length >= 2);
        for (const m of loads) assert.equal(Number(m[1]), page);
        assert.ok(out.byteLength > 0);
        elflint(prog, before);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  });
}

// 32-bit and big-endian: shared objects linked by lld (no C library needed), checked by
// readelf, eu-elflint and spackle's own parser after growth.
for (
  const [target, emul] of [
    ["i386-linux-gnu", "ELF32 LE"],
    ["aarch64_be-linux-gnu", "ELF64 BE"],
    ["powerpc-linux-gnu", "ELF32 BE"],
    ["x86_64-linux-gnu", "ELF64 LE"],
  ]
) {
  Deno.test({
    name: `${emul} (${target}) shared object grows its RUNPATH and stays well-formed`,
    ignore: !HAVE_CLANG || !HAVE_GCC,
    fn() {
      const dir = mkdtempSync(join(tmpdir(), "sp-grow-"));
      try {
        writeFileSync(join(dir, "lib.c"), LIB);
        const lib = join(dir, "libans.so");
        ok("clang", [
          `--target=${target}`,
          "-fuse-ld=lld",
          "-nostdlib",
          "-shared",
          "-fPIC",
          "-o",
          lib,
          join(dir, "lib.c"),
          "-Wl,-rpath,/o/lib:/o/lib64",
          "-Wl,--enable-new-dtags",
          "-Wl,-soname,libans.so.1",
        ]);
        const before = lint(lib);
        const neu = "/a/much/longer/prefix/than/the/old/one";
        relocateFile(lib, [["/o", neu]]);
        const dyn = ok("readelf", ["-d", lib]);
        assert.match(dyn, new RegExp(`\\(RPATH\\).*\\[${neu}/lib:${neu}/lib64\\]`));
        assert.match(dyn, /\(SONAME\).*\[libans\.so\.1\]/);
        ok("readelf", ["-a", lib]);
        const info = parseElf(new Uint8Array(readFileSync(lib)))!;
        assert.equal(info.soname, "libans.so.1");
        assert.equal(Buffer.from(info.rpath!.value).toString(), `${neu}/lib:${neu}/lib64`);
        elflint(lib, before);
        // The symbol still resolves through the moved string table.
        assert.match(ok("readelf", ["--dyn-syms", "-W", lib]), /answer/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  });
}

// Programs without a C library (system calls only) for 32-bit and big-endian machines, run
// under qemu-user after their RUNPATH grew.
const FREESTANDING = `static const char msg[] = "hello\\n";
#if defined(__i386__)
void _start(void) {
  int r;
  __asm__ volatile("int $0x80" : "=a"(r) : "a"(4), "b"(1), "c"(msg), "d"(6));
  __asm__ volatile("int $0x80" :: "a"(1), "b"(0));
  for (;;);
}
#elif defined(__powerpc__) && !defined(__powerpc64__)
void _start(void) {
  register long r0 __asm__("r0"); register long r3 __asm__("r3");
  register long r4 __asm__("r4"); register long r5 __asm__("r5");
  r0 = 4; r3 = 1; r4 = (long)msg; r5 = 6;
  __asm__ volatile("sc" : "+r"(r0), "+r"(r3) : "r"(r4), "r"(r5) : "memory", "cr0");
  r0 = 1; r3 = 0;
  __asm__ volatile("sc" : "+r"(r0), "+r"(r3) :: "memory", "cr0");
  for (;;);
}
#elif defined(__aarch64__)
void _start(void) {
  register long x8 __asm__("x8") = 64; register long x0 __asm__("x0") = 1;
  register long x1 __asm__("x1") = (long)msg; register long x2 __asm__("x2") = 6;
  __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
  register long y8 __asm__("x8") = 93; register long y0 __asm__("x0") = 0;
  __asm__ volatile("svc 0" :: "r"(y8), "r"(y0));
  for (;;);
}
#endif
`;
for (
  const [target, qemu, pie] of [
    ["i386-linux-gnu", "i386", true],
    ["i386-linux-gnu", "i386", false],
    ["powerpc-linux-gnu", "ppc", false],
    ["aarch64_be-linux-gnu", "aarch64_be", true],
  ] as const
) {
  Deno.test({
    name: `${target} ${pie ? "PIE" : "ET_EXEC"} program runs under qemu after its RUNPATH grew`,
    ignore: !HAVE_CLANG || !has(`qemu-${qemu}-static`) || !HAVE_GCC,
    fn() {
      const dir = mkdtempSync(join(tmpdir(), "sp-grow-"));
      try {
        writeFileSync(join(dir, "s.c"), FREESTANDING);
        const prog = join(dir, "prog");
        ok("clang", [
          `--target=${target}`,
          "-fuse-ld=lld",
          "-nostdlib",
          "-O1",
          ...(pie ? ["-fPIE", "-pie"] : ["-fno-pie", "-no-pie", "-Wl,-E"]),
          "-Wl,--no-dynamic-linker",
          "-Wl,-rpath,/o/lib",
          "-Wl,--enable-new-dtags",
          "-o",
          prog,
          join(dir, "s.c"),
        ]);
        assert.equal(ok(`qemu-${qemu}-static`, [prog]), "hello\n");
        const before = lint(prog);
        const neu = "/a/much/longer/prefix/than/the/old/one/was";
        relocateFile(prog, [["/o", neu]]);
        assert.equal(ok(`qemu-${qemu}-static`, [prog]), "hello\n");
        assert.match(ok("readelf", ["-d", prog]), new RegExp(`\\(RPATH\\).*\\[${neu}/lib\\]`));
        elflint(prog, before);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  });
}

Deno.test("planElfGrowth() refuses a file without a section header for .dynstr", () => {
  const data = new Uint8Array(readFileSync("/bin/sh"));
  // Drop the section headers: e_shnum = 0.
  new DataView(data.buffer).setUint16(60, 0, true);
  assert.throws(
    () =>
      planElfGrowth((o, n) => data.subarray(o, o + n), data.byteLength, {
        rpath: Buffer.from("/x"),
      }),
    (e: unknown) => e instanceof ElfGrowError && /no (DT_RPATH|section header)/.test(e.message),
  );
});

Deno.test({
  name: "relocatePrefix() grows RPATHs into a longer root and refuses a C string that would grow",
  ignore: !HAVE_GCC,
  fn() {
    const dir = mkdtempSync(join(tmpdir(), "sp-grow-"));
    try {
      const oldRoot = join(dir, "r");
      const old = join(oldRoot, "pkg-abc");
      mkdirSync(join(old, "lib"), { recursive: true });
      mkdirSync(join(old, "bin"), { recursive: true });
      writeFileSync(join(dir, "lib.c"), LIB);
      writeFileSync(join(dir, "main.c"), MAIN);
      ok("gcc", ["-shared", "-fPIC", "-o", join(old, "lib/libans.so"), join(dir, "lib.c")]);
      ok("gcc", [
        "-o",
        join(old, "bin/prog"),
        join(dir, "main.c"),
        `-L${old}/lib`,
        "-lans",
        `-Wl,-rpath,${old}/lib`,
      ]);
      // A second program holding its prefix as a C string: that one cannot grow.
      writeFileSync(
        join(dir, "str.c"),
        `int puts(const char *);\nint main(void) { puts("${old}/share"); return 0; }\n`,
      );
      ok("gcc", ["-o", join(old, "bin/str"), join(dir, "str.c"), `-Wl,-rpath,${old}/lib`]);
      const newRoot = join(dir, "a-root-that-is-forty-characters-longer--", "r");
      const neu = join(newRoot, "pkg-abc");
      const info = parseBuildinfo(
        `{buildpath: ${oldRoot}, hash_to_prefix: {abc: ${old}}, ` +
          "relocate_binaries: [bin/prog, lib/libans.so, bin/str], relocate_textfiles: []}",
      );
      const pairs = prefixMap(info, {
        root: newRoot,
        sbangPath: join(newRoot, "bin/sbang"),
        specs: [{ hash: "abc", prefix: neu }],
      });
      const entries = new Map<string, PrefixEntryType>([
        ["bin/prog", "file"],
        ["bin/str", "file"],
        ["lib/libans.so", "file"],
      ]);
      const before = readFileSync(join(old, "bin/str"));
      const plan = planRelocation(old, info, pairs, entries);
      // Only the C string is a problem, named with its file, offset and strings.
      assert.equal(plan.problems.length, 1, JSON.stringify(plan.problems));
      assert.equal(plan.problems[0].file, "bin/str");
      assert.match(plan.problems[0].message, /C string at offset \d+: prefix ".*\/r\/pkg-abc"/);
      assert.throws(
        () => relocatePrefix(old, info, pairs, entries, "pkg"),
        (e: unknown) => e instanceof Error && /bin\/str: C string at offset/.test(e.message),
      );
      assert.deepEqual(readFileSync(join(old, "bin/str")), before);

      // Without it, the prefix relocates and the program runs from the longer root.
      rmSync(join(old, "bin/str"));
      entries.delete("bin/str");
      const info2 = { ...info, relocateBinaries: ["bin/prog", "lib/libans.so"] };
      assert.equal(relocatePrefix(old, info2, pairs, entries, "pkg"), 1);
      mkdirSync(newRoot, { recursive: true });
      ok("mv", [old, neu]);
      assert.equal(ok(join(neu, "bin/prog"), []), "answer=42\n");
      assert.match(ok("readelf", ["-d", join(neu, "bin/prog")]), new RegExp(`${neu}/lib`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
});
