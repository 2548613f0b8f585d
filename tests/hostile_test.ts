/**
 * A corpus of hostile inputs (tar, gzip, manifests, signatures, index, spec JSON, mirrors.yaml,
 * config, keep files, bundles, queries): each gets a typed error (spackle's error classes) or
 * a correct result, never a crash or a stack trace. The counts are printed for the record.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { fixture, HAVE_FIXTURES } from "./_fixtures.ts";
import { judge, PARSERS, type Verdict, verifier } from "./_hostile.ts";
import { type TarWriteEntry, writeTar } from "../src/core/tar.ts";
import { collect } from "../src/core/streams.ts";

const enc = new TextEncoder();
const te = (s: string) => enc.encode(s);

/** A 512-byte ustar header; `over` replaces fields (as raw strings) before the checksum. */
function header(
  name: string,
  o: {
    size?: string;
    type?: string;
    link?: string;
    mode?: string;
    checksum?: string;
    magic?: string;
    prefix?: string;
  } = {},
): Uint8Array {
  const h = new Uint8Array(512);
  const put = (off: number, len: number, s: string) => h.set(te(s).subarray(0, len), off);
  put(0, 100, name);
  put(100, 8, o.mode ?? "0000644\0");
  put(108, 8, "0000000\0");
  put(116, 8, "0000000\0");
  put(124, 12, o.size ?? "00000000000\0");
  put(136, 12, "00000000000\0");
  put(156, 1, o.type ?? "0");
  put(157, 100, o.link ?? "");
  put(257, 8, o.magic ?? "ustar\x0000");
  put(345, 155, o.prefix ?? "");
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  put(148, 8, o.checksum ?? sum.toString(8).padStart(6, "0") + "\0 ");
  return h;
}

function cat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

const END = new Uint8Array(1024);
const oct = (n: number) => n.toString(8).padStart(11, "0") + "\0";
const pad = (b: Uint8Array) => cat(b, new Uint8Array((512 - b.length % 512) % 512));
const member = (name: string, body: string, o = {}) =>
  cat(header(name, { size: oct(te(body).length), ...o }), pad(te(body)));
const pax = (records: string) =>
  cat(header("././@PaxHeader", { type: "x", size: oct(te(records).length) }), pad(te(records)));

async function tarOf(entries: TarWriteEntry[]): Promise<Uint8Array> {
  return await collect(ReadableStream.from(writeTar(entries)));
}

const P = "opt/spack/linux-x86_64/pkg-1.0-abc";
const dir = (name: string): TarWriteEntry => ({ header: { name, type: "directory", mode: 0o755 } });
const file = (name: string, text = "x"): TarWriteEntry => ({
  header: { name, type: "file", mode: 0o644 },
  body: te(text),
});
const pkg = (extra: TarWriteEntry[]) => [
  dir("opt"),
  dir("opt/spack"),
  dir("opt/spack/linux-x86_64"),
  dir(P),
  ...extra,
  dir(`${P}/.spack`),
  file(`${P}/.spack/binary_distribution`, "{buildpath: /x}"),
];

interface Case {
  kind: string;
  name: string;
  input: Uint8Array | (() => Promise<Uint8Array>);
  /** What a correct outcome is (default: refused). */
  expect?: Verdict | "either";
  parser?: (b: Uint8Array) => unknown;
}

