import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { InvalidDataError } from "../errors.ts";
import { parseIndexDb } from "./db.ts";
import { IndexScanner, type RecordFields } from "./scan.ts";
import { checkNodeIdentity } from "../spec/node.ts";
import { wasmScan } from "./wasm_scan.ts";

const H = (c: string, i: number) => (c + i.toString(32).padStart(4, "0")).padEnd(32, c);
const arch = (t: unknown) => ({ platform: "linux", platform_os: "debian12", target: t });

/** Records of every shape the light fields depend on. */
function variants(): Record<string, unknown>[] {
  const spec = (extra: Record<string, unknown>) => ({
    name: "p",
    version: "1.0",
    arch: arch("x86_64"),
    ...extra,
  });
  const dep = (h: string, virtuals: unknown, more: Record<string, unknown> = {}) => ({
    name: "d",
    hash: h,
    parameters: { deptypes: ["build"], virtuals },
    ...more,
  });
  const out: Record<string, unknown>[] = [];
  for (
    const external of [undefined, {}, [], "", "x", 0, 1, 0.0, -0, 0.5, true, false, null, 1e-5]
  ) out.push({ spec: spec({ external }), in_buildcache: true });
  for (const ibc of [true, false, 1, "true", null, {}]) {
    out.push({ spec: spec({}), in_buildcache: ibc });
  }
  for (const t of [1.7e9, 1712345678.25, "1", null, 0, -3]) {
    out.push({ spec: spec({}), installation_time: t });
  }
  for (
    const a of [
      arch({ name: "zen3", vendor: "AMD", features: ["a", "b"], parents: [{ name: "zen2" }] }),
      arch({ vendor: "none" }),
      { platform: "linux" },
      { platform_os: "rhel8", target: "icelake" },
      {},
      null,
      "linux-x-y",
      arch(7),
    ]
  ) out.push({ spec: { name: "a", version: "2", arch: a } });
  for (
    const c of [
      { compiler: { name: "gcc", version: "=12.2.0" } },
      { compiler: { name: "gcc", version: "12" }, annotations: { compiler: "clang@=15" } },
      { annotations: { compiler: "clang@=15" } },
      { annotations: { compiler: "bad" } },
      { annotations: { compiler: 3, original_specfile_version: 4 } },
      { compiler: { version: "1" }, annotations: { compiler: "intel@19" } },
      { compiler: "gcc@1" },
      { compiler: { name: 5, version: "1" } },
      { annotations: [] },
    ]
  ) out.push({ spec: spec(c) });
  for (
    const deps of [
      [dep(H("a", 1), ["cxx"]), dep(H("b", 2), ["c"])],
      [dep(H("a", 1), ["fortran"]), dep(H("b", 2), ["cxx", "c"])],
      [dep(H("a", 1), []), dep(H("b", 2), "c"), 7, null, dep(H("c", 3), ["mpi", "c"])],
      [{ name: "d", parameters: { virtuals: ["c"] } }],
      [{ name: "d", hash: 12, parameters: { virtuals: ["c"] } }],
      [dep(H("a", 1), ["\u0063"]), { hash: H("e", 5), parameters: [] }],
      [dep(H("a", 1), ["c", 3, null])],
      { d: { hash: H("a", 1) } },
      [],
    ]
  ) out.push({ spec: spec({ dependencies: deps }) });
  out.push({ spec: { name: "ünï", version: "1" } });
  out.push({ spec: { name: "tab\there", version: "1" } });
  out.push({ spec: { name: 5, version: 6 } });
  out.push({ spec: { version: "1" } });
  out.push({ spec: [] });
  out.push({ spec: null });
  out.push({ nospec: true });
  out.push({
    spec: { name: "deep", version: "1", x: [[[[[[[[[[[[{ a: [1, { b: 2 }] }]]]]]]]]]]]] },
  });
  return out;
}

/** `{"database":{...,"installs":{...}}}` over the records, by hash; `indent` as JSON.stringify. */
function doc(recs: unknown[], indent?: number): string {
  const installs: Record<string, unknown> = {};
  recs.forEach((r, i) => installs[H("h", i)] = r);
  return JSON.stringify({ database: { version: "8", installs } }, null, indent);
}

