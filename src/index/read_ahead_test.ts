import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { IntegrityError, InvalidDataError } from "../errors.ts";
import { type IndexDb, readIndexDb } from "./db.ts";
import { IndexReadAhead } from "./read_ahead.ts";

const b32 = "abcdefghijklmnopqrstuvwxyz234567";
const hashOf = (i: number) =>
  "q".repeat(26) + [...i.toString(32).padStart(6, "0")].map((c) => b32[parseInt(c, 32)]).join("");

/**
 * An index of `n` records, most plain, some that the WebAssembly scanner leaves to the JS reader
 * (escapes, non-ASCII), some bigger than a chunk, some with shapes it reads whole.
 */
function index(n: number, indent?: number): string {
  const installs: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) {
    const spec: Record<string, unknown> = {
      name: `p${i % 97}`,
      version: `1.${i % 13}`,
      arch: {
        platform: "linux",
        platform_os: i % 3 ? "debian12" : "rhel8",
        target: { name: "zen3", vendor: "AMD", features: ["avx", "avx2"], generation: 0 },
      },
      parameters: { build_system: "cmake", cflags: [], note: "n".repeat(200 + (i % 50)) },
      dependencies: i > 0
        ? [{ name: "gcc", hash: hashOf(0), parameters: { deptypes: ["build"], virtuals: ["c"] } }]
        : [],
      hash: hashOf(i),
    };
    if (i % 101 === 5) spec.parameters = { cflags: ['-DX="1"'] }; // an escape
    if (i % 211 === 7) spec.namespace = "büiltin"; // non-ASCII
    if (i === 1500) spec.parameters = { big: "b".repeat(1_300_000) }; // bigger than a chunk
    if (i % 307 === 9) spec.version = 3; // read whole (not a string)
    installs[hashOf(i)] = { spec, ref_count: 1, in_buildcache: i % 5 !== 0 };
  }
  return JSON.stringify({ database: { version: "8", installs } }, null, indent);
}

/** The file `text` in a fresh directory, its sha256 and stat. */
function file(text: string | Uint8Array) {
  const dir = mkdtempSync(join(tmpdir(), "spackle-readahead-"));
  const path = join(dir, "index.json");
  writeFileSync(path, text);
  const bytes = typeof text === "string" ? new TextEncoder().encode(text) : text;
  return {
    dir,
    path,
    bytes,
    digest: createHash("sha256").update(bytes).digest("hex"),
    before: statSync(path),
  };
}

/** The bytes in chunks of `size` (each a fresh copy), as a plain stream gives them. */
function* chunks(bytes: Uint8Array, size = 1 << 20): Generator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.slice(i, i + size);
}

/** What a read gives: the records and some nodes, or the error's class and message. */
async function outcome(read: () => Promise<IndexDb>): Promise<unknown> {
  try {
    const db = await read();
    const some = [db.records[0], db.records[1500], db.records.at(-1)].filter((r) => r);
    return { records: db.records, nodes: some.map((r) => db.node(r!.hash)) };
  } catch (e) {
    return { error: (e as Error).constructor.name, message: (e as Error).message };
  }
}

/**
 * Asserts two outcomes are the same, naming the first record that differs (a failed deep
 * comparison of thousands of records would build a diff bigger than the machine's memory).
 */
function assertSame(got: unknown, want: unknown, what: string) {
  const g = got as { records?: unknown[]; nodes?: unknown[] };
  const w = want as { records?: unknown[]; nodes?: unknown[] };
  if (!g.records && !w.records) return assert.deepEqual(got, want, what);
  const error = (o: unknown) => JSON.stringify((o as { message?: string }).message);
  if (!g.records) assert.fail(`${what}: the read failed (${error(got)}), the plain read did not`);
  if (!w.records) assert.fail(`${what}: the plain read failed (${error(want)}), this one did not`);
  assert.equal(g.records.length, w.records.length, `${what}: record count`);
  const at = g.records.findIndex((r, i) => JSON.stringify(r) !== JSON.stringify(w.records![i]));
  if (at >= 0) assert.deepEqual(g.records[at], w.records[at], `${what}: record ${at}`);
  assert.deepEqual(g.nodes, w.nodes, `${what}: nodes`);
}

function ahead(f: ReturnType<typeof file>, over: Partial<{ digest: string; size: number }> = {}) {
  const a = IndexReadAhead.start(f.path, {
    digest: f.digest,
    size: f.bytes.length,
    label: "idx",
    before: f.before,
    ...over,
  });
  assert.ok(a, "a worker starts here");
  return a;
}