function cases(): Case[] {
  const c: Case[] = [];
  const add = (kind: string, name: string, input: Case["input"], expect?: Case["expect"]) =>
    c.push({ kind, name, input, expect });

  // ---- tar: the reader ---------------------------------------------------------------------
  add("tar", "empty", new Uint8Array());
  add("tar", "one byte", new Uint8Array([0x41]));
  add("tar", "511 bytes", new Uint8Array(511).fill(0x41));
  add("tar", "a header without end marker", member("a", "hello"));
  add("tar", "bad header checksum", cat(header("a", { checksum: "0000001\0" }), END));
  add("tar", "size not octal", cat(header("a", { size: "zzzzzzzzzzz\0" }), END));
  add("tar", "size beyond the data", cat(header("a", { size: oct(1 << 30) }), new Uint8Array(512)));
  add("tar", "body cut short", cat(header("a", { size: oct(2000) }), new Uint8Array(600)));
  add("tar", "pax record with a wrong length", cat(pax("99 path=x\n"), member("a", "b"), END));
  add(
    "tar",
    "pax record with a huge length",
    cat(pax("99999999999 path=x\n"), member("a", "b"), END),
  );
  add("tar", "pax record without a newline", cat(pax("12 path=abc"), member("a", "b"), END));
  add("tar", "pax size not a number", cat(pax("13 size=-5z\n"), member("a", "b"), END));
  add(
    "tar",
    "gnu long name longer than the data",
    cat(header("././@LongLink", { type: "L", size: oct(100000) }), END),
  );
  add("tar", "random 4 KiB", crypto.getRandomValues(new Uint8Array(4096)));
  add("tar", "only zeros (an empty archive)", new Uint8Array(1024), "accepted");
  add("tar", "a well-formed archive", cat(member("a", "hello"), END), "accepted");
  add("tar", "an unknown type flag", cat(member("a", "x", { type: "Z" }), END), "either");
  add("tar", "a name that is not UTF-8", cat(member("\xff\xfe", "x"), END), "either");

  // ---- tar: extraction of a package ------------------------------------------------------------
  const ex = (name: string, entries: () => TarWriteEntry[]) =>
    c.push({ kind: "tar-extract", name, input: () => tarOf(entries()), parser: PARSERS.extract });
  ex("a member escaping with ..", () => pkg([file(`${P}/../../../../etc/passwd`)]));
  ex("an absolute member", () => pkg([file("/etc/passwd")]));
  ex("a symlink to /etc then a file through it", () =>
    pkg([
      { header: { name: `${P}/lnk`, type: "symlink", mode: 0o777, linkname: "/etc" } },
      file(`${P}/lnk/passwd`),
    ]));
  ex(
    "a hard link to a file outside",
    () => pkg([{ header: { name: `${P}/h`, type: "link", mode: 0o644, linkname: "/etc/passwd" } }]),
  );
  ex(
    "a character device",
    () => pkg([{ header: { name: `${P}/dev`, type: "character-device", mode: 0o644 } }]),
  );
  ex("a fifo", () => pkg([{ header: { name: `${P}/fifo`, type: "fifo", mode: 0o644 } }]));
  ex("two package directories", () => [...pkg([]), dir("opt/spack/linux-x86_64/other-1-x")]);
  ex("no package directory", () => [file("README")]);
  ex("a member named only ..", () => pkg([file("..")]));
  ex(
    "a file then a directory of the same name",
    () => pkg([file(`${P}/x`), dir(`${P}/x`), file(`${P}/x/y`)]),
  );
  ex("a symlink loop", () =>
    pkg([
      { header: { name: `${P}/a`, type: "symlink", mode: 0o777, linkname: "b" } },
      { header: { name: `${P}/b`, type: "symlink", mode: 0o777, linkname: "a" } },
      file(`${P}/a/x`),
    ]));
  c.push({
    kind: "tar-extract",
    name: "a well-formed package",
    input: () => tarOf(pkg([file(`${P}/bin/tool`, "#!/bin/sh\n")])),
    parser: PARSERS.extract,
    expect: "accepted",
  });

  // ---- gzip ------------------------------------------------------------------------------------
  const good = new Uint8Array(gzipSync(te("hello world\n".repeat(100))));
  const flip = (b: Uint8Array, i: number) => {
    const x = b.slice();
    x[i] ^= 0xff;
    return x;
  };
  add("gzip", "empty", new Uint8Array());
  add("gzip", "not gzip", te("plain text"));
  add("gzip", "the magic alone", new Uint8Array([0x1f, 0x8b]));
  add("gzip", "cut in half", good.subarray(0, good.length >> 1));
  add("gzip", "bad CRC", flip(good, good.length - 6));
  add("gzip", "bad length", flip(good, good.length - 2));
  add("gzip", "bad compression method", flip(good, 2));
  add("gzip", "a corrupt deflate stream", flip(good, 12));
  add("gzip", "trailing garbage", cat(good, te("garbage")), "either");
  add("gzip", "a valid stream", good, "accepted");
  c.push({
    kind: "gzip",
    name: "stream: cut in half",
    input: good.subarray(0, 20),
    parser: PARSERS.gzipStream,
  });
  c.push({
    kind: "gzip",
    name: "stream: bad CRC",
    input: flip(good, good.length - 6),
    parser: PARSERS.gzipStream,
  });
  c.push({ kind: "gzip", name: "stream: not gzip", input: te("nope"), parser: PARSERS.gzipStream });

  // ---- manifests ---------------------------------------------------------------------------
  const rec = (o: Record<string, unknown>) =>
    JSON.stringify({
      version: 3,
      data: [{
        contentLength: 10,
        mediaType: "application/vnd.spack.install.v2.tar+gzip",
        compression: "gzip",
        checksumAlgorithm: "sha256",
        checksum: "a".repeat(64),
        ...o,
      }],
    });
  for (
    const [name, text] of [
      ["empty", ""],
      ["an open brace", "{"],
      ["null", "null"],
      ["a number", "42"],
      ["an array", "[]"],
      ["no data", '{"version":3}'],
      ["data not an array", '{"version":3,"data":{}}'],
      ["a record that is a string", '{"version":3,"data":["x"]}'],
      ["negative length", rec({ contentLength: -1 })],
      ["length a string", rec({ contentLength: "10" })],
      ["length beyond 2^53", rec({ contentLength: 2 ** 60 })],
      ["length fractional", rec({ contentLength: 1.5 })],
      ["checksum not hex", rec({ checksum: "../../../../etc/passwd".padEnd(64, "x") })],
      ["checksum too short", rec({ checksum: "abc" })],
      ["an algorithm that is a path", rec({ checksumAlgorithm: "../../etc" })],
      ["media type a number", rec({ mediaType: 7 })],
      ["__proto__ record", '{"version":3,"data":[{"__proto__":{"polluted":1}}]}'],
      ["deeply nested", "[".repeat(100000) + "]".repeat(100000)],
      ["a BOM then JSON", "\uFEFF" + rec({ contentLength: "1" })],
      ["NUL bytes", "\0\0\0\0"],
    ] as const
  ) add("manifest", name, te(text));
  add("manifest", "a valid manifest", te(rec({})), "accepted");

  // ---- clear-signed manifests ----------------------------------------------------------------
  const B = "-----BEGIN PGP SIGNED MESSAGE-----";
  const S = "-----BEGIN PGP SIGNATURE-----";
  const E = "-----END PGP SIGNATURE-----";
  for (
    const [name, text] of [
      ["header only", `${B}\n`],
      ["no blank line after the hash header", `${B}\nHash: SHA256\nbody\n${S}\nxx\n${E}\n`],
      ["no signature block", `${B}\nHash: SHA256\n\nbody\n`],
      ["signature without end", `${B}\nHash: SHA256\n\nbody\n${S}\nabc\n`],
      [
        "two signed messages",
        `${B}\nHash: SHA256\n\na\n${S}\nx\n${E}\n${B}\nHash: SHA256\n\nb\n${S}\nx\n${E}\n`,
      ],
      ["unknown hash header", `${B}\nHash: ROT13\n\nbody\n${S}\nx\n${E}\n`],
    ] as const
  ) add("signature", name, te(text), "either");

  // ---- index -------------------------------------------------------------------------------
  const spec = (o: Record<string, unknown> = {}) => ({
    name: "zlib",
    version: "1.3",
    arch: { platform: "linux", platform_os: "debian12", target: "x86_64" },
    namespace: "builtin",
    hash: "a".repeat(32),
    ...o,
  });
  const db = (installs: unknown, version: unknown = "8") =>
    JSON.stringify({ database: { version, installs } });
  for (
    const [name, text] of [
      ["empty", ""],
      ["not JSON", "index"],
      ["no database", "{}"],
      ["database a list", '{"database":[]}'],
      ["installs a list", db([])],
      ["version an object", db({}, { x: 1 })],
      ["version 999", db({}, "999")],
      ["a record without spec", db({ ["a".repeat(32)]: {} })],
      ["a record whose spec is a string", db({ ["a".repeat(32)]: { spec: "zlib" } })],
      ["a spec without a name", db({ ["a".repeat(32)]: { spec: spec({ name: undefined }) } })],
      ["a spec version an object", db({ ["a".repeat(32)]: { spec: spec({ version: {} }) } })],
      ["dependencies not a list", db({ ["a".repeat(32)]: { spec: spec({ dependencies: 5 }) } })],
      [
        "a dependency on an unknown hash",
        db({
          ["a".repeat(32)]: {
            spec: spec({
              dependencies: [{
                name: "x",
                hash: "b".repeat(32),
                parameters: { deptypes: ["link"] },
              }],
            }),
          },
        }),
      ],
      ["a record key that is not a hash", db({ "../../x": { spec: spec() } })],
      ["ref_count a string", db({ ["a".repeat(32)]: { spec: spec(), ref_count: "x" } })],
    ] as const
  ) add("index", name, te(text), "either");
  add("index", "an empty database", te(db({})), "accepted");

  // ---- spec JSON ----------------------------------------------------------------------------
  const node = (o: Record<string, unknown> = {}) => ({
    name: "zlib",
    version: "1.3",
    arch: { platform: "linux", platform_os: "debian12", target: "x86_64" },
    namespace: "builtin",
    parameters: {},
    hash: "a".repeat(32),
    ...o,
  });
  const sdoc = (nodes: unknown, meta: unknown = { version: 5 }) =>
    JSON.stringify({ spec: { _meta: meta, nodes } });
  for (
    const [name, text] of [
      ["empty", ""],
      ["not JSON", "spec"],
      ["an empty object", "{}"],
      ["spec a string", '{"spec":"zlib"}'],
      ["no nodes", '{"spec":{"_meta":{"version":5}}}'],
      ["nodes empty", sdoc([])],
      ["nodes an object", sdoc({})],
      ["a node without a name", sdoc([node({ name: undefined })])],
      ["a node without a hash", sdoc([node({ hash: undefined })])],
      ["a hash with bad characters", sdoc([node({ hash: "../../../etc/passwd" })])],
      ["a name with a slash", sdoc([node({ name: "../x" })])],
      ["meta version 99", sdoc([node()], { version: 99 })],
      ["meta version a string", sdoc([node()], { version: "5" })],
      [
        "a dependency on a missing node",
        sdoc([
          node({
            dependencies: [{
              name: "x",
              hash: "b".repeat(32),
              parameters: { deptypes: ["link"], virtuals: [] },
            }],
          }),
        ]),
      ],
      [
        "a dependency cycle",
        sdoc([
          node({
            dependencies: [{
              name: "y",
              hash: "b".repeat(32),
              parameters: { deptypes: ["link"], virtuals: [] },
            }],
          }),
          node({
            name: "y",
            hash: "b".repeat(32),
            dependencies: [{
              name: "zlib",
              hash: "a".repeat(32),
              parameters: { deptypes: ["link"], virtuals: [] },
            }],
          }),
        ]),
      ],
      [
        "deptypes not a list",
        sdoc([
          node({
            dependencies: [{ name: "x", hash: "b".repeat(32), parameters: { deptypes: "link" } }],
          }),
          node({ name: "x", hash: "b".repeat(32) }),
        ]),
      ],
      ["two nodes with one hash", sdoc([node(), node()])],
      ["a huge version string", sdoc([node({ version: "9".repeat(1 << 20) })])],
    ] as const
  ) {
    // Whatever would become a path component must be refused; the rest may be read.
    const must =
      /^(empty|not JSON|spec a string|no nodes|nodes empty|a node without|a hash with|a name with)/
        .test(name);
    add("spec", name, te(text), must ? "refused" : "either");
    c.push({
      kind: "spec",
      name: `${name} (layout reader)`,
      input: te(text),
      parser: PARSERS.specDoc,
      expect: must && name !== "not JSON" && name !== "empty" ? "refused" : "either",
    });
  }

  add("spec", "a valid one-node spec", te(sdoc([node()])), "accepted");

  // ---- mirrors.yaml ------------------------------------------------------------------------
  const laughs = ["a: &a [x,x,x,x,x,x,x,x,x,x]"];
  for (let i = 1; i < 9; i++) {
    laughs.push(
      `${"b".repeat(i)}: &${"b".repeat(i)} [${
        Array(10).fill(`*${i === 1 ? "a" : "b".repeat(i - 1)}`).join(",")
      }]`,
    );
  }
  for (
    const [name, text] of [
      ["invalid YAML", "mirrors: [unclosed"],
      ["tabs for indentation", "mirrors:\n\tsite: /x\n"],
      ["a list, not a mapping", "- a\n- b\n"],
      ["mirrors a list", "mirrors:\n  - /x\n"],
      ["a mirror that is a number", "mirrors:\n  site: 42\n"],
      ["a mirror with a list url", "mirrors:\n  site:\n    url: [a, b]\n"],
      ["fetch a number", "mirrors:\n  site:\n    url: /x\n    fetch: 3\n"],
      ["an unsupported scheme", "mirrors:\n  site: gopher://x/\n"],
      ["a billion laughs", "mirrors:\n  " + laughs.join("\n  ") + "\n"],
      ["a duplicate key", "mirrors:\n  a: /x\n  a: /y\n"],
      ["a YAML tag", "mirrors: !!python/object:os.system echo\n"],
      ["binary garbage", "\0\x01\x02\xff"],
    ] as const
  ) add("mirrors.yaml", name, te(text), "either");
  add(
    "mirrors.yaml",
    "a valid file",
    te("mirrors:\n  site: https://cache.example.org/\n"),
    "accepted",
  );

  // ---- spackle's config ----------------------------------------------------------------------
  for (
    const [name, text] of [
      ["invalid YAML", "mirrors: {"],
      ["a list", "- x\n"],
      ["a scalar", "hello\n"],
      ["mirrors a string", "mirrors: x\n"],
      ["a mirror whose url is a list", "mirrors:\n  a:\n    url: [1]\n"],
      ["timeouts that are words", "connect_timeout: soon\n"],
      ["a billion laughs", laughs.join("\n") + "\n"],
    ] as const
  ) c.push({ kind: "config", name, input: te(text), parser: PARSERS.config, expect: "either" });
  c.push({
    kind: "config",
    name: "an empty file",
    input: te(""),
    parser: PARSERS.config,
    expect: "accepted",
  });

  // ---- keep files, bundles, queries -------------------------------------------------------------
  for (
    const [name, text] of [
      ["a line that is not a hash", "zlib\n"],
      ["a lock without concrete_specs", '{"roots":[]}'],
      ["a lock with concrete_specs a list", '{"concrete_specs":[]}'],
      ["broken JSON", '{"concrete_specs":'],
    ] as const
  ) c.push({ kind: "keep", name, input: te(text), parser: PARSERS.keep });
  for (
    const [name, bytes] of [
      ["empty", new Uint8Array()],
      ["random bytes", crypto.getRandomValues(new Uint8Array(3000))],
      ["a tar without the marker", cat(member("a", "b"), END)],
    ] as const
  ) c.push({ kind: "bundle", name, input: bytes, parser: PARSERS.bundle });
  // The marker's content is informative only: a bundle whose marker is not JSON still opens.
  c.push({
    kind: "bundle",
    name: "a marker that is not JSON",
    input: cat(member("spackle-bundle.json", "{"), END),
    parser: PARSERS.bundle,
    expect: "either",
  });
  for (const q of ["@@@", "zlib@", "%", "/", "zlib arch=", "^^^", "zlib@1.2:1.3:1.4"]) {
    c.push({
      kind: "query",
      name: JSON.stringify(q),
      input: te(q),
      parser: PARSERS.query,
      expect: "either",
    });
  }
  return c;
}