/** The fields every record gives, read with or without WebAssembly. */
function scanFields(text: string, wasm: boolean): unknown[] {
  const out: unknown[] = [];
  const scanner = new IndexScanner("t", {
    fields: (hash: string, f: RecordFields) => {
      // Fields marked checked pass the identity check (which only the WebAssembly scanner
      // does); the rest is the same either way.
      const { checked, ...rest } = f;
      if (checked) checkNodeIdentity({ name: f.name, version: f.version, hash }, "checked");
      out.push({ hash, ...rest });
    },
    record: (hash: string, rec: unknown) => out.push({ hash, parsed: rec }),
    batch: () => {},
  }, { wasm });
  const bytes = new TextEncoder().encode(text);
  for (let i = 0; i < bytes.length; i += 4096) scanner.feed(bytes.slice(i, i + 4096));
  scanner.end();
  return out;
}

/** The outcome of parsing: the light records, or the error's class. */
function outcome(f: () => { records: unknown[] }): unknown {
  try {
    return f().records;
  } catch (e) {
    return (e as Error).constructor.name;
  }
}

Deno.test("the WebAssembly scanner runs here and reads plain records itself", () => {
  const w = wasmScan();
  assert.ok(w, "WebAssembly instantiates");
  const text = doc(variants().slice(0, 10));
  const at = text.indexOf('"installs":{') + 12;
  const got = w.scan(new TextEncoder().encode(text.slice(at)));
  assert.equal(got.count, 10);
  assert.equal(got.stop, 1); // the end of `installs`
  // Each scan has a scanner of its own: its memory (grown to the window) is not kept for the
  // rest of the process, and one scanner's table is not another's.
  const other = wasmScan()!;
  assert.notEqual(other, w);
  const few = other.scan(new TextEncoder().encode(doc(variants().slice(0, 3)).slice(at)));
  assert.equal(few.count, 3);
  assert.equal(got.count, 10);
});

Deno.test("records of every shape give the light records JSON.parse gives, with and without WebAssembly", () => {
  for (const indent of [undefined, 2]) {
    const recs = variants();
    // Each record alone (a bad one fails the whole index), then all the good ones together.
    const good: unknown[] = [];
    for (const r of recs) {
      const text = doc([r, r], indent);
      const want = outcome(() => parseIndexDb(JSON.parse(text), "t"));
      assert.deepEqual(outcome(() => parseIndexDb(text, "t")), want, text);
      if (Array.isArray(want)) good.push(r);
    }
    const text = doc(good, indent);
    const want = parseIndexDb(JSON.parse(text), "t").records;
    assert.equal(want.length, good.length);
    assert.deepEqual(parseIndexDb(text, "t").records, want);
    // The fields read with WebAssembly and by the JS reader alone are the same.
    assert.deepEqual(scanFields(text, true), scanFields(text, false));
  }
});

Deno.test("the WebAssembly scanner marks a record checked exactly when its name, hash and version pass the identity check", () => {
  const names = ["p", "P_1", "_a", "a.b+c-d", "0x", "-a", ".a", "+a", "a/b", "a b", "", "a:b"];
  const versions = ["1.0", "=1.2", "", ".", "..", "...", ".1", "1/2", "a b", "develop", null];
  const hashes = [H("h", 0), "a", "x".repeat(64), "x".repeat(65), "ABC", "a-b", "a_b"];
  const recs: [string, Record<string, unknown>][] = [];
  for (const name of names) {
    for (const version of versions) {
      for (const hash of hashes) {
        recs.push([hash, { spec: { name, ...(version === null ? {} : { version }) } }]);
      }
    }
  }
  let checked = 0, unchecked = 0;
  // One record per index: a repeated key is a different case.
  for (const [hash, rec] of recs) {
    const text = JSON.stringify({ database: { version: "8", installs: { [hash]: rec } } });
    const scanner = new IndexScanner("t", {
      fields: (h: string, f: RecordFields) => {
        let valid = true;
        try {
          checkNodeIdentity({ name: f.name, version: f.version, hash: h }, "t");
        } catch {
          valid = false;
        }
        assert.equal(!!f.checked, valid, `${JSON.stringify(rec)} ${h}`);
        if (f.checked) checked++;
        else unchecked++;
      },
      record: () => assert.fail("read whole"),
      batch: () => {},
    }, { wasm: true });
    scanner.feed(new TextEncoder().encode(text));
    scanner.end();
  }
  assert.equal(checked + unchecked, recs.length);
  assert.ok(checked > 50 && unchecked > 500, `${checked} checked, ${unchecked} not`);
});

