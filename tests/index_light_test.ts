/**
 * The listing fields read from an index's bytes (`src/index/light.ts`) against `JSON.parse`
 * of the same records: every fixture index written by real Spack, a generated index
 * (scripts/gen_index.ts), and records of unusual shapes.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { IndexScanner, parseIndexDb } from "../src/index/mod.ts";
import { InvalidDataError } from "../src/errors.ts";
import { FIXTURES, HAVE_FIXTURES, REPO_ROOT } from "./_fixtures.ts";

/** Records of the byte path and of the parsed-object path (`JSON.parse` of every record). */
function bothWays(bytes: Uint8Array, label: string) {
  const fast = parseIndexDb(bytes, label);
  const parsed = parseIndexDb(JSON.parse(new TextDecoder().decode(bytes)), label);
  return { fast, parsed };
}

/** How many records the scanner read by their bytes, and how many it parsed. */
function lightCount(bytes: Uint8Array): { light: number; parsed: number } {
  const n = { light: 0, parsed: 0 };
  const s = new IndexScanner("x", {
    record: () => n.parsed++,
    batch: () => {},
    light: () => n.light++,
  });
  s.feed(bytes);
  s.end();
  return n;
}

function indexFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...indexFiles(p));
    else if (e === "index.json" && !p.includes("_pgp")) out.push(p);
    else if (e === "index.manifest.json") {
      const c = JSON.parse(readFileSync(p, "utf8")).data[0].checksum as string;
      const root = p.slice(0, p.indexOf("/v3/manifests/"));
      out.push(join(root, "blobs/sha256", c.slice(0, 2), c));
    }
  }
  return out;
}

Deno.test({
  name: "light records: every fixture index gives the records JSON.parse gives",
  ignore: !HAVE_FIXTURES,
  fn() {
    const files = indexFiles(FIXTURES);
    assert.ok(files.length >= 8, `${files.length} indexes`);
    let light = 0;
    for (const f of files) {
      const bytes = new Uint8Array(readFileSync(f));
      const { fast, parsed } = bothWays(bytes, f);
      assert.ok(fast.size > 0, f);
      assert.deepEqual(fast.records, parsed.records, f);
      for (const r of fast.records) assert.deepEqual(fast.node(r.hash), parsed.node(r.hash), f);
      light += lightCount(bytes).light;
    }
    // Format-5 records (Spack 1.x) are read by their bytes; older ones (compiler attributes) parsed.
    assert.ok(light > 0, "some fixture records read by their bytes");
  },
});

Deno.test("light records: a generated index of 3,000 specs, all but the external read by bytes", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = join(dir, "index.json");
    const r = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", join(REPO_ROOT, "scripts/gen_index.ts"), out, "3000"],
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
    const bytes = new Uint8Array(readFileSync(out));
    const { fast, parsed } = bothWays(bytes, out);
    assert.equal(fast.size, 3000);
    assert.deepEqual(fast.records, parsed.records);
    assert.deepEqual(lightCount(bytes), { light: 2999, parsed: 1 });
    assert.equal(fast.find("%gcc@12").length, 2998);
    for (const k of [0, 1, 1500, 2999]) {
      const h = fast.records[k].hash;
      assert.deepEqual(fast.spec(h), parsed.spec(h));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const H = (c: string) => c.repeat(32);
const spec = (name: string, extra: Record<string, unknown> = {}, hash = H("a")) => ({
  name,
  version: "1.0",
  arch: { platform: "linux", platform_os: "debian12", target: "x86_64" },
  namespace: "builtin",
  parameters: { build_system: "generic" },
  ...extra,
  hash,
});
const doc = (installs: Record<string, unknown>) =>
  new TextEncoder().encode(JSON.stringify({ database: { version: "8", installs } }));

Deno.test("light records: unusual shapes are parsed and give the same records", () => {
  const dep = (hash: string, virtuals: string[], more: Record<string, unknown> = {}) => ({
    name: "d",
    hash,
    parameters: { deptypes: ["build", "link"], virtuals, ...more },
  });
  const cases: Record<string, unknown>[] = [
    // The compiler: c before cxx before fortran, whatever the order of the edges.
    { spec: spec("a", { dependencies: [dep(H("f"), ["fortran"]), dep(H("c"), ["cxx", "c"])] }) },
    { spec: spec("a", { dependencies: [dep(H("f"), ["fortran"]), dep(H("c"), ["cxx"])] }) },
    { spec: spec("a", { dependencies: [dep(H("c"), ["c"], { direct: true })] }) },
    { spec: spec("a", { dependencies: [] }) },
    // Externals, compiler attributes and annotations, a target dict, escapes, other keys.
    { spec: spec("a", { external: { path: "/usr" } }) },
    { spec: spec("a", { compiler: { name: "gcc", version: "12" } }) },
    { spec: spec("a", { annotations: { compiler: "gcc@=12" } }) },
    {
      spec: {
        ...spec("a"),
        arch: { platform: "linux", platform_os: "x", target: { name: "zen3" } },
      },
    },
    { spec: { ...spec("a"), version: '1"0' } },
    { spec: { ...spec("a"), version: "1.0-é" } },
    { spec: { ...spec("a"), version: "2" } },
    { spec: spec("a", { dependencies: [{ name: "d", hash: H("c"), type: ["build"] }] }) },
    { spec: spec("a"), installation_time: 1.5e9 },
    { spec: spec("a"), ref_count: 0, in_buildcache: true, explicit: true },
  ];
  for (const [i, rec] of cases.entries()) {
    const full = { ref_count: 1, in_buildcache: i % 2 === 0, ...rec };
    const installs = {
      [H("z")]: { spec: spec("z", {}, H("z")), ref_count: 0, in_buildcache: true },
    };
    installs[H("a")] = full as never;
    installs[H("c")] = { spec: spec("cc", {}, H("c")), ref_count: 1, in_buildcache: false };
    installs[H("f")] = { spec: spec("ff", {}, H("f")), ref_count: 1, in_buildcache: false };
    const bytes = doc(installs);
    const { fast, parsed } = bothWays(bytes, `case ${i}`);
    assert.deepEqual(fast.records, parsed.records, `case ${i}: ${JSON.stringify(rec)}`);
  }
});

Deno.test("light records: bad JSON the byte reader skips is refused when the node is read", () => {
  const installs = {
    [H("a")]: { spec: spec("a"), ref_count: 1, in_buildcache: true },
    [H("b")]: { spec: spec("b", {}, H("b")), ref_count: 1, in_buildcache: true },
  };
  const text = new TextDecoder().decode(doc(installs)).replace(
    '"build_system":"generic"',
    '"build_system":"generic" 7',
  );
  // The listing fields are read; the bad bytes are found when the record is parsed.
  const db = parseIndexDb(text, "bad");
  assert.deepEqual(db.records.map((r) => r.name), ["a", "b"]);
  assert.throws(
    () => db.node(H("a")),
    (e) =>
      e instanceof InvalidDataError &&
      /Cannot read bad again: .* at bytes \d+ to \d+ are not valid JSON/.test(e.message),
  );
  // A record whose listing fields are bad JSON is refused at once, naming the bytes.
  assert.throws(
    () => parseIndexDb(text.replace('"name":"b"', '"name":"b" 7'), "worse"),
    /Cannot parse worse: .*byte/,
  );
});
