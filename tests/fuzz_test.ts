/**
 * fast-check fuzzing of every parser of untrusted input (tar, package extraction, gzip,
 * manifests, clear-signed text, index, spec JSON, mirrors.yaml, config, keep files, bundles,
 * queries, buildinfo, ELF and Mach-O relocation, OCI manifests and tags, spack.lock, install
 * databases, S3 XML, registry challenges, image references, OCI URLs, OpenPGP keys): random
 * bytes, and valid inputs mutated (bytes flipped, cut, spliced, JSON values replaced, values
 * that cannot become text). Each input must get a typed error or a result, never a crash; each
 * seed must be read without error. The number of inputs tried is printed for the record;
 * `SPACKLE_FUZZ_RUNS` scales it and `SPACKLE_FUZZ_SEED` repeats a run.
 */
import fc from "fast-check";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { fixture, HAVE_FIXTURES } from "./_fixtures.ts";
import { BINARY_OLD, judge, PARSERS } from "./_hostile.ts";
import { makeElf } from "./_elf.ts";
import { buildMacho, HAVE_MACHO_TOOLS } from "./_macho.ts";
import { fixtureLock } from "./_lockfile.ts";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { type TarWriteEntry, writeTar } from "../src/core/tar.ts";
import { collect } from "../src/core/streams.ts";

const te = (s: string) => new TextEncoder().encode(s);
const RUNS = Number(Deno.env.get("SPACKLE_FUZZ_RUNS") ?? "300");
/** Parsers that touch the file system get fewer runs. */
const SLOW = new Set(["extract", "config", "bundle", "binary", "keys"]);

const P = "opt/spack/linux-x86_64/pkg-1.0-abc";
const dir = (name: string): TarWriteEntry => ({ header: { name, type: "directory", mode: 0o755 } });
const file = (name: string, text: string): TarWriteEntry => ({
  header: { name, type: "file", mode: 0o644 },
  body: te(text),
});

