/**
 * Packing fixture prefixes: each v3 fixture tarball is unpacked as-is (no relocation) into a
 * temporary directory and packed again under its original member names with the buildinfo
 * facts it records. The result must have the same members (names, types, modes, links, sizes,
 * order) and the same buildinfo text as the tarball real Spack wrote.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { fixture, HAVE_FIXTURES } from "./_fixtures.ts";
import { packPrefix, packToFile, prefixEntries } from "../src/push/pack.ts";
import { NotFoundError } from "../src/errors.ts";
import type { BuildinfoMeta } from "../src/push/buildinfo.ts";
import { readTar, writeTar } from "../src/core/tar.ts";
import { gunzipBytes, gunzipStream } from "../src/core/gzip.ts";
import { sha256Hex } from "../src/core/digest.ts";
import { createReadStream } from "node:fs";
import { Readable } from "node:stream";

interface Member {
  name: string;
  type: string;
  mode: number;
  size: number;
  linkname: string;
}

async function members(path: string): Promise<{ list: Member[]; buildinfo: string }> {
  const web = Readable.toWeb(createReadStream(path)) as ReadableStream<Uint8Array>;
  const list: Member[] = [];
  let buildinfo = "";
  for await (const e of readTar(web.pipeThrough(gunzipStream()))) {
    const h = e.header;
    list.push({
      name: h.name,
      type: h.type,
      mode: h.mode,
      size: h.type === "file" ? h.size : 0,
      linkname: h.linkname ?? "",
    });
    if (h.name.endsWith(".spack/binary_distribution")) {
      let text = "";
      const dec = new TextDecoder();
      for await (const c of e.body) text += dec.decode(c, { stream: true });
      buildinfo = text + dec.decode();
    } else {
      for await (const _ of e.body) { /* skip */ }
    }
  }
  return { list, buildinfo };
}

function tarballs(mirror: string): string[] {
  const out: string[] = [];
  const root = fixture(mirror, "blobs", "sha256");
  for (const d of readdirSync(root)) {
    for (const f of readdirSync(join(root, d))) {
      const p = join(root, d, f);
      const b = readFileSync(p);
      if (b[0] === 0x1f && b[1] === 0x8b && b.length > 1500) out.push(p);
    }
  }
  return out;
}

Deno.test({
  name: "packing an unpacked v3 fixture tarball gives Spack's tar bytes, members and buildinfo",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const found = tarballs("v3-unsigned");
    let packed = 0;
    for (const tgz of found) {
      const orig = await members(tgz);
      if (!orig.buildinfo) continue; // a spec blob
      const info = parse(orig.buildinfo) as Record<string, unknown>;
      const tmp = await Deno.makeTempDir();
      try {
        const x = await new Deno.Command("tar", { args: ["-xzf", tgz, "-C", tmp] }).output();
        assert.ok(x.success, new TextDecoder().decode(x.stderr));
        const buildpath = info.buildpath as string;
        const memberPrefix = `${buildpath}/${info.relative_prefix}`;
        const meta: BuildinfoMeta = {
          sbangInstallPath: info.sbang_install_path as string,
          buildpath,
          spackprefix: info.spackprefix as string,
          relativePrefix: info.relative_prefix as string,
          hashToPrefix: info.hash_to_prefix as Record<string, string>,
        };
        const out = join(tmp, "out.tar.gz");
        const res = await packToFile({ prefix: tmp + memberPrefix, memberPrefix, meta }, out);
        const mine = await members(out);
        assert.deepEqual(mine.list, orig.list, tgz);
        assert.deepEqual(mine.buildinfo, orig.buildinfo);
        assert.deepEqual(res.buildinfo, orig.buildinfo);
        assert.deepEqual(res.descriptor.size, Deno.statSync(out).size);
        // The uncompressed tar is byte-for-byte Spack's (only the deflate output differs).
        const a = gunzipBytes(readFileSync(tgz));
        const b = gunzipBytes(readFileSync(out));
        assert.ok(a.length === b.length && a.every((x, i) => x === b[i]), `tar bytes of ${tgz}`);
        assert.equal(sha256Hex(readFileSync(out)), res.descriptor.checksum);
        packed++;
      } finally {
        await Deno.remove(tmp, { recursive: true });
      }
    }
    assert.deepEqual(packed, 4);
  },
});

