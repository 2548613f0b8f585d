import assert from "node:assert/strict";
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mkdtempSync } from "node:fs";
import { type TarWriteEntry, writeTar } from "../core/tar.ts";
import { InvalidDataError } from "../errors.ts";
import { extractTarball } from "./extract.ts";

const P = "opt/spack/linux-x86_64/pkg-1.0-abc";
const enc = new TextEncoder();

function file(name: string, text: string, mode = 0o644): TarWriteEntry {
  return { header: { name, type: "file", mode }, body: enc.encode(text) };
}
function dir(name: string): TarWriteEntry {
  return { header: { name, type: "directory", mode: 0o755 } };
}
/** A well-formed package tarball with `extra` members inside the prefix. */
function pkg(extra: TarWriteEntry[]): TarWriteEntry[] {
  return [
    dir("opt"),
    dir("opt/spack"),
    dir("opt/spack/linux-x86_64"),
    dir(P),
    ...extra,
    dir(`${P}/.spack`),
    file(`${P}/.spack/binary_distribution`, "{buildpath: /x}"),
  ];
}

async function extract(entries: TarWriteEntry[]) {
  const staging = mkdtempSync(join(tmpdir(), "sp-ext-"));
  try {
    return { staging, result: await extractTarball(writeTar(entries), staging) };
  } catch (e) {
    rmSync(staging, { recursive: true, force: true });
    throw e;
  }
}

Deno.test("extractTarball() strips the build prefix and applies Spack's modes", async () => {
  const { staging, result } = await extract(pkg([
    dir(`${P}/bin`),
    file(`${P}/bin/run`, "#!/bin/sh\n", 0o4755),
    file(`${P}/bin/data`, "x", 0o600),
    { header: { name: `${P}/bin/alias`, type: "symlink", mode: 0o777, linkname: "run" } },
    { header: { name: `${P}/bin/sh`, type: "symlink", mode: 0o777, linkname: "/bin/sh" } },
    { header: { name: `${P}/bin/hard`, type: "link", mode: 0o644, linkname: `${P}/bin/data` } },
  ]));
  try {
    assert.equal(result.memberPrefix, P);
    assert.deepEqual([...result.entries.keys()], [
      "bin",
      "bin/run",
      "bin/data",
      "bin/alias",
      "bin/sh",
      "bin/hard",
      ".spack",
      ".spack/binary_distribution",
    ]);
    const st = (p: string) => lstatSync(join(result.prefixDir, p));
    assert.equal(st("bin/run").mode & 0o7777, 0o755); // setuid dropped
    assert.deepEqual(result.strippedModes, ["bin/run"]);
    assert.equal(st("bin/data").mode & 0o7777, 0o644);
    assert.equal(st("bin").mode & 0o7777, 0o2755);
    assert.equal(readlinkSync(join(result.prefixDir, "bin/sh")), "/bin/sh");
    assert.equal(st("bin/hard").ino, st("bin/data").ino);
    assert.equal(result.hardlinks.get("bin/hard"), "bin/data");
    assert.equal(readFileSync(join(result.prefixDir, "bin/run"), "utf8"), "#!/bin/sh\n");
  } finally {
    rmSync(staging, { recursive: true });
  }
});

const hostile: [string, TarWriteEntry[], RegExp][] = [
  ["a name with ..", pkg([file(`${P}/../../../../evil`, "x")]), /contains "\.\."/],
  ["an absolute name", [...pkg([]), file("/tmp/evil", "x")], /absolute name/],
  ["a name outside the prefix", [...pkg([]), file("opt/other", "x")], /outside of the package/],
  [
    "a write through a symlink",
    pkg([
      { header: { name: `${P}/lib`, type: "symlink", mode: 0o777, linkname: "/tmp" } },
      file(`${P}/lib/evil`, "x"),
    ]),
    /written through the symlink/,
  ],
  [
    "a relative symlink leading outside",
    pkg([{ header: { name: `${P}/up`, type: "symlink", mode: 0o777, linkname: "../../x" } }]),
    /leads outside/,
  ],
  [
    "a hardlink to a file outside the archive",
    pkg([{ header: { name: `${P}/h`, type: "link", mode: 0o644, linkname: "etc/passwd" } }]),
    /not a regular file extracted before it/,
  ],
  [
    "a device node",
    pkg([{ header: { name: `${P}/dev`, type: "character-device", mode: 0o644 } }]),
    /character-device/,
  ],
  ["a FIFO", pkg([{ header: { name: `${P}/fifo`, type: "fifo", mode: 0o644 } }]), /fifo/],
  ["no buildinfo", [dir(P), file(`${P}/x`, "x")], /not a Spack package/],
  ["a member twice", pkg([file(`${P}/a`, "1"), file(`${P}/a`, "2")]), /appears twice/],
];

for (const [what, entries, msg] of hostile) {
  Deno.test(`extractTarball() refuses ${what} and writes nothing outside staging`, async () => {
    const before = existsSync("/tmp/evil");
    await assert.rejects(extract(entries), (e: unknown) => {
      assert.ok(e instanceof InvalidDataError, String(e));
      assert.match((e as Error).message, msg);
      return true;
    });
    assert.equal(existsSync("/tmp/evil"), before);
  });
}

