/**
 * One pass per package: whatever the buildinfo says, and wherever it comes in the tarball,
 * installSpecs() reads each tarball once (counted on the store) and leaves the same tree as
 * an install without in-stream relocation.
 */
import assert from "node:assert/strict";
import { lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { pathToFileURL } from "node:url";
import { fixture, HAVE_FIXTURES } from "./_fixtures.ts";
import { collect, gzipBytes, sha256Hex, type TarWriteEntry, writeTar } from "../src/core/mod.ts";
import { installSpecs } from "../src/install/mod.ts";
import { openMirror } from "../src/layout/open.ts";
import { FileStore } from "../src/storage/file.ts";
import type { StoreReadOptions } from "../src/storage/store.ts";
import { compareWithExpected } from "./_install_fixtures.ts";

/** A FileStore that counts the reads of each path. */
class CountingStore extends FileStore {
  readonly reads = new Map<string, number>();
  override read(path: string, opts?: StoreReadOptions): Promise<ReadableStream<Uint8Array>> {
    this.reads.set(path, (this.reads.get(path) ?? 0) + 1);
    return super.read(path, opts);
  }
  /** Reads of blobs (tarballs and spec files, by checksum). */
  blobReads(): number[] {
    return [...this.reads].filter(([p]) => p.includes("blobs/")).map(([, n]) => n);
  }
}

const HASH = "q".repeat(32);
const BUILD = "/tmp/one-pass-store/" + "_".repeat(80);
/** The package prefix as tarball members name it. */
const PFX = `${BUILD}/linux-x86_64/pkg-1.0-${HASH}`.slice(1);
const enc = new TextEncoder();

interface Buildinfo {
  textfiles: string[];
  sbang?: string;
  /** The package's own build prefix in hash_to_prefix (default: the member prefix). */
  own?: string;
}

function buildinfoMember(b: Buildinfo): TarWriteEntry {
  const sbang = b.sbang ? `sbang_install_path: ${b.sbang}, ` : "";
  return {
    header: { name: `${PFX}/.spack/binary_distribution`, type: "file", mode: 0o644 },
    body: enc.encode(
      `{${sbang}buildpath: ${BUILD}, hash_to_prefix: {${HASH}: ${b.own ?? "/" + PFX}}, ` +
        `relocate_textfiles: [${b.textfiles.join(", ")}], relocate_binaries: [], ` +
        `relocate_links: []}`,
    ),
  };
}

/** A v3 mirror of one package whose tarball holds `files`, the buildinfo first or last. */
async function mirrorOf(
  dir: string,
  files: Record<string, string>,
  info: Buildinfo,
  buildinfoFirst: boolean,
): Promise<string> {
  const dirs = new Set<string>();
  const body: TarWriteEntry[] = [];
  for (const [rel, text] of Object.entries(files)) {
    const d = rel.includes("/") ? rel.slice(0, rel.lastIndexOf("/")) : "";
    if (d && !dirs.has(d)) {
      dirs.add(d);
      body.push({ header: { name: `${PFX}/${d}`, type: "directory", mode: 0o755 } });
    }
    body.push({
      header: { name: `${PFX}/${rel}`, type: "file", mode: 0o644 },
      body: enc.encode(text),
    });
  }
  const top: TarWriteEntry = { header: { name: PFX, type: "directory", mode: 0o755 } };
  const meta: TarWriteEntry = { header: { name: `${PFX}/.spack`, type: "directory", mode: 0o755 } };
  const members = buildinfoFirst
    ? [top, meta, buildinfoMember(info), ...body]
    : [top, ...body, meta, buildinfoMember(info)];
  const blob = (bytes: Uint8Array) => {
    const sum = sha256Hex(bytes);
    mkdirSync(join(dir, "blobs/sha256", sum.slice(0, 2)), { recursive: true });
    writeFileSync(join(dir, "blobs/sha256", sum.slice(0, 2), sum), bytes);
    return {
      contentLength: bytes.byteLength,
      checksumAlgorithm: "sha256",
      checksum: sum,
    };
  };
  const node = {
    name: "pkg",
    version: "1.0",
    arch: { platform: "linux", platform_os: "x", target: "x86_64" },
    hash: HASH,
  };
  const tarball = blob(gzipBytes(await collect(writeTar(members)), 1));
  const spec = blob(gzipBytes(JSON.stringify({ spec: { _meta: { version: 5 }, nodes: [node] } })));
  const index = blob(enc.encode(JSON.stringify({
    database: { version: "8", installs: { [HASH]: { spec: node, in_buildcache: true } } },
  })));
  mkdirSync(join(dir, "v3/manifests/spec/pkg"), { recursive: true });
  mkdirSync(join(dir, "v3/manifests/index"), { recursive: true });
  writeFileSync(join(dir, "v3/layout.json"), '{"signing": "gpg"}');
  writeFileSync(
    join(dir, `v3/manifests/spec/pkg/pkg-1.0-${HASH}.spec.manifest.json`),
    JSON.stringify({
      version: 3,
      data: [
        { ...tarball, mediaType: "application/vnd.spack.install.v2.tar+gzip", compression: "gzip" },
        { ...spec, mediaType: "application/vnd.spack.spec.v5+json", compression: "gzip" },
      ],
    }),
  );
  writeFileSync(
    join(dir, "v3/manifests/index/index.manifest.json"),
    JSON.stringify({
      version: 3,
      data: [{ ...index, mediaType: "application/vnd.spack.db.v8+json", compression: "none" }],
    }),
  );
  return tarball.checksum;
}

/**
 * Every file of a tree (relative path -> content), the root replaced by `<root>` (without the
 * databases and the manifests, which hold times and hashes of the root's own paths).
 */
function treeOf(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const n of readdirSync(d).sort()) {
      const p = join(d, n);
      const rel = relative(root, p);
      if (/^\.spack-db|^\.spackle|install_manifest\.json$/.test(rel)) continue;
      if (lstatSync(p).isDirectory()) walk(p);
      else out[rel] = readFileSync(p, "latin1").replaceAll(root, "<root>");
    }
  };
  walk(root);
  return out;
}