/** The parser of each kind whose name differs from it. */
const KIND_PARSER: Record<string, string> = {
  "tar-extract": "extract",
  signature: "clearsign",
  "mirrors.yaml": "mirrorsYaml",
};

Deno.test("every hostile input gets a typed error or a correct result", async () => {
  const tally: Record<string, { tried: number; refused: number }> = {};
  const all = cases();
  const problems: string[] = [];
  for (const k of all) {
    const parser = k.parser ?? PARSERS[KIND_PARSER[k.kind] ?? k.kind];
    assert.ok(parser, `no parser for ${k.kind}`);
    const bytes = typeof k.input === "function" ? await k.input() : k.input;
    let v: Verdict;
    try {
      v = await judge(`${k.kind}: ${k.name}`, () => parser(bytes));
    } catch (e) {
      problems.push((e as Error).message.split("\n").slice(0, 2).join(" "));
      continue;
    }
    const want = k.expect ?? "refused";
    if (want !== "either" && v !== want) problems.push(`${k.kind}: ${k.name}: ${v}, not ${want}`);
    const t = tally[k.kind] ??= { tried: 0, refused: 0 };
    t.tried++;
    if (v === "refused") t.refused++;
  }
  const tried = all.length;
  const refused = Object.values(tally).reduce((n, t) => n + t.refused, 0);
  console.log(
    `hostile corpus: ${tried} cases, ${refused} refused with a typed error, ` +
      `${tried - refused} accepted with a correct result; ` +
      Object.entries(tally).map(([k, t]) => `${k} ${t.refused}/${t.tried}`).join(", "),
  );
  assert.deepEqual(problems, []);
  assert.ok(tried >= 80, `${tried} cases`);
});

