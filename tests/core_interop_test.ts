/**
 * The streaming core against the reference tools of the field: Python's tarfile (what Spack
 * uses), GNU tar, gzip, and the real Spack tarballs in the fixtures.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdir, readFile, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  collect,
  gunzipStream,
  gzipBytes,
  readTar,
  sha256Hex,
  streamOf,
  type TarHeader,
  writeTar,
} from "../mod.ts";
import { fixture, HAVE_FIXTURES } from "./_fixtures.ts";

function have(tool: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

interface Member {
  name: string;
  type: string;
  mode: number;
  linkname: string;
  sha256: string;
}

async function membersOf(tar: Uint8Array): Promise<Member[]> {
  const out: Member[] = [];
  for await (const e of readTar(streamOf(tar))) {
    const body = await collect(ReadableStream.from(e.body));
    out.push(member(e.header, body));
  }
  return out;
}

function member(h: TarHeader, body: Uint8Array): Member {
  return {
    name: h.name.replace(/\/$/, ""),
    type: h.type,
    mode: h.mode & 0o7777,
    linkname: h.linkname ?? "",
    sha256: h.type === "file" ? sha256Hex(body) : "",
  };
}

/** Lists a tar with Python's tarfile, in our Member shape. */
function pythonMembers(path: string): Member[] {
  const py = `
import tarfile, hashlib, json, sys
out = []
with tarfile.open(sys.argv[1]) as t:
    for m in t:
        ty = {tarfile.DIRTYPE: "directory", tarfile.SYMTYPE: "symlink", tarfile.LNKTYPE: "link"}.get(m.type, "file")
        h = hashlib.sha256(t.extractfile(m).read()).hexdigest() if m.isfile() else ""
        out.append({"name": m.name, "type": ty, "mode": m.mode, "linkname": m.linkname, "sha256": h})
print(json.dumps(out))
`;
  return JSON.parse(execFileSync("python3", ["-c", py, path], { encoding: "utf8" }));
}

async function makeTree(dir: string) {
  await mkdir(join(dir, "root/sub dir/" + "nested-".repeat(20)), { recursive: true });
  await writeFile(join(dir, "root/plain.txt"), "plain text\n");
  await writeFile(join(dir, "root/empty"), "");
  await writeFile(join(dir, "root/sub dir/ünïcödé.txt"), "ünïcödé\n");
  await writeFile(
    join(dir, "root/sub dir/" + "nested-".repeat(20) + "/f.bin"),
    new Uint8Array([0, 1, 2, 3, 255]),
  );
  await symlink("plain.txt", join(dir, "root/rel-link"));
  await symlink("/" + "very-long-target/".repeat(12), join(dir, "root/long-link"));
}

