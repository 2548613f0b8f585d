import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { applyElfUpdates, parseElf, planElfUpdates } from "./relocate_elf.ts";
import { makeElf } from "../../tests/_elf.ts";

const enc = new TextEncoder();

const b = (s: string) => Buffer.from(s);

for (const is64 of [true, false]) {
  for (const le of [true, false]) {
    for (const runpath of [false, true]) {
      const kind = `ELF${is64 ? 64 : 32} ${le ? "LE" : "BE"} ${runpath ? "RUNPATH" : "RPATH"}`;
      Deno.test(`parseElf() and planElfUpdates() rewrite the ${kind} string in place`, () => {
        const data = makeElf({
          is64,
          le,
          runpath,
          rpath: "/old/root/pkg-a/lib::/old/root/pkg-b/lib:$ORIGIN/../lib:/usr/lib",
          interp: "/old/root/glibc/lib/ld.so",
        });
        const info = parseElf(data)!;
        assert.ok(info);
        assert.equal(info.is64, is64);
        assert.equal(info.littleEndian, le);
        assert.equal(info.soname, "libx.so.1");
        assert.deepEqual(info.needed, ["libc.so.6"]);
        assert.equal(info.rpath?.runpath, runpath);
        const ups = planElfUpdates(data, [[b("/old/root/pkg-a"), b("/n/a")], [
          b("/old/root"),
          b("/n"),
        ]]);
        assert.equal(ups.length, 2);
        applyElfUpdates(data, ups);
        const after = parseElf(data)!;
        // Empty entries are dropped, entries not under an old prefix are kept.
        assert.equal(
          Buffer.from(after.rpath!.value).toString(),
          "/n/a/lib:/n/pkg-b/lib:$ORIGIN/../lib:/usr/lib",
        );
        assert.equal(Buffer.from(after.interp!.value).toString(), "/n/glibc/lib/ld.so");
        assert.equal(after.soname, "libx.so.1");
        assert.deepEqual(after.needed, ["libc.so.6"]);
      });
    }
  }
}

Deno.test("applyElfUpdates() refuses a string that would grow and changes nothing", () => {
  const data = makeElf({ is64: true, le: true, runpath: true, rpath: "/o/lib", interp: "/o/ld" });
  const before = data.slice();
  const ups = planElfUpdates(data, [[b("/o"), b("/a/much/longer/prefix")]]);
  assert.throws(() => applyElfUpdates(data, ups), RangeError);
  assert.deepEqual(data, before);
});

Deno.test("parseElf() returns undefined for non-ELF and truncated input", () => {
  assert.equal(parseElf(enc.encode("#!/bin/sh\necho hi\n")), undefined);
  const data = makeElf({ is64: true, le: true, runpath: false, rpath: "/o", interp: "/o/ld" });
  assert.equal(parseElf(data.subarray(0, 40)), undefined);
});
