/**
 * The behaviour every Store backend must have, as one suite each backend's test file runs (Deno's
 * test runner): `runStoreBehaviour("file", makeFileStore, { write: true, list: true })`. A store
 * written outside this library can run it too (`@spackle/spackle/testing`).
 *
 * @module
 */
import assert from "node:assert/strict";
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { basename, dirname, join } from "node:path";
import { NotFoundError, UsageError } from "../errors.ts";
import { collect } from "../core/streams.ts";
import { canPlaceFiles, isWritable, type ReadStore, type Store } from "../storage/store.ts";

/** A fresh store, a way to put an object into it behind its back, and a cleanup. */
export interface StoreUnderTest {
  store: ReadStore | Store;
  seed(path: string, bytes: Uint8Array): Promise<void>;
  cleanup(): Promise<void>;
}

/** What a backend can do. */
export interface StoreCaps {
  write: boolean;
  list: boolean;
  copy?: boolean;
  /** Takes local files (`placeFile`, `makeStagingDir`). */
  place?: boolean;
}

/** Deterministic pseudo-random bytes (xorshift), so large bodies are not all one value. */
export function bytesOf(size: number, seed = 1): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x;
    if (i + 1 < size) out[i + 1] = x >>> 8;
    if (i + 2 < size) out[i + 2] = x >>> 16;
    if (i + 3 < size) out[i + 3] = x >>> 24;
  }
  return out;
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

const text = (s: string) => new TextEncoder().encode(s);

/** Registers the behaviour tests of one backend. */
export function runStoreBehaviour(
  name: string,
  make: () => Promise<StoreUnderTest>,
  caps: StoreCaps,
  opts: { ignore?: boolean } = {},
): void {
  const t: Step = (title, fn, ignore = false) =>
    Deno.test({
      name: `${name} store: ${title}`,
      ignore: opts.ignore || ignore,
      sanitizeResources: false,
      sanitizeOps: false,
      async fn() {
        const s = await make();
        try {
          await fn(s);
        } finally {
          await s.cleanup();
        }
      },
    });
  readBehaviour(t, caps);
  writeBehaviour(t, caps);
  placeBehaviour(t, caps);
}

/** Registers one behaviour test (`ignore` when the backend lacks the capability). */
type Step = (title: string, fn: (s: StoreUnderTest) => Promise<void>, ignore?: boolean) => void;

