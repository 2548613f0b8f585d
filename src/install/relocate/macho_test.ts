/**
 * Mach-O relocation and code signatures on files built by clang + ld64.lld: load commands
 * read back with llvm-otool, signatures checked by recomputing every page hash here and
 * against what the linker signs for the same bytes, and results compared with Spack's own
 * `relocate_macho_binaries` (through `spack python`, with llvm-install-name-tool as
 * `install_name_tool`) when a Spack work tree is given.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { spawnSync } from "node:child_process";
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  buildFat,
  buildMacho,
  HAVE_MACHO_TOOLS,
  INSTALL_NAME_TOOL,
  loadPaths,
  OTOOL,
  run,
  verifySignature,
} from "../../../tests/_macho.ts";
import {
  applyRelocation,
  parseBuildinfo,
  planRelocation,
  type RelocationPlan,
} from "../relocate.ts";
import type { PrefixEntryType } from "../extract.ts";
import { parseMacho } from "./macho.ts";
import { resignSlice, signAdhoc } from "./codesign.ts";

const SPACK = Deno.env.get("SPACKLE_ORACLE_SPACK_V3");

/** Plans (and applies, when there is no problem) the relocation of files of a prefix. */
function relocate(prefix: string, files: string[], pairs: [string, string][]): RelocationPlan {
  const info = parseBuildinfo(
    `{buildpath: /nowhere, hash_to_prefix: {}, relocate_binaries: [${files.join(", ")}]}`,
  );
  const entries = new Map<string, PrefixEntryType>(files.map((f) => [f, "file"]));
  const plan = planRelocation(prefix, info, pairs, entries);
  if (!plan.problems.length) applyRelocation(prefix, plan);
  return plan;
}