Deno.test({
  name: "readTar() reads archives written by Python's tarfile and GNU tar as they list them",
  ignore: !have("python3") || !have("tar"),
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      await makeTree(dir);
      execFileSync("python3", [
        "-c",
        "import tarfile,sys\nwith tarfile.open(sys.argv[1],'w',format=tarfile.PAX_FORMAT) as t: t.add('root')",
        join(dir, "py.tar"),
      ], { cwd: dir });
      execFileSync("tar", ["--format=pax", "-cf", join(dir, "gnu.tar"), "root"], { cwd: dir });
      execFileSync("tar", ["--format=gnu", "-cf", join(dir, "gnu-longlink.tar"), "root"], {
        cwd: dir,
      });
      for (const f of ["py.tar", "gnu.tar", "gnu-longlink.tar"]) {
        const ours = await membersOf(await readFile(join(dir, f)));
        const theirs = pythonMembers(join(dir, f));
        assert.deepEqual(ours, theirs, f);
        assert.ok(ours.some((m) => m.name.length > 100), `${f} has a long name`);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "tarballs written by writeTar() are read back identically by Python's tarfile and GNU tar",
  ignore: !have("python3") || !have("tar"),
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const entries = [
        { header: { name: "opt", type: "directory" as const, mode: 0o755 } },
        {
          header: {
            name: "opt/" + "long/".repeat(30) + "x.txt",
            type: "file" as const,
            mode: 0o644,
          },
          body: new TextEncoder().encode("x\n"),
        },
        {
          header: { name: "opt/名前 with space", type: "file" as const, mode: 0o755 },
          body: new Uint8Array(70000).fill(65),
        },
        {
          header: {
            name: "opt/link",
            type: "symlink" as const,
            mode: 0o777,
            linkname: "/" + "t/".repeat(80),
          },
        },
        {
          header: {
            name: "opt/hard",
            type: "link" as const,
            mode: 0o644,
            linkname: "opt/名前 with space",
          },
        },
      ];
      const tar = await collect(writeTar(entries));
      await writeFile(join(dir, "ours.tar"), tar);
      const theirs = pythonMembers(join(dir, "ours.tar"));
      assert.deepEqual(theirs, await membersOf(tar));
      const listing = execFileSync("tar", ["-tvf", join(dir, "ours.tar")], { encoding: "utf8" });
      assert.match(listing, /long\/long\/.*x\.txt/);
      assert.match(listing, /opt\/link -> \/t\/t\//);
      execFileSync("tar", ["-xf", join(dir, "ours.tar")], { cwd: dir });
      assert.equal(
        sha256Hex(await readFile(join(dir, "opt/名前 with space"))),
        sha256Hex(new Uint8Array(70000).fill(65)),
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "writeTar() writes the same bytes as Python's tarfile in PAX format (what Spack uses)",
  ignore: !have("python3"),
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      // The same members built by tarfile (uid/gid 0, empty names, mtime 0, as Spack
      // normalises them) and by writeTar(), in the same order.
      const py = `
import tarfile, io, sys
members = [
  ("opt", tarfile.DIRTYPE, 0o755, b"", ""),
  ("opt/" + "long/" * 30 + "x.txt", tarfile.REGTYPE, 0o644, b"x\\n", ""),
  ("opt/名前 with space", tarfile.REGTYPE, 0o755, b"A" * 70000, ""),
  ("opt/link", tarfile.SYMTYPE, 0o777, b"", "/" + "t/" * 80),
  ("opt/hard", tarfile.LNKTYPE, 0o644, b"", "opt/名前 with space"),
  ("opt/empty", tarfile.REGTYPE, 0o600, b"", ""),
]
with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as t:
  for name, ty, mode, data, link in members:
    i = tarfile.TarInfo(name); i.type = ty; i.mode = mode; i.size = len(data); i.linkname = link
    i.uid = i.gid = 0; i.uname = i.gname = ""; i.mtime = 0
    t.addfile(i, io.BytesIO(data) if ty == tarfile.REGTYPE else None)
`;
      execFileSync("python3", ["-c", py, join(dir, "py.tar")]);
      const enc = new TextEncoder();
      const ours = await collect(writeTar([
        { header: { name: "opt", type: "directory", mode: 0o755 } },
        {
          header: { name: "opt/" + "long/".repeat(30) + "x.txt", type: "file", mode: 0o644 },
          body: enc.encode("x\n"),
        },
        {
          header: { name: "opt/名前 with space", type: "file", mode: 0o755 },
          body: new Uint8Array(70000).fill(65),
        },
        {
          header: {
            name: "opt/link",
            type: "symlink",
            mode: 0o777,
            linkname: "/" + "t/".repeat(80),
          },
        },
        {
          header: { name: "opt/hard", type: "link", mode: 0o644, linkname: "opt/名前 with space" },
        },
        { header: { name: "opt/empty", type: "file", mode: 0o600 }, body: new Uint8Array(0) },
      ]));
      const theirs = await readFile(join(dir, "py.tar"));
      assert.equal(ours.byteLength, theirs.byteLength, "same size");
      assert.equal(sha256Hex(ours), sha256Hex(theirs), "same bytes");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "gzip written by spackle passes gzip -t and reads back in Python's gzip",
  ignore: !have("gzip") || !have("python3"),
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const data = new TextEncoder().encode("spackle\n".repeat(100000));
      await writeFile(join(dir, "x.gz"), gzipBytes(data));
      execFileSync("gzip", ["-t", join(dir, "x.gz")]);
      const py = execFileSync("python3", [
        "-c",
        "import gzip,hashlib,sys;print(hashlib.sha256(gzip.open(sys.argv[1]).read()).hexdigest())",
        join(dir, "x.gz"),
      ], { encoding: "utf8" });
      assert.equal(py.trim(), sha256Hex(data));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

interface ExpectedMember {
  name: string;
  type: string;
  mode: string;
  size: number;
  linkname: string;
}
interface ExpectedTarball {
  members: ExpectedMember[];
  uncompressed_sha256: string;
}

/** Every tarball a fixture mirror dump describes: [mirror-relative path, expected]. */
async function fixtureTarballs(): Promise<[string, string, ExpectedTarball][]> {
  const out: [string, string, ExpectedTarball][] = [];
  for (const m of ["v3-unsigned", "v3-signed", "v2-unsigned", "v2-signed", "v2-migrated-signed"]) {
    const dump = JSON.parse(await readFile(fixture("expected", `${m}.mirror.json`), "utf8"));
    for (
      const man of Object.values(dump.v3?.manifests ?? {}) as {
        blobs: { path: string; tarball?: ExpectedTarball }[];
      }[]
    ) {
      for (const b of man.blobs) if (b.tarball) out.push([m, b.path, b.tarball]);
    }
    for (
      const [path, t] of Object.entries(dump.v2?.tarballs ?? {}) as [string, ExpectedTarball][]
    ) {
      out.push([m, path, t]);
    }
  }
  return out;
}

Deno.test({
  name: "the real Spack tarballs in the fixtures read with every member as listed",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const tarballs = await fixtureTarballs();
    assert.ok(tarballs.length >= 16, `found ${tarballs.length} tarballs`);
    const types: Record<string, string> = {
      dir: "directory",
      file: "file",
      symlink: "symlink",
      hardlink: "link",
    };
    for (const [mirror, path, want] of tarballs) {
      const gz = await readFile(fixture(mirror, path));
      const tar = await collect(streamOf(gz).pipeThrough(gunzipStream(path)));
      assert.equal(sha256Hex(tar), want.uncompressed_sha256, `${mirror}/${path}`);
      const got: ExpectedMember[] = [];
      for await (const e of readTar(streamOf(tar), path)) {
        got.push({
          name: e.header.name,
          type: e.header.type,
          mode: "0o" + (e.header.mode & 0o7777).toString(8),
          size: e.header.type === "file" ? e.header.size : 0,
          linkname: e.header.linkname ?? "",
        });
      }
      assert.deepEqual(
        got,
        want.members.map((m) => ({
          name: m.name,
          type: types[m.type] ?? m.type,
          mode: m.mode,
          size: m.size,
          linkname: m.linkname,
        })),
        `${mirror}/${path}`,
      );
    }
  },
});