function readBehaviour(t: Step, caps: StoreCaps): void {
  t("stat() gives the size of a present object and undefined for an absent one", async (s) => {
    await s.seed("a/b/c.json", text('{"x": 1}\n'));
    assert.deepEqual((await s.store.stat("a/b/c.json"))?.size, 9);
    assert.deepEqual(await s.store.stat("a/b/missing.json"), undefined);
    assert.deepEqual(await s.store.stat("nope/never.bin"), undefined);
  });

  t("read() returns the exact bytes, including an empty object", async (s) => {
    const bytes = bytesOf(1000, 7);
    await s.seed("blobs/sha256/ab/abcdef", bytes);
    await s.seed("empty.txt", new Uint8Array(0));
    assert.ok(same(await collect(await s.store.read("blobs/sha256/ab/abcdef")), bytes));
    assert.deepEqual((await collect(await s.store.read("empty.txt"))).byteLength, 0);
    assert.deepEqual((await s.store.stat("empty.txt"))?.size, 0);
  });

  t("read() of an absent path rejects with NotFoundError", async (s) => {
    await assert.rejects(() => s.store.read("build_cache/absent.spec.json"), NotFoundError);
  });

  t("paths with unusual but legal characters round-trip", async (s) => {
    const p = "v3/manifests/spec/py-x/py-x-1.0+cuda=on@a_b-abc.spec.manifest.json";
    await s.seed(p, text("ok"));
    assert.deepEqual(new TextDecoder().decode(await collect(await s.store.read(p))), "ok");
    assert.deepEqual((await s.store.stat(p))?.size, 2);
  });

  t("a 20 MB body streams back in several chunks with every byte intact", async (s) => {
    const big = bytesOf(20 * 1024 * 1024, 3);
    await s.seed("big/blob.bin", big);
    assert.deepEqual((await s.store.stat("big/blob.bin"))?.size, big.byteLength);
    let chunks = 0, off = 0, ok = true;
    for await (const c of await s.store.read("big/blob.bin")) {
      chunks++;
      for (let i = 0; i < c.byteLength && ok; i += 4099) ok = c[i] === big[off + i];
      ok &&= c[c.byteLength - 1] === big[off + c.byteLength - 1];
      off += c.byteLength;
    }
    assert.deepEqual(off, big.byteLength);
    assert.ok(ok, "bytes differ");
    assert.ok(chunks >= 1);
  });

  t('paths with ".." or a leading "/" are refused', async (s) => {
    for (const bad of ["../etc/passwd", "a/../../b", "/etc/passwd", "a/./b"]) {
      await assert.rejects(() => s.store.read(bad), UsageError, bad);
      await assert.rejects(() => s.store.stat(bad), UsageError, bad);
      if (isWritable(s.store)) {
        await assert.rejects(() => (s.store as Store).write(bad, text("x")), UsageError);
      }
    }
  });

  t("a call with an aborted signal rejects", async (s) => {
    await s.seed("x.bin", bytesOf(100));
    const c = new AbortController();
    c.abort(new Error("stop here"));
    await assert.rejects(() => s.store.read("x.bin", { signal: c.signal }), /stop here/);
    await assert.rejects(() => s.store.stat("x.bin", { signal: c.signal }), /stop here/);
  });

  t("list() yields every object under a prefix, recursively", async (s) => {
    for (const p of ["l/a.json", "l/sub/b.json", "l/sub/deep/c.bin", "other/d.json", "lx.json"]) {
      await s.seed(p, text(p));
    }
    const got = [];
    for await (const p of s.store.list!("l/")) got.push(p);
    assert.deepEqual(got.sort(), ["l/a.json", "l/sub/b.json", "l/sub/deep/c.bin"]);
    const all = [];
    for await (const p of s.store.list!("")) all.push(p);
    for (const p of ["l/a.json", "lx.json", "other/d.json"]) assert.ok(all.includes(p), p);
    const none = [];
    for await (const p of s.store.list!("absent/")) none.push(p);
    assert.deepEqual(none, []);
  }, !caps.list);
}

function writeBehaviour(t: Step, caps: StoreCaps): void {
  t("write() then read() and stat() see the object; overwrite replaces it", async (s) => {
    const st = s.store as Store;
    await st.write("w/one.json", text("first version"));
    assert.deepEqual(
      new TextDecoder().decode(await collect(await st.read("w/one.json"))),
      "first version",
    );
    await st.write("w/one.json", text("second"));
    assert.deepEqual(
      new TextDecoder().decode(await collect(await st.read("w/one.json"))),
      "second",
    );
    assert.deepEqual((await st.stat("w/one.json"))?.size, 6);
  }, !caps.write);

  t("write() takes a stream body", async (s) => {
    const st = s.store as Store;
    const big = bytesOf(3 * 1024 * 1024, 9);
    let off = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        if (off >= big.byteLength) return c.close();
        c.enqueue(big.slice(off, off + 65536));
        off += 65536;
      },
    });
    await st.write("w/stream.bin", body, { size: big.byteLength });
    assert.ok(same(await collect(await st.read("w/stream.bin")), big));
  }, !caps.write);

  t("a reader never sees a partially written object", async (s) => {
    const st = s.store as Store;
    const old = bytesOf(256 * 1024, 1);
    const next = bytesOf(2 * 1024 * 1024, 2);
    await st.write("atomic.bin", old);
    let off = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(c) {
        if (off >= next.byteLength) return c.close();
        await new Promise((r) => setTimeout(r, 2));
        c.enqueue(next.slice(off, off + 128 * 1024));
        off += 128 * 1024;
      },
    });
    const writing = st.write("atomic.bin", body);
    let done = false;
    writing.finally(() => done = true).catch(() => {});
    let reads = 0;
    while (!done) {
      const got = await collect(await st.read("atomic.bin"));
      assert.ok(same(got, old) || same(got, next), `partial object of ${got.byteLength} bytes`);
      const size = (await st.stat("atomic.bin"))?.size;
      assert.ok(size === old.byteLength || size === next.byteLength, `partial size ${size}`);
      reads++;
      await new Promise((r) => setTimeout(r, 1));
    }
    await writing;
    assert.ok(same(await collect(await st.read("atomic.bin")), next));
    assert.ok(reads > 0);
    if (st.list) {
      const names = [];
      for await (const p of st.list("")) names.push(p);
      assert.deepEqual(names, ["atomic.bin"], "no temporary object is left or listed");
    }
  }, !caps.write);

  t("delete() removes an object and deleting an absent one is not an error", async (s) => {
    const st = s.store as Store;
    await st.write("d/gone.json", text("x"));
    await st.delete("d/gone.json");
    assert.deepEqual(await st.stat("d/gone.json"), undefined);
    await assert.rejects(() => st.read("d/gone.json"), NotFoundError);
    await st.delete("d/gone.json");
    await st.delete("never/was.json");
  }, !caps.write);

  t("copy() duplicates an object", async (s) => {
    const st = s.store as Store;
    await st.write("c/src.bin", bytesOf(5000, 4));
    await st.copy!("c/src.bin", "c/dst.bin");
    assert.ok(same(await collect(await st.read("c/dst.bin")), bytesOf(5000, 4)));
    await assert.rejects(() => st.copy!("c/absent.bin", "c/x.bin"), NotFoundError);
  }, !caps.copy);
}