Deno.test("an index read ahead by a worker gives the records, nodes and errors of a plain read", async () => {
  const cases: [string, string][] = [
    ["compact", index(6000)],
    ["indented", index(3000, 2)],
    ["empty", '{"database":{"version":"8","installs":{}}}' + " ".repeat(5 << 20)],
    // The records start past more than the worker keeps of a head: it only reads.
    [
      "long head",
      index(3000).replace('"installs":', `"x":"${"x".repeat(9 << 20)}","installs":`),
    ],
    // The records start past several chunks.
    [
      "late records",
      index(3000).replace('"installs":', `"x":"${"x".repeat(3 << 20)}","installs":`),
    ],
    ["bad JSON in the middle", index(6000).replace(`"p50","version":"1.11"`, `"p50" "1.11"`)],
    ["cut", index(6000).slice(0, -1000)],
  ];
  for (const [what, text] of cases) {
    const f = file(text);
    try {
      assert.ok(f.bytes.length > 4 << 20, `${what}: several chunks`);
      const reread = (s: number, e: number) => f.bytes.slice(s, e);
      const want = await outcome(() => readIndexDb(chunks(f.bytes), "idx", { reread }));
      const a = ahead(f);
      const got = await outcome(() => readIndexDb(a, "idx", { reread }));
      assertSame(got, want, what);
      if (what === "compact" || what === "indented" || what === "late records") {
        // The worker's scanner read the plain records; those it left were read here.
        const n = (want as { records: unknown[] }).records.length;
        assert.equal(n, what === "compact" ? 6000 : 3000, what);
        assert.ok(a.hintsUsed > 0.9 * n && a.hintsUsed < n, `${a.hintsUsed} of ${n} hinted`);
      }
      if (what === "long head") assert.equal(a.hintsUsed, 0);
      if (what.startsWith("bad") || what === "cut") {
        assert.equal((want as { error: string }).error, "InvalidDataError", what);
      }
    } finally {
      rmSync(f.dir, { recursive: true });
    }
  }
});

Deno.test("a read ahead of an index with one byte changed, added or removed gives what a plain read gives", async () => {
  const text = index(5000);
  // Places near chunk ends (where the worker cuts what it sends) and anywhere in the records.
  let seed = 23;
  const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) % 2147483648) % n;
  const start = text.indexOf('"installs":{') + 12;
  const places = [65536, 1 << 20, (1 << 20) + 65536, 2 << 20, 3 << 20]
    .flatMap((p) => [p - 1 - rnd(300), p + rnd(300)])
    .concat(Array.from({ length: 8 }, () => start + rnd(text.length - start - 10)));
  const bytes = ' "{}[],:\\0x\n';
  let refused = 0;
  for (const at of places) {
    const c = bytes[rnd(bytes.length)];
    const how = rnd(3);
    const bad = how === 0
      ? text.slice(0, at) + c + text.slice(at + 1)
      : how === 1
      ? text.slice(0, at) + c + text.slice(at)
      : text.slice(0, at) + text.slice(at + 1);
    const f = file(bad);
    try {
      const reread = (s: number, e: number) => f.bytes.slice(s, e);
      const want = await outcome(() => readIndexDb(chunks(f.bytes), "idx", { reread }));
      const got = await outcome(() => readIndexDb(ahead(f), "idx", { reread }));
      assertSame(
        got,
        want,
        `${["replaced", "inserted", "removed"][how]} ${JSON.stringify(c)} at ${at}`,
      );
      if ("error" in (want as object)) refused++;
    } finally {
      rmSync(f.dir, { recursive: true });
    }
  }
  // Both kinds: changes that break the JSON and changes that keep it valid.
  assert.ok(refused > 2 && refused < places.length - 2, `${refused} of ${places.length} refused`);
});

Deno.test("an index read ahead is checked against its digest and size, and must be the file stat found", async () => {
  const f = file(index(4000));
  try {
    const read = (a: IndexReadAhead) => readIndexDb(a, "idx");
    await assert.rejects(
      read(ahead(f, { digest: "0".repeat(64) })),
      (e) => e instanceof IntegrityError && /idx: digest is "sha256:/.test(e.message),
    );
    await assert.rejects(
      read(ahead(f, { size: f.bytes.length + 1 })),
      (e) => e instanceof IntegrityError && /body is \d+ bytes, \d+ were declared/.test(e.message),
    );
    await assert.rejects(
      read(ahead(f, { size: f.bytes.length - 10 })),
      (e) => e instanceof IntegrityError && /longer than the declared/.test(e.message),
    );
    // Changed since it was looked at (here its time): refused before anything is read.
    utimesSync(f.path, new Date(1e12), new Date(1e12));
    await assert.rejects(
      read(ahead(f)),
      (e) => e instanceof InvalidDataError && /idx: it changed while it was read/.test(e.message),
    );
    const good = { ...f, before: statSync(f.path) };
    assert.equal((await read(ahead(good))).records.length, 4000);
  } finally {
    rmSync(f.dir, { recursive: true });
  }
});

Deno.test("a read ahead stops when aborted, and a missing file is the read's error", async () => {
  const f = file(index(6000));
  try {
    const ac = new AbortController();
    const a = IndexReadAhead.start(f.path, {
      digest: f.digest,
      size: f.bytes.length,
      label: "idx",
      before: f.before,
      signal: ac.signal,
    })!;
    let chunks = 0;
    await assert.rejects(
      (async () => {
        for await (const _ of a) if (++chunks === 3) ac.abort();
      })(),
      (e) => (e as Error).name === "AbortError",
    );
    assert.equal(chunks, 3);
    rmSync(f.path);
    await assert.rejects(
      readIndexDb(ahead(f), "idx"),
      (e) => (e as { code?: string }).code === "ENOENT",
    );
  } finally {
    rmSync(f.dir, { recursive: true });
  }
});

Deno.test("without workers there is no read ahead (the caller reads the file itself)", () => {
  const g = globalThis as { Worker?: unknown };
  const saved = g.Worker;
  g.Worker = undefined;
  try {
    assert.equal(
      IndexReadAhead.start("/nonexistent", {
        digest: "",
        size: 0,
        label: "idx",
        before: { ino: 0, size: 0, mtimeMs: 0 },
      }),
      undefined,
    );
  } finally {
    g.Worker = saved;
  }
});