Deno.test("packing big files: text searched past its first megabyte, ELF listed, random data left out; the checksum (hashed on a worker past 16 MB) is the file's; packPrefix gives the same tar", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const prefix = join(tmp, "store", "linux-x86_64", "big-1.0-" + "a".repeat(32));
    const mk = (rel: string, data: Uint8Array) => {
      mkdirSync(join(prefix, rel, ".."), { recursive: true });
      writeFileSync(join(prefix, rel), data);
    };
    const enc = new TextEncoder();
    const MB = 1 << 20;
    // 3 MB of text mentioning the prefix only at its end (after several read windows).
    mk("share/late.txt", enc.encode("x".repeat(3 * MB) + `\n${prefix}/lib\n`));
    // Text whose only mention is inside a longer path: not relocated.
    mk("share/inside.txt", enc.encode("y".repeat(2 * MB) + `/other${prefix}/lib\n`));
    const elf = new Uint8Array(2 * MB);
    elf.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]);
    mk("bin/exe", elf);
    // Stored as is: the tarball passes the size from which it is hashed on a worker.
    const random = new Uint8Array(20 * MB);
    for (let i = 0; i < random.length; i += 65536) {
      crypto.getRandomValues(random.subarray(i, i + 65536));
    }
    random[0] = 0; // not text
    mk("share/random.bin", random);
    mk("share/small.txt", enc.encode(`see ${prefix}/share\n`));
    const meta: BuildinfoMeta = {
      sbangInstallPath: join(tmp, "store", "bin", "sbang"),
      buildpath: join(tmp, "store"),
      spackprefix: "/spack",
      relativePrefix: "linux-x86_64/big-1.0-" + "a".repeat(32),
      hashToPrefix: { ["a".repeat(32)]: prefix },
    };
    const out = join(tmp, "out.tar.gz");
    const res = await packToFile({ prefix, meta }, out);
    assert.deepEqual(res.lists.relocateBinaries, ["bin/exe"]);
    assert.deepEqual(res.lists.relocateTextfiles.sort(), ["share/late.txt", "share/small.txt"]);
    const { list } = await members(out);
    const file = (n: string) => list.find((m) => m.name === toMember(prefix, n));
    assert.equal(file("share/late.txt")?.size, 3 * MB + prefix.length + 6);
    assert.equal(file("share/random.bin")?.size, 20 * MB);
    const bytes = readFileSync(out);
    assert.ok(bytes.length > 20 * MB);
    assert.equal(res.descriptor.size, bytes.length);
    assert.equal(res.descriptor.checksum, sha256Hex(bytes));
    // The stream form packs the same tar.
    const { stream, result } = packPrefix({ prefix, meta });
    const viaStream = gunzipBytes(new Uint8Array(await new Response(stream).arrayBuffer()));
    assert.deepEqual(viaStream, gunzipBytes(readFileSync(out)));
    assert.deepEqual((await result).lists, res.lists);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("packToFile: a missing prefix is an error naming it, and no file is left behind", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const out = join(tmp, "out.tar.gz");
    const meta: BuildinfoMeta = {
      sbangInstallPath: "/s/bin/sbang",
      buildpath: "/s",
      spackprefix: "/spack",
      relativePrefix: "x",
      hashToPrefix: {},
    };
    await assert.rejects(
      packToFile({ prefix: join(tmp, "nope"), meta }, out),
      (e) => e instanceof NotFoundError && e.message.includes(join(tmp, "nope")),
    );
    assert.equal(existsSync(out), false);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

function toMember(prefix: string, rel: string): string {
  return `${prefix}/${rel}`.replace(/^\/+/, "");
}

Deno.test("stored gzip members (random blocks) are valid gzip that Python's gzip reads, for sizes around deflate's 64 KiB block", async () => {
  const { storedMember, storedMemberSize } = await import("../src/push/pack.ts");
  const sizes = [0, 1, 65534, 65535, 65536, 131070, 131071, 1 << 20];
  const members: Uint8Array[] = [];
  const inputs: Uint8Array[] = [];
  for (const n of sizes) {
    const data = new Uint8Array(n);
    for (let i = 0; i < n; i += 65536) crypto.getRandomValues(data.subarray(i, i + 65536));
    const out = new Uint8Array(storedMemberSize(n) + 7).fill(0xaa);
    const m = storedMember(data, out);
    assert.equal(m.length, storedMemberSize(n), `size of the member of ${n} bytes`);
    assert.deepEqual(gunzipBytes(m), data, `${n} bytes round-trip (crc and size checked)`);
    members.push(m);
    inputs.push(data);
  }
  // One multi-member file, as a tarball is written: Python's gzip reads it whole.
  const all = new Uint8Array(members.reduce((a, m) => a + m.length, 0));
  let o = 0;
  for (const m of members) all.set(m, o), o += m.length;
  const py = new Deno.Command("python3", {
    args: [
      "-c",
      "import gzip,hashlib,sys; print(hashlib.sha256(gzip.decompress(sys.stdin.buffer.read())).hexdigest())",
    ],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const w = py.stdin.getWriter();
  await w.write(all);
  await w.close();
  const res = await py.output();
  assert.ok(res.success, "python3 reads the members");
  const joined = new Uint8Array(inputs.reduce((a, d) => a + d.length, 0));
  o = 0;
  for (const d of inputs) joined.set(d, o), o += d.length;
  assert.equal(new TextDecoder().decode(res.stdout).trim(), sha256Hex(joined));
});

Deno.test("big files read when the pool has room for them, small files packed in between: the same tar as the plain tar writer gives", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const prefix = join(tmp, "store", "linux-x86_64", "mix-1.0-" + "b".repeat(32));
    const mk = (rel: string, data: Uint8Array) => {
      mkdirSync(join(prefix, rel, ".."), { recursive: true });
      writeFileSync(join(prefix, rel), data);
    };
    const enc = new TextEncoder();
    const MB = 1 << 20;
    const noise = (n: number, seed: number) => {
      const b = new Uint8Array(n);
      let x = seed;
      for (let i = 0; i < n; i++) {
        x = (x * 1103515245 + 12345) >>> 0;
        b[i] = x >>> 24;
      }
      return b;
    };
    // Big files of every kind (sizes not multiples of anything), each between small files, in
    // directories that sort before and after one another.
    for (let d = 0; d < 3; d++) {
      const elf = noise(MB + 77_777 * (d + 1), d + 1);
      elf.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]);
      mk(`d${d}/a-exe`, elf);
      mk(`d${d}/b-random.bin`, noise(2 * MB + 4099 * d, 100 + d));
      mk(`d${d}/c-text.txt`, enc.encode(`${prefix}/lib\n`.repeat(40_000 + 999 * d)));
      for (let i = 0; i < 200; i++) mk(`d${d}/s${i}.txt`, enc.encode(`${i} ${prefix}\n`.repeat(i)));
      mk(`d${d}/z-last.bin`, noise(MB + 1 + d, 200 + d));
    }
    const meta: BuildinfoMeta = {
      sbangInstallPath: join(tmp, "store", "bin", "sbang"),
      buildpath: join(tmp, "store"),
      spackprefix: "/spack",
      relativePrefix: "linux-x86_64/mix-1.0-" + "b".repeat(32),
      hashToPrefix: { ["b".repeat(32)]: prefix },
    };
    const plainOut = {
      lists: { relocateBinaries: [], relocateLinks: [], relocateTextfiles: [] },
      buildinfo: "",
    };
    const plain = new Uint8Array(
      await new Response(writeTar(prefixEntries({ prefix, meta }, plainOut))).arrayBuffer(),
    );
    for (const blockSize of [1 << 20, 256 << 10]) {
      const out = join(tmp, `out-${blockSize}.tar.gz`);
      const res = await packToFile({ prefix, meta, blockSize, parallel: 2 }, out);
      assert.deepEqual(gunzipBytes(readFileSync(out)), plain);
      assert.deepEqual(res.lists, plainOut.lists);
      assert.equal(res.lists.relocateBinaries.length, 3);
      assert.equal(res.descriptor.checksum, sha256Hex(readFileSync(out)));
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