Deno.test("repeated keys keep the last value, as JSON.parse has it, at every level", () => {
  const text = doc([{ spec: { name: "a", version: "1" } }])
    .replace(
      '"version":"1"',
      '"version":"1","name":"b","arch":{"platform":"x","platform_os":"y","target":"z","target":"w"}',
    )
    .replace('"spec":', '"in_buildcache":false,"in_buildcache":true,"spec":');
  const want = parseIndexDb(JSON.parse(text), "t").records;
  assert.equal(want[0].name, "b");
  assert.equal(want[0].arch, "x-y-w");
  assert.equal(want[0].inBuildcache, true);
  assert.deepEqual(parseIndexDb(text, "t").records, want);
  assert.deepEqual(scanFields(text, true), scanFields(text, false));
});

Deno.test("a change of one byte in the records is refused exactly when JSON.parse refuses it", () => {
  const text = doc(variants().slice(0, 40));
  const start = text.indexOf('"installs":{') + 12;
  const end = text.length - 3;
  // A deterministic walk over positions and replacement bytes.
  let seed = 7;
  const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) % 2147483648) % n;
  const bytes = ' "{}[],:0-1.e+tfnx\\\t\n\u0001ü';
  let refused = 0;
  for (let k = 0; k < 400; k++) {
    const at = start + rnd(end - start);
    const c = bytes[rnd(bytes.length)];
    const how = rnd(3);
    const bad = how === 0
      ? text.slice(0, at) + c + text.slice(at + 1)
      : how === 1
      ? text.slice(0, at) + c + text.slice(at)
      : text.slice(0, at) + text.slice(at + 1);
    let parsed: unknown;
    try {
      parsed = JSON.parse(bad);
    } catch {
      parsed = undefined;
    }
    const got = outcome(() => parseIndexDb(bad, "t"));
    if (parsed === undefined) {
      refused++;
      assert.equal(
        got,
        "InvalidDataError",
        `refused by JSON.parse: ${bad.slice(at - 30, at + 30)}`,
      );
      assert.throws(() => scanFields(bad, false), InvalidDataError);
    } else {
      assert.deepEqual(got, outcome(() => parseIndexDb(parsed, "t")), bad.slice(at - 30, at + 30));
      assert.deepEqual(scanFields(bad, true), scanFields(bad, false));
    }
  }
  assert.ok(refused > 100, `${refused} refused`);
});

Deno.test("a generated index of 3,000 specs (shared arch, parameters and compiler dependencies) reads the same with and without WebAssembly", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = `${dir}/index.json`;
    const script = new URL("../../scripts/gen_index.ts", import.meta.url).pathname;
    const p = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", script, out, "3000"],
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.equal(p.code, 0, new TextDecoder().decode(p.stderr));
    const text = await Deno.readTextFile(out);
    const want = parseIndexDb(JSON.parse(text), "t").records;
    assert.equal(want.length, 3000);
    assert.deepEqual(parseIndexDb(text, "t").records, want);
    assert.deepEqual(scanFields(text, true), scanFields(text, false));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("IndexScanner never changes the bytes it is given, also when they are a Node Buffer", () => {
  const text = '{"database":{"version":"7","installs":{"' + "a".repeat(32) +
    '":{"spec":{"name":"x"}}}}}';
  for (const input of [Buffer.from(text), new TextEncoder().encode(text)]) {
    const before = new Uint8Array(input);
    const s = new IndexScanner("t", { record: () => {}, fields: () => {}, batch: () => {} });
    s.feed(input);
    s.end();
    assert.deepEqual(new Uint8Array(input), before);
  }
});