async function seeds(): Promise<Record<string, Uint8Array[]>> {
  const pkgTar = await collect(ReadableStream.from(writeTar([
    dir("opt"),
    dir("opt/spack"),
    dir("opt/spack/linux-x86_64"),
    dir(P),
    file(`${P}/bin/tool`, "#!/bin/sh\necho hi\n"),
    { header: { name: `${P}/lib`, type: "symlink", mode: 0o777, linkname: "bin" } },
    dir(`${P}/.spack`),
    file(`${P}/.spack/binary_distribution`, "{buildpath: /x}"),
  ])));
  const manifest = JSON.stringify({
    version: 3,
    data: [{
      contentLength: 10,
      mediaType: "application/vnd.spack.install.v2.tar+gzip",
      compression: "gzip",
      checksumAlgorithm: "sha256",
      checksum: "a".repeat(64),
    }],
  });
  const bundleTar = await collect(ReadableStream.from(writeTar([
    file("spackle-bundle.json", '{"format": 1}\n'),
    file("v3/layout.json", '{"signing": "unsigned"}\n'),
  ])));
  const out: Record<string, Uint8Array[]> = {
    tar: [pkgTar],
    extract: [pkgTar],
    gzip: [new Uint8Array(gzipSync(pkgTar))],
    gzipStream: [new Uint8Array(gzipSync(te("hello\n".repeat(50))))],
    manifest: [te(manifest)],
    clearsign: [te(
      "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n" + manifest +
        "\n-----BEGIN PGP SIGNATURE-----\n\niQEzBAEBCAAdFiEE\n=abcd\n-----END PGP SIGNATURE-----\n",
    )],
    mirrorsYaml: [te(
      "mirrors:\n  site: https://cache.example.org/\n  local:\n    url: /srv/m\n" +
        "    fetch:\n      url: s3://b/c\n      access_pair: [a, b]\n    signed: false\n",
    )],
    config: [te("mirrors:\n  a:\n    url: /srv/m\n    signed: false\nconnect_timeout: 10\n")],
    keep: [
      te("/" + "a".repeat(32) + "\n# c\n"),
    ],
    bundle: [pkgTar, bundleTar],
    query: [te("zlib@1.2:1.3 %gcc arch=linux-debian12-x86_64 /abcdef")],
    index: [],
    spec: [],
    specDoc: [],
    buildinfo: [te(
      `{sbang_install_path: /s/bin/sbang, buildpath: ${BINARY_OLD}, spackprefix: /s, ` +
        `relative_prefix: linux/pkg, hash_to_prefix: {${"a".repeat(32)}: /s/dep}, ` +
        "relocate_textfiles: [bin/x], relocate_binaries: [lib/x.so], relocate_links: [], " +
        "hardlinks_deduped: true}",
    )],
    binary: [
      makeElf({
        is64: true,
        le: true,
        runpath: true,
        rpath: `${BINARY_OLD}/lib`,
        interp: "/lib/ld.so",
      }),
      makeElf({
        is64: false,
        le: false,
        runpath: false,
        rpath: `${BINARY_OLD}/lib:/usr/lib`,
        interp: "/lib/ld.so",
      }),
    ],
    ociManifest: [te(JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: {
        mediaType: "application/vnd.oci.image.config.v1+json",
        digest: `sha256:${"a".repeat(64)}`,
        size: 10,
      },
      layers: [{
        mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
        digest: `sha256:${"b".repeat(64)}`,
        size: 20,
      }],
      annotations: { "org.opencontainers.image.ref.name": "x" },
    }))],
    ociTag: [te(`zlib-1.3-${"a".repeat(32)}.spack`)],
    lockfile: [],
    installDb: [],
    s3Xml: [
      te(
        '<?xml version="1.0"?><ListBucketResult><IsTruncated>true</IsTruncated>' +
          "<Contents><Key>a/b</Key><Size>12</Size><ETag>&quot;x&quot;</ETag></Contents>" +
          "<NextContinuationToken>t&amp;1</NextContinuationToken></ListBucketResult>",
      ),
      te("<Error><Code>NoSuchKey</Code><Message>gone</Message></Error>"),
    ],
    challenge: [
      te('Bearer realm="https://auth.example/token",service="registry",scope="repository:a:pull"'),
    ],
    imageRef: [te("oci://registry.example:5000/spack/cache:tag@sha256:" + "c".repeat(64))],
    ociUrl: [te("oci+http://registry.example:5000/spack/cache")],
    keys: [],
  };
  if (HAVE_MACHO_TOOLS) {
    const dir = mkdtempSync(join(tmpdir(), "sp-fuzz-macho-"));
    try {
      const built = buildMacho(dir, BINARY_OLD, "arm64");
      out.binary.push(readFileSync(built.lib), readFileSync(built.prog));
    } finally {
      rmSync(dir, { recursive: true, force: true });
      rmSync(dirname(BINARY_OLD), { recursive: true, force: true });
    }
  }
  if (HAVE_FIXTURES) {
    const bc = fixture("v2-unsigned", "build_cache");
    out.index.push(readFileSync(`${bc}/index.json`));
    const spec = readdirSync(bc).find((f) => f.endsWith(".spec.json"))!;
    out.spec.push(readFileSync(`${bc}/${spec}`));
    out.specDoc.push(readFileSync(`${bc}/${spec}`));
    const sd = fixture("v3-signed", "v3", "manifests", "spec");
    const p = readdirSync(sd)[0];
    out.clearsign.push(readFileSync(`${sd}/${p}/${readdirSync(`${sd}/${p}`)[0]}`));
    out.lockfile.push(te(JSON.stringify(fixtureLock())));
    out.keep.push(te(JSON.stringify(fixtureLock())));
    out.installDb.push(readFileSync(fixture("expected", "v3-install-db.json")));
    out.keys.push(readFileSync(fixture("keys", "oracle-test.pub.asc")));
  }
  return out;
}

/** A valid input changed: bytes flipped, a cut, a splice of a repeated slice, an insertion. */
function mutated(seed: Uint8Array): fc.Arbitrary<Uint8Array> {
  const n = Math.max(seed.length, 1);
  return fc.oneof(
    fc.array(fc.tuple(fc.nat(n - 1), fc.integer({ min: 0, max: 255 })), {
      minLength: 1,
      maxLength: 8,
    }).map((flips) => {
      const b = seed.slice();
      for (const [i, v] of flips) if (i < b.length) b[i] = v;
      return b;
    }),
    fc.nat(n).map((i) => seed.slice(0, i)),
    fc.tuple(fc.nat(n), fc.nat(n), fc.nat(n)).map(([a, b, at]) => {
      const [lo, hi] = a < b ? [a, b] : [b, a];
      const piece = seed.slice(lo, Math.min(hi, lo + 4096));
      const out = new Uint8Array(seed.length + piece.length);
      out.set(seed.subarray(0, at));
      out.set(piece, at);
      out.set(seed.subarray(at), at + piece.length);
      return out;
    }),
    fc.tuple(fc.nat(n), fc.uint8Array({ minLength: 1, maxLength: 64 })).map(([at, ins]) => {
      const out = new Uint8Array(seed.length + ins.length);
      out.set(seed.subarray(0, at));
      out.set(ins, at);
      out.set(seed.subarray(at), at + ins.length);
      return out;
    }),
  );
}