function placeBehaviour(t: Step, caps: StoreCaps): void {
  t(
    "placeFile() takes a staged file as an object; the file stays; a second one replaces it",
    async (s) => {
      assert.ok(canPlaceFiles(s.store), "the store has placeFile and makeStagingDir");
      const st = s.store;
      const dir = await st.makeStagingDir("push");
      try {
        const first = join(dir, "first.bin");
        writeFileSync(first, bytesOf(300_000, 5));
        await st.placeFile("p/sha256/ab/blob", first);
        assert.ok(same(await collect(await st.read("p/sha256/ab/blob")), bytesOf(300_000, 5)));
        assert.deepEqual((await st.stat("p/sha256/ab/blob"))?.size, 300_000);
        assert.ok(same(readFileSync(first), bytesOf(300_000, 5)), "the placed file stays readable");
        const second = join(dir, "second.bin");
        writeFileSync(second, text("replacement"));
        await st.placeFile("p/sha256/ab/blob", second);
        assert.deepEqual(
          new TextDecoder().decode(await collect(await st.read("p/sha256/ab/blob"))),
          "replacement",
        );
        const names = [];
        for await (const p of st.list!("p/")) names.push(p);
        assert.deepEqual(names, ["p/sha256/ab/blob"], "no temporary object is left or listed");
        await assert.rejects(() => st.placeFile("../out.bin", second), UsageError);
        await assert.rejects(() => st.placeFile("p/x.bin", join(dir, "absent.bin")));
        assert.deepEqual(await st.stat("p/x.bin"), undefined, "nothing placed from a missing file");
        const c = new AbortController();
        c.abort(new Error("stop here"));
        await assert.rejects(() => st.placeFile("p/y.bin", second, { signal: c.signal }), /stop/);
        assert.deepEqual(await st.stat("p/y.bin"), undefined);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    !caps.place,
  );

  t(
    "makeStagingDir() makes a new owner-named directory and removes dead owners' ones",
    async (s) => {
      assert.ok(canPlaceFiles(s.store));
      const st = s.store;
      const a = await st.makeStagingDir("push");
      const root = dirname(a);
      // A pid that no longer runs: a process that has exited.
      const gone = new Deno.Command("true").spawn();
      await gone.status;
      const dead = join(root, `.spackle-push-${hostname()}-${gone.pid}-abc123`);
      const other = join(root, `.spackle-push-elsewhere.example.org-${gone.pid}-def456`);
      try {
        assert.ok(statSync(a).isDirectory());
        assert.match(basename(a), new RegExp(`^\\.spackle-push-${hostname()}-${Deno.pid}-`));
        for (const d of [dead, other]) {
          mkdirSync(d);
          writeFileSync(join(d, "part"), "partial");
        }
        const b = await st.makeStagingDir("push");
        assert.notEqual(a, b);
        const left = readdirSync(root).filter((n) => n.startsWith(".spackle-push-")).sort();
        assert.deepEqual(left, [basename(a), basename(b), basename(other)].sort());
        await assert.rejects(() => st.makeStagingDir("no such writer"), UsageError);
      } finally {
        for (const d of [a, dead, other]) rmSync(d, { recursive: true, force: true });
        rmSync(join(root, readdirSync(root).find((n) => n.startsWith(".spackle-push-")) ?? "-"), {
          recursive: true,
          force: true,
        });
      }
    },
    !caps.place,
  );
}