/** Installs the package with and without in-stream relocation; both trees and read counts. */
async function installBoth(files: Record<string, string>, info: Buildinfo, first: boolean) {
  const mirror = await Deno.makeTempDir({ prefix: "sp-onepass-m-" });
  const roots = [0, 1].map(() => Deno.makeTempDirSync({ prefix: "sp-onepass-r-" }));
  try {
    const sum = await mirrorOf(mirror, files, info, first);
    const out = [];
    for (const [i, speculate] of [true, false].entries()) {
      const store = new CountingStore(pathToFileURL(mirror + "/"));
      const res = await installSpecs(await openMirror(store), ["pkg"], {
        root: roots[i],
        allowUnsigned: true,
        speculate,
      });
      assert.equal(res.specs.length, 1);
      const rel = relative(roots[i], res.specs[0].prefix);
      const tarballReads = store.reads.get(`blobs/sha256/${sum.slice(0, 2)}/${sum}`);
      out.push({ reads: store.blobReads(), tarballReads, tree: treeOf(roots[i]), rel });
    }
    return { oneGo: out[0], plain: out[1] };
  } finally {
    rmSync(mirror, { recursive: true, force: true });
    for (const r of roots) rmSync(r, { recursive: true, force: true });
  }
}

const T = (s: string) => s.replaceAll("@", `/${PFX}`);

const CASES: { what: string; files: Record<string, string>; info: Buildinfo; want: string[] }[] = [
  {
    what: "the guess holds",
    files: { "share/a.txt": T("prefix=@\nlib=@/lib\n"), "share/b.txt": "no paths\n" },
    info: { textfiles: ["share/a.txt"] },
    want: ["share/a.txt"],
  },
  {
    what: "a file holds the prefix but the buildinfo does not list it",
    files: { "share/a.txt": T("prefix=@\n"), "share/unlisted.txt": T("keep=@/x\n") },
    info: { textfiles: ["share/a.txt"] },
    want: ["share/a.txt"],
  },
  {
    what: "an old prefix of the map is outside the guessed prefix's first directory",
    files: {
      "bin/tool": T("#!/usr/local/bin/sbang\n#!@/bin/perl\nroot=@\n"),
      "share/c.txt": T("p=@/share\n"),
    },
    info: { textfiles: ["bin/tool", "share/c.txt"], sbang: "/usr/local/bin/sbang" },
    want: ["bin/tool", "share/c.txt"],
  },
  {
    what: "the buildinfo names another build prefix for the package",
    files: { "share/a.txt": T("prefix=@\n") },
    info: { textfiles: ["share/a.txt"], own: "/elsewhere/pkg-1.0-" + HASH },
    want: ["share/a.txt"],
  },
];

for (const c of CASES) {
  for (const first of [false, true]) {
    Deno.test(
      `installSpecs() reads the tarball once and leaves the plain tree when ${c.what} ` +
        `(buildinfo ${first ? "first" : "last"})`,
      async () => {
        const { oneGo, plain } = await installBoth(c.files, c.info, first);
        // The tarball is read once, as every other blob.
        assert.equal(oneGo.tarballReads, 1);
        assert.equal(plain.tarballReads, 1);
        assert.ok(oneGo.reads.every((n) => n === 1), `${oneGo.reads}`);
        assert.equal(oneGo.rel, plain.rel);
        assert.deepEqual(oneGo.tree, plain.tree);
        // The listed files were relocated (and only those).
        for (const [rel, text] of Object.entries(c.files)) {
          const got = oneGo.tree[join(oneGo.rel, rel)];
          if (c.want.includes(rel)) {
            assert.ok(!got.includes(`/${PFX}`), `${rel} still holds the build prefix: ${got}`);
            assert.ok(got.includes("<root>"), `${rel} was not relocated: ${got}`);
          } else assert.equal(got, text, `${rel} was changed`);
        }
        if (c.info.sbang) {
          const tool = oneGo.tree[join(oneGo.rel, "bin/tool")];
          assert.ok(tool.startsWith("#!<root>/bin/sbang\n"), tool);
        }
      },
    );
  }
}

Deno.test({
  name:
    "installSpecs() reads every tarball of a real Spack mirror once and installs what Spack does",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "sp-onepass-r-" });
    try {
      const store = new CountingStore(pathToFileURL(fixture("v3-unsigned") + "/"));
      const res = await installSpecs(await openMirror(store), ["fooapp"], {
        root,
        allowUnsigned: true,
      });
      assert.equal(res.specs.length, 4);
      const specs = res.specs.map((s) => ({ name: s.name, prefix: s.prefix }));
      assert.deepEqual(compareWithExpected(3, root, specs), []);
      const reads = store.blobReads();
      assert.ok(reads.length >= 8, `${reads.length} blobs read`);
      assert.ok(reads.every((n) => n === 1), JSON.stringify([...store.reads]));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  },
});