Deno.test("extractions running at once with a rewriter keep each file's bytes (small chunks)", async () => {
  // A network store delivers small chunks with awaits between them: two extractions that
  // gather files for their rewriters must not share the gathering buffer.
  const rewriter = {
    directory() {},
    wants: () => true,
    rewrite: () => undefined,
  };
  const content = (c: string) => c.repeat(20_000);
  const tarOf = (c: string) => writeTar(pkg([file(`${P}/data.txt`, content(c))]));
  const trickle = async function* (tar: AsyncIterable<Uint8Array> | Iterable<Uint8Array>) {
    for await (const chunk of tar) {
      for (let o = 0; o < chunk.byteLength; o += 700) {
        await new Promise((r) => setTimeout(r, 0));
        yield chunk.slice(o, o + 700);
      }
    }
  };
  const dirs = ["a", "b", "c"].map(() => mkdtempSync(join(tmpdir(), "sp-ext-")));
  try {
    const results = await Promise.all(
      ["a", "b", "c"].map((c, i) => extractTarball(trickle(tarOf(c)), dirs[i], { rewriter })),
    );
    ["a", "b", "c"].forEach((c, i) => {
      const got = readFileSync(join(results[i].prefixDir, "data.txt"), "utf8");
      assert.equal(got.length, 20_000);
      assert.ok(got === content(c), `extraction ${c} holds only its own bytes`);
    });
  } finally {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
});

/** The chunks of `tar` re-delivered through one buffer that is overwritten by the next chunk. */
async function* reusing(tar: AsyncIterable<Uint8Array> | Iterable<Uint8Array>) {
  const buf = new Uint8Array(4096);
  for await (const chunk of tar) {
    for (let o = 0; o < chunk.byteLength; o += buf.byteLength) {
      const part = chunk.subarray(o, o + buf.byteLength);
      buf.fill(0xee); // what was handed out before is garbage now
      buf.set(part);
      yield buf.subarray(0, part.byteLength);
    }
  }
}

Deno.test("extractTarball() keeps every small file's bytes and mode when its source reuses its buffers", async () => {
  // Small files are written on the thread pool while the archive streams on: their bytes
  // must be taken before the source's next chunk overwrites them (as gunzipReader's do).
  const files: TarWriteEntry[] = [dir(`${P}/d`)];
  const want = new Map<string, string>();
  for (let i = 0; i < 300; i++) {
    const text = `file ${i} `.repeat(1 + (i * 37) % 900); // 7 B to 12 KB: across chunks
    files.push(file(`${P}/d/f${i}`, text, i % 3 ? 0o644 : 0o755));
    want.set(`d/f${i}`, text);
  }
  files.push({ header: { name: `${P}/d/hard`, type: "link", mode: 0o644, linkname: `${P}/d/f7` } });
  const rewriter = {
    directory() {},
    wants: (_d: string, base: string) => base.endsWith("5"),
    rewrite: (_d: string, _b: string, data: Uint8Array) => [data.subarray(0, 4), enc.encode("!")],
  };
  const staging = mkdtempSync(join(tmpdir(), "sp-ext-"));
  try {
    const r = await extractTarball(reusing(writeTar(pkg(files))), staging, { rewriter });
    for (const [rel, text] of want) {
      const got = readFileSync(join(r.prefixDir, rel), "utf8");
      assert.equal(got, rel.endsWith("5") ? text.slice(0, 4) + "!" : text, rel);
      const i = Number(rel.slice("d/f".length));
      assert.equal(lstatSync(join(r.prefixDir, rel)).mode & 0o7777, i % 3 ? 0o644 : 0o755, rel);
    }
    assert.equal(
      lstatSync(join(r.prefixDir, "d/hard")).ino,
      lstatSync(join(r.prefixDir, "d/f7")).ino,
    );
    assert.equal(r.execFiles.length, 100);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
});

Deno.test("extractTarball() fails with a small file's failed write, and nothing writes after it", async () => {
  const files: TarWriteEntry[] = [dir(`${P}/d`)];
  for (let i = 0; i < 200; i++) files.push(file(`${P}/d/a${i}`, "x".repeat(100)));
  files.push(file(`${P}/d/${"n".repeat(300)}`, "too long a name")); // ENAMETOOLONG
  for (let i = 0; i < 200; i++) files.push(file(`${P}/d/b${i}`, "y".repeat(100)));
  const staging = mkdtempSync(join(tmpdir(), "sp-ext-"));
  try {
    await assert.rejects(
      extractTarball(writeTar(pkg(files)), staging),
      (e: unknown) => (e as { code?: string }).code === "ENAMETOOLONG",
    );
    const d = join(staging, "t", P, "d");
    const count = () => readdirSync(d).length;
    const n = count();
    assert.ok(n >= 200 && n < 400, `${n} files`);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(count(), n);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
});

Deno.test("extractTarball() writes a small file its rewriter grows past a megabyte (relocation to a much longer prefix)", async () => {
  const rewriter = {
    directory() {},
    wants: (_d: string, base: string) => base === "grown.txt",
    // 40 KiB in, 2 MiB out: each piece repeated, as a prefix 50 times longer would be.
    rewrite: (_d: string, _b: string, data: Uint8Array) => Array(50).fill(data),
  };
  const staging = mkdtempSync(join(tmpdir(), "sp-ext-"));
  try {
    const text = "x".repeat(40 << 10);
    const r = await extractTarball(
      writeTar(pkg([file(`${P}/grown.txt`, text), file(`${P}/after.txt`, "after")])),
      staging,
      { rewriter },
    );
    assert.equal(readFileSync(join(r.prefixDir, "grown.txt"), "utf8"), text.repeat(50));
    assert.equal(readFileSync(join(r.prefixDir, "after.txt"), "utf8"), "after");
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
});