for (const arch of ["arm64", "x86_64", "fat"] as const) {
  Deno.test({
    name: `Mach-O ${arch}: load commands, rpaths and C strings move to a shorter prefix` +
      (arch === "x86_64" ? "" : ", and the code signature is regenerated"),
    ignore: !HAVE_MACHO_TOOLS,
    fn() {
      const dir = mkdtempSync(join(tmpdir(), "sp-macho-"));
      try {
        const old = join(dir, "old-build-prefix", "pkg");
        let files = ["bin/prog", "lib/libans.dylib", "lib/libdep.dylib", "lib/libweak.dylib"];
        if (arch === "fat") buildFat(dir, old);
        else buildMacho(dir, old, arch);
        const neu = join(dir, "n", "pkg");
        const plan = relocate(old, files, [[old, neu]]);
        assert.deepEqual(plan.problems, []);
        for (const f of files) {
          const paths = loadPaths(join(old, f));
          assert.ok(paths.length > 0);
          for (const p of paths) assert.ok(!p.includes(old), `${f}: ${p}`);
        }
        assert.deepEqual(loadPaths(join(old, "bin/prog")).slice(0, 5), [
          `LC_RPATH ${neu}/lib`,
          "LC_RPATH @loader_path/../lib",
          "LC_LOAD_DYLINKER /usr/lib/dyld",
          `LC_LOAD_DYLIB ${neu}/lib/libans.dylib`,
          `LC_LOAD_WEAK_DYLIB ${neu}/lib/libweak.dylib`,
        ]);
        assert.ok(
          loadPaths(join(old, "lib/libans.dylib")).includes(
            `LC_REEXPORT_DYLIB ${neu}/lib/libdep.dylib`,
          ),
        );
        assert.ok(
          loadPaths(join(old, "lib/libans.dylib")).includes(`LC_ID_DYLIB ${neu}/lib/libans.dylib`),
        );
        // The C string, padded with leading slashes as Spack does.
        const text = readFileSync(join(old, "bin/prog")).toString("latin1");
        assert.match(text, new RegExp(`/+${neu}/share/data\0`));
        assert.ok(!text.includes(old));
        if (arch !== "x86_64") { for (const f of files) verifySignature(join(old, f)); }
        files = [];
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  });
}

Deno.test({
  name: "Mach-O dylib moves to a longer prefix inside its header padding; refused beyond it",
  ignore: !HAVE_MACHO_TOOLS,
  fn() {
    const dir = mkdtempSync(join(tmpdir(), "sp-macho-"));
    try {
      const old = join(dir, "o");
      buildMacho(dir, old, "arm64", 0x100);
      const files = ["lib/libans.dylib"];
      const longer = join(dir, "a-longer-prefix-".repeat(3));
      assert.deepEqual(relocate(old, files, [[old, longer]]).problems, []);
      assert.ok(loadPaths(join(old, files[0])).includes(`LC_ID_DYLIB ${longer}/lib/libans.dylib`));
      verifySignature(join(old, files[0]));
      const before = readFileSync(join(old, files[0]));
      const huge = join(dir, "x".repeat(200));
      const plan = relocate(old, files, [[longer, huge]]);
      // The load commands are refused (the C-string pass then also names their old strings).
      assert.ok(plan.problems.every((p) => p.file === "lib/libans.dylib"));
      const lc = plan.problems.find((p) => /load commands/.test(p.message));
      assert.ok(lc, JSON.stringify(plan.problems));
      assert.match(lc.message, /load commands would grow to \d+ bytes/);
      assert.match(lc.message, /header padding holds \d+/);
      assert.deepEqual(readFileSync(join(old, files[0])), before);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "the regenerated signature is the one ld64.lld writes for the same bytes",
  ignore: !HAVE_MACHO_TOOLS,
  fn() {
    const dir = mkdtempSync(join(tmpdir(), "sp-macho-"));
    try {
      // Two builds whose prefixes have the same length: relocating the first gives the bytes
      // of the second, which the linker signed itself.
      const a = join(dir, "aaaa", "pkg");
      const b = join(dir, "bbbb", "pkg");
      buildMacho(join(dir, "ba"), a, "arm64");
      buildMacho(join(dir, "bb"), b, "arm64");
      const files = ["bin/prog", "lib/libans.dylib"];
      assert.deepEqual(relocate(a, files, [[a, b]]).problems, []);
      for (const f of files) {
        const ours = readFileSync(join(a, f));
        const linker = readFileSync(join(b, f));
        // Everything but the UUID (a hash of the original contents) is the same, signature
        // included once the UUID is put back.
        const uuidAt = ours.indexOf(Buffer.from([0x1b, 0, 0, 0, 0x18, 0, 0, 0])) + 8;
        assert.ok(uuidAt > 8);
        linker.copy(ours, uuidAt, uuidAt, uuidAt + 16);
        const data = new Uint8Array(ours);
        const slice = parseMacho((o, n) => data.subarray(o, o + n), data.byteLength)![0];
        for (const w of resignSlice((o, n) => data.subarray(o, o + n), 0, slice.codeSignature!)) {
          data.set(w.bytes, w.offset);
        }
        assert.deepEqual(Buffer.from(data), linker, f);
        assert.deepEqual(verifySignature(join(b, f)).length, 1);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "Mach-O relocation gives the load commands and C strings Spack's relocation gives",
  ignore: !HAVE_MACHO_TOOLS || !SPACK || !INSTALL_NAME_TOOL,
  fn() {
    const dir = mkdtempSync(join(tmpdir(), "sp-macho-"));
    try {
      const old = join(dir, "old-build-root", "pkg-abc");
      const dep = join(dir, "old-build-root", "dep-xyz");
      const files = ["bin/prog", "lib/libans.dylib", "lib/libdep.dylib", "lib/libweak.dylib"];
      for (const arch of ["arm64", "x86_64", "fat"] as const) {
        rmSync(old, { recursive: true, force: true });
        if (arch === "fat") buildFat(join(dir, arch), old, 0x200, false);
        else buildMacho(join(dir, arch), old, arch, 0x200, false);
        const pairs: [string, string][] = [[old, join(dir, "n", "pkg-abc")], [
          join(dir, "old-build-root"),
          join(dir, "n"),
        ], [dep, join(dir, "n", "dep")]];
        const theirs = join(dir, `spack-${arch}`);
        cpSync(old, theirs, { recursive: true });
        // Spack: relocate_macho_binaries, then the C-string pass, as relocate_package does.
        const bin = join(dir, "bin");
        mkdirSync(bin, { recursive: true });
        rmSync(join(bin, "install_name_tool"), { force: true });
        symlinkSync(
          spawnSync("sh", ["-c", `command -v ${INSTALL_NAME_TOOL}`], {
            encoding: "utf8",
          }).stdout.trim(),
          join(bin, "install_name_tool"),
        );
        const script = join(dir, "reloc.py");
        writeFileSync(
          script,
          "import json, sys\nimport spack.relocate as r\n" +
            "pairs = dict(json.loads(sys.argv[1]))\nfiles = json.loads(sys.argv[2])\n" +
            "r.relocate_macho_binaries(files, pairs)\nr.relocate_text_bin(files, pairs)\n",
        );
        const home = join(dir, "home");
        mkdirSync(home, { recursive: true });
        const cfg = join(dir, "cfg");
        mkdirSync(cfg, { recursive: true });
        writeFileSync(join(cfg, "repos.yaml"), "repos:: {}\n");
        writeFileSync(join(cfg, "bootstrap.yaml"), "bootstrap:\n  sources:: []\n");
        run(join(SPACK!, "bin", "spack"), [
          "-C",
          cfg,
          "python",
          script,
          JSON.stringify(pairs),
          JSON.stringify(files.map((f) => join(theirs, f))),
        ], {
          PATH: `${bin}:/usr/bin:/bin`,
          HOME: home,
          SPACK_DISABLE_LOCAL_CONFIG: "1",
          SPACK_USER_CACHE_PATH: join(home, "cache"),
        });
        assert.deepEqual(relocate(old, files, pairs).problems, []);
        for (const f of files) {
          // Spack changes only LC_LOAD_DYLIB, LC_ID_DYLIB and LC_RPATH with install_name_tool;
          // its C-string pass then rewrites the other paths in place, slash-padded.
          const norm = (p: string) => loadPaths(p).map((l) => l.replace(/\/+/g, "/"));
          assert.deepEqual(norm(join(old, f)), norm(join(theirs, f)), `${arch} ${f}`);
          const cstrings = (p: string) =>
            run("llvm-objdump", ["--macho", "--section=__TEXT,__cstring", "--full-contents", p])
              .split("\n").slice(1).join("\n");
          assert.equal(cstrings(join(old, f)), cstrings(join(theirs, f)), `${arch} ${f}`);
        }
        if (arch === "arm64") { for (const f of files) verifySignature(join(old, f)); }
        rmSync(theirs, { recursive: true });
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
});

/** The file as the linker would have written it unsigned: its signature taken out. */
function stripSignature(data: Buffer): Buffer {
  const ncmds = data.readUInt32LE(16);
  let at = 32;
  for (let i = 0; i < ncmds; i++) {
    const cmd = data.readUInt32LE(at);
    const size = data.readUInt32LE(at + 4);
    if (cmd === 0x1d) {
      assert.equal(i, ncmds - 1, "LC_CODE_SIGNATURE is the last load command");
      const dataoff = data.readUInt32LE(at + 8);
      const out = Buffer.from(data.subarray(0, dataoff));
      out.fill(0, at, at + size);
      out.writeUInt32LE(ncmds - 1, 16);
      out.writeUInt32LE(data.readUInt32LE(20) - size, 20);
      // __LINKEDIT ends where the signature began.
      let s = 32;
      for (let j = 0; j < ncmds - 1; j++) {
        if (
          out.readUInt32LE(s) === 0x19 && out.toString("latin1", s + 8, s + 18) === "__LINKEDIT"
        ) {
          const fileoff = Number(out.readBigUInt64LE(s + 40));
          out.writeBigUInt64LE(BigInt(dataoff - fileoff), s + 48);
          out.writeBigUInt64LE(BigInt(dataoff - fileoff), s + 32);
        }
        s += out.readUInt32LE(s + 4);
      }
      return out;
    }
    at += size;
  }
  throw new Error("no signature");
}

Deno.test({
  name: "signAdhoc() signs an unsigned arm64 file as ld64.lld -adhoc_codesign does",
  ignore: !HAVE_MACHO_TOOLS,
  fn() {
    const dir = mkdtempSync(join(tmpdir(), "sp-macho-"));
    try {
      const built = buildMacho(dir, join(dir, "p"), "arm64");
      for (const path of [built.prog, built.lib]) {
        const linker = readFileSync(path);
        const unsigned = stripSignature(linker);
        const data = new Uint8Array(unsigned);
        const name = path.split("/").pop()!;
        const r = signAdhoc((o, n) => data.subarray(o, o + n), data.byteLength, name);
        assert.ok(r, name);
        const end = Math.max(...r.writes.map((w) => w.offset + w.bytes.byteLength));
        const out = Buffer.alloc(end);
        out.set(data);
        for (const w of r.writes) out.set(w.bytes, w.offset);
        assert.deepEqual(out, linker, name);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "an unsigned arm64 Mach-O file is signed when relocation changes it",
  ignore: !HAVE_MACHO_TOOLS,
  fn() {
    const dir = mkdtempSync(join(tmpdir(), "sp-macho-"));
    try {
      const old = join(dir, "old-prefix", "pkg");
      buildMacho(dir, old, "arm64", 0x200, true, ["-Wl,-no_adhoc_codesign"]);
      const files = ["bin/prog", "lib/libans.dylib"];
      for (const f of files) {
        assert.ok(!run(OTOOL!, ["-l", join(old, f)]).includes("LC_CODE_SIGNATURE"));
      }
      const neu = join(dir, "n", "pkg");
      assert.deepEqual(relocate(old, files, [[old, neu]]).problems, []);
      for (const f of files) {
        assert.ok(run(OTOOL!, ["-l", join(old, f)]).includes("LC_CODE_SIGNATURE"), f);
        assert.equal(verifySignature(join(old, f)).length, 1, f);
        assert.ok(loadPaths(join(old, f)).some((l) => l.includes(neu)), f);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
});