/** A JSON seed with one value somewhere replaced by an arbitrary JSON value. */
function jsonMutated(seed: Uint8Array): fc.Arbitrary<Uint8Array> | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder().decode(seed));
  } catch {
    return undefined;
  }
  const paths: (string | number)[][] = [];
  const walk = (v: unknown, path: (string | number)[]) => {
    paths.push(path);
    if (paths.length > 2000) return;
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...path, i]));
    else if (v && typeof v === "object") {
      for (const [k, x] of Object.entries(v)) walk(x, [...path, k]);
    }
  };
  walk(doc, []);
  return fc.tuple(fc.constantFrom(...paths), fc.jsonValue({ maxDepth: 3 })).map(([path, val]) => {
    const copy = JSON.parse(JSON.stringify(doc));
    if (path.length === 0) return te(JSON.stringify(val));
    let at = copy;
    for (const k of path.slice(0, -1)) at = at[k];
    at[path[path.length - 1]] = val;
    return te(JSON.stringify(copy));
  });
}

Deno.test("fuzzing: every parser gives a typed error or a result for random and mutated input", async () => {
  const all = await seeds();
  let total = 0;
  const per: string[] = [];
  for (const [name, parse] of Object.entries(PARSERS)) {
    const runs = SLOW.has(name) ? Math.max(20, RUNS >> 2) : RUNS;
    const gens: fc.Arbitrary<Uint8Array>[] = [
      fc.uint8Array({ maxLength: 2048 }),
      fc.string({ maxLength: 512 }).map(te),
    ];
    for (const s of all[name] ?? []) {
      gens.push(mutated(s));
      const j = jsonMutated(s);
      if (j) gens.push(j);
    }
    let n = 0;
    for (const g of gens) {
      await fc.assert(
        fc.asyncProperty(g, async (bytes) => {
          n++;
          await judge(`${name} (${bytes.length} bytes)`, () => parse(bytes));
        }),
        { numRuns: runs, seed: Number(Deno.env.get("SPACKLE_FUZZ_SEED") ?? Date.now() % 1e9) },
      );
    }
    total += n;
    per.push(`${name} ${n}`);
  }
  console.log(`fuzzing: ${total} inputs tried, none crashed (${per.join(", ")})`);
});

/**
 * Values a document can hold that break `String(v)` or a template string: an object whose
 * `toString`/`valueOf` are not functions (`String` throws), such objects inside a list, and an
 * own `__proto__` key. Every JSON seed gets each of them at every place, deterministically.
 */
const POISONS: unknown[] = [
  JSON.parse('{"toString": 1, "valueOf": 1}'),
  [JSON.parse('{"toString": 1, "valueOf": 1}')],
  JSON.parse('{"__proto__": {"toString": 1}, "name": "x"}'),
];

Deno.test("fuzzing: a value that cannot become text, at every place of every JSON seed, is refused or read", async () => {
  const all = await seeds();
  let tried = 0;
  for (const [name, parse] of Object.entries(PARSERS)) {
    for (const seed of all[name] ?? []) {
      let doc: unknown;
      try {
        doc = JSON.parse(new TextDecoder().decode(seed));
      } catch {
        continue;
      }
      const paths: (string | number)[][] = [];
      const walk = (v: unknown, path: (string | number)[]) => {
        paths.push(path);
        if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...path, i]));
        else if (v && typeof v === "object") {
          for (const [k, x] of Object.entries(v)) walk(x, [...path, k]);
        }
      };
      walk(doc, []);
      for (const path of paths.slice(1)) {
        for (const poison of POISONS) {
          // Written as text so that the poison's keys survive as own keys of the document.
          const copy = JSON.parse(JSON.stringify(doc));
          let at = copy;
          for (const k of path.slice(0, -1)) at = at[k];
          at[path[path.length - 1]] = "\u0000POISON\u0000";
          const text = JSON.stringify(copy).replace(
            '"\\u0000POISON\\u0000"',
            poison === POISONS[2]
              ? '{"__proto__": {"toString": 1}, "name": "x"}'
              : JSON.stringify(poison),
          );
          tried++;
          await judge(`${name} with ${JSON.stringify(path)} poisoned`, () => parse(te(text)));
        }
      }
    }
  }
  assert.ok(tried > 100, `only ${tried} poisoned documents were tried`);
  console.log(`fuzzing: ${tried} poisoned documents, none crashed`);
});

Deno.test("fuzzing: every seed is itself read without error (the fuzzing starts from valid input)", async () => {
  const all = await seeds();
  for (const [name, list] of Object.entries(all)) {
    for (const [i, seed] of list.entries()) {
      if (name === "bundle" && i === 0) continue; // a plain tar: refused, as it should be
      assert.equal(
        await judge(`${name} seed ${i}`, () => PARSERS[name](seed)),
        "accepted",
        `${name} seed ${i} is refused`,
      );
    }
  }
});