Deno.test({
  name: "signed manifests: a tampered body, a garbage signature and an untrusted key are refused",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const key = readFileSync(fixture("keys", "oracle-test.pub.asc"), "utf8");
    const verify = verifier(key);
    const dirp = fixture("v3-signed", "v3", "manifests", "spec");
    const { readdirSync } = await import("node:fs");
    const pkgDir = readdirSync(dirp)[0];
    const f = readdirSync(`${dirp}/${pkgDir}`)[0];
    const signed = readFileSync(`${dirp}/${pkgDir}/${f}`, "utf8");
    assert.equal(await judge("a genuine signed manifest", () => verify(te(signed))), "accepted");
    const variants: [string, string][] = [
      ["a tampered body", signed.replace('"contentLength":', '"contentLength": 1')],
      [
        "a tampered digit",
        signed.replace(/([0-9a-f])([0-9a-f]{63})/, (_m, a, b) => (a === "0" ? "1" : "0") + b),
      ],
      [
        "a garbage signature",
        signed.replace(/(-----BEGIN PGP SIGNATURE-----\n\n)[^-]+/, "$1AAAA\n"),
      ],
      ["a truncated signature", signed.slice(0, signed.length - 80)],
      ["no signature at all", JSON.stringify({ version: 3, data: [] })],
      [
        "a signature block and no message",
        signed.slice(signed.indexOf("-----BEGIN PGP SIGNATURE")),
      ],
    ];
    for (const [name, text] of variants) {
      assert.equal(await judge(name, () => verify(te(text))), "refused", name);
    }
    const untrusted = new (await import("../src/sign/verify.ts")).KeyringVerifier([]);
    assert.equal(
      await judge("no trusted key", () => untrusted.verify(signed, "m")),
      "refused",
    );
    const badKey = verifier(
      "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n-----END PGP PUBLIC KEY BLOCK-----\n",
    );
    assert.equal(await judge("a trusted key that is garbage", () => badKey(te(signed))), "refused");
  },
});
