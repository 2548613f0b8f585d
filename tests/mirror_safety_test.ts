/**
 * The write side never damages a mirror: prune beside a push (both orders of the race,
 * forced deterministically through a store that runs the other writer at the worst moment),
 * empty keep lists, corrupt blobs of the right size repaired by push and sync, update-index
 * leaving out entries whose blobs or runtime dependencies are missing.
 */
import assert from "node:assert/strict";
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { fixture, HAVE_FIXTURES, REPO_ROOT } from "./_fixtures.ts";
import { main } from "../src/cli/app.ts";
import { FileStore } from "../src/storage/file.ts";
import type { Store, StoreCallOptions, WriteOptions } from "../src/storage/store.ts";
import { V3Writer } from "../src/layout/v3/writer.ts";
import { V3Reader } from "../src/layout/v3/reader.ts";
import { dbSource, pushSpecs, specsToPush } from "../src/push/push.ts";
import { updateIndex } from "../src/push/update_index.ts";
import { pruneMirror } from "../src/mirror/prune.ts";
import { syncMirror } from "../src/mirror/sync.ts";
import { verifyMirror } from "../src/mirror/verify.ts";
import { UsageError } from "../src/errors.ts";

const FOOAPP = "iicodpd5dtmh5ijlchcoay25frkfkyuv";
const LIBZZ = "irttwv2f4rzhheesshe6vsy3xw3ezk2h";

function store(dir: string) {
  return new FileStore(pathToFileURL(dir + "/"));
}

/** Runs the CLI in this process, capturing its exit code, stdout and stderr. */
async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const p = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(REPO_ROOT, "cli.ts"), ...args],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: p.code, out: dec.decode(p.stdout), err: dec.decode(p.stderr) };
}

let treeCache: string | undefined;
/** An install tree of fooapp (4 specs) made once for the file. */
async function tree(): Promise<string> {
  if (treeCache) return treeCache;
  const base = await Deno.makeTempDir({ prefix: "sp-safety-tree-" });
  const root = join(base, "tree");
  const code = await main([
    "--quiet",
    "install",
    "-m",
    fixture("v3-unsigned"),
    "--root",
    root,
    "--allow-unsigned",
    "fooapp",
  ]);
  assert.equal(code, 0);
  addEventListener("unload", () => rmSync(base, { recursive: true, force: true }));
  return treeCache = root;
}

/** Problems (not notices) verify finds in the mirror at `dir`. */
async function problems(dir: string): Promise<string[]> {
  const r = await verifyMirror(store(dir));
  return r.findings.filter((f) => f.kind !== "notice").map((f) => `${f.code}: ${f.message}`);
}

/** The spec hashes that have a manifest in the mirror. */
function manifestHashes(dir: string): string[] {
  const d = join(dir, "v3/manifests/spec");
  if (!existsSync(d)) return [];
  return readdirSync(d, { recursive: true }).map(String).filter((p) =>
    p.endsWith(".spec.manifest.json")
  ).map((p) => p.slice(-51, -19)).sort();
}

async function pushAll(mirror: string, st: Store = store(mirror), force = false) {
  const root = await tree();
  const src = dbSource(root);
  const { items } = specsToPush(src.query("fooapp"), src);
  const res = await pushSpecs(items, src, new V3Writer(st), { force });
  for (const r of res) assert.notEqual(r.status, "failed", r.error);
  return res;
}

/** A store that runs `hook` once, just before the first write whose path matches. */
function hooked(inner: FileStore, match: RegExp, hook: () => Promise<void>): Store {
  let fired = false;
  return new Proxy(inner, {
    get(t, k, r) {
      if (k === "write") {
        return async (
          path: string,
          body: Uint8Array | ReadableStream<Uint8Array>,
          o?: WriteOptions,
        ) => {
          if (!fired && match.test(path)) {
            fired = true;
            await hook();
          }
          return await t.write(path, body, o);
        };
      }
      const v = Reflect.get(t, k, r);
      return typeof v === "function" ? v.bind(t) : v;
    },
  });
}

Deno.test({
  name: "prune --delete that runs between a push's blobs and its manifest deletes nothing it needs",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const base = await Deno.makeTempDir({ prefix: "sp-safety-" });
    try {
      const mirror = join(base, "m");
      // Each spec's blobs are written, then (once) a whole prune runs before the first
      // manifest lands: the new blobs look orphan to it.
      let pruned = 0;
      const st = hooked(store(mirror), /^v3\/manifests\/spec\//, async () => {
        const r = await pruneMirror(store(mirror), { delete: true });
        pruned = r.items.filter((i) => i.kind === "blob").length;
      });
      await pushAll(mirror, st);
      assert.ok(pruned > 0, "the prune saw the pushed blobs as orphans and deleted them");
      await updateIndex(new V3Writer(store(mirror)));
      assert.deepEqual(await problems(mirror), []);
      assert.equal(manifestHashes(mirror).length, 4);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "a push that lands after prune listed the blobs is not pruned as missing-blob",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const base = await Deno.makeTempDir({ prefix: "sp-safety-" });
    try {
      const mirror = join(base, "m");
      await pushAll(mirror);
      await updateIndex(new V3Writer(store(mirror)));
      const saved = join(base, "saved");
      cpSync(mirror, saved, { recursive: true });
      rmSync(join(mirror, "v3/manifests/spec"), { recursive: true });
      rmSync(join(mirror, "blobs"), { recursive: true });
      // The prune lists the blobs (only the index's), then another writer lands whole entries
      // (blobs first, then manifests), then the prune reads the manifests.
      const inner = store(mirror);
      let listed = 0;
      const pst = new Proxy(inner, {
        get(t, k, r) {
          if (k === "list") {
            return async function* (prefix: string, o?: StoreCallOptions) {
              yield* t.list(prefix);
              if (prefix === "blobs/" && listed++ === 0) {
                cpSync(join(saved, "blobs"), join(mirror, "blobs"), { recursive: true });
                cpSync(join(saved, "v3"), join(mirror, "v3"), { recursive: true });
              }
              o?.signal?.throwIfAborted();
            };
          }
          const v = Reflect.get(t, k, r);
          return typeof v === "function" ? v.bind(t) : v;
        },
      });
      const r = await pruneMirror(pst as Store, { delete: true });
      assert.deepEqual(r.items.filter((i) => i.kind === "manifest"), []);
      assert.equal(manifestHashes(mirror).length, 4);
      await updateIndex(new V3Writer(store(mirror)));
      assert.deepEqual(await problems(mirror), []);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name:
    "prune refuses an empty keep list (file, blank lines, empty lockfile) unless --keep-nothing",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const base = await Deno.makeTempDir({ prefix: "sp-safety-" });
    try {
      const mirror = join(base, "m");
      await pushAll(mirror);
      await updateIndex(new V3Writer(store(mirror)));
      const keep = join(base, "keep");
      for (
        const text of [
          "",
          "\n\n  \n",
          "# nothing\n",
          '{"_meta":{"lockfile-version":6},"roots":[],"concrete_specs":{}}',
        ]
      ) {
        writeFileSync(keep, text);
        const r = await cli("prune", mirror, "--keep", keep, "--delete");
        assert.equal(r.code, 2, JSON.stringify(text) + r.err);
        assert.match(r.err, /names no hash.*--keep-nothing/);
        assert.equal(manifestHashes(mirror).length, 4);
      }
      await assert.rejects(
        () => pruneMirror(store(mirror), { keep: new Set(), delete: true }),
        UsageError,
      );
      const r = await cli("prune", mirror, "--keep-nothing", "--delete");
      assert.equal(r.code, 0, r.err);
      assert.deepEqual(manifestHashes(mirror), []);
      // Only the (empty) index and key index are left, each named by its manifest.
      const report = await verifyMirror(store(mirror));
      assert.deepEqual(report.findings.map((f) => f.code), []);
      // The index was rebuilt empty, and verify is clean.
      const idx = new V3Reader(store(mirror));
      const refs = [];
      for await (const x of idx.list()) refs.push(x);
      assert.deepEqual(refs, []);
      assert.deepEqual(await problems(mirror), []);
      // update-index of an empty mirror writes an empty index instead of failing.
      rmSync(join(mirror, "v3/manifests/index"), { recursive: true });
      const u = await cli("update-index", mirror);
      assert.equal(u.code, 0, u.err);
      assert.match(u.err + u.out, /index of 0 specs/);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  },
});

/** Overwrites the file with bytes of the same length that are not its content. */
function corruptSameSize(path: string) {
  const b = readFileSync(path);
  for (let i = 0; i < b.length; i += 97) b[i] ^= 0x5a;
  writeFileSync(path, b);
}

async function tarballBlob(mirror: string, hash: string): Promise<string> {
  const e = await new V3Reader(store(mirror)).entry(hash, { requireSignature: false });
  return join(mirror, "blobs/sha256", e.tarball.checksum.slice(0, 2), e.tarball.checksum);
}

Deno.test({
  name:
    "push and push -f replace a corrupt blob of the right size; --trust-destination skips the check",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const base = await Deno.makeTempDir({ prefix: "sp-safety-" });
    try {
      const mirror = join(base, "m");
      const root = await tree();
      let r = await cli("push", "--unsigned", "--update-index", "--root", root, mirror, "fooapp");
      assert.equal(r.code, 0, r.err);
      const blob = await tarballBlob(mirror, LIBZZ);
      corruptSameSize(blob);
      assert.notDeepEqual(await problems(mirror), []);
      r = await cli("push", "--unsigned", "--root", root, mirror, "fooapp");
      assert.equal(r.code, 0, r.err);
      assert.match(r.err, /1 pushed, 3 already present/);
      assert.deepEqual(await problems(mirror), []);
      corruptSameSize(blob);
      r = await cli("push", "--unsigned", "--trust-destination", "--root", root, mirror, "fooapp");
      assert.equal(r.code, 0, r.err);
      assert.match(r.err, /0 pushed, 4 already present/);
      assert.notDeepEqual(await problems(mirror), [], "trusted: left as it was");
      // still corrupt: push -f replaces it too
      r = await cli("push", "--unsigned", "-f", "--root", root, mirror, "fooapp");
      assert.equal(r.code, 0, r.err);
      assert.match(r.err, /4 pushed/);
      assert.deepEqual(await problems(mirror), []);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "sync replaces a corrupt destination blob of the right size unless --trust-destination",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const base = await Deno.makeTempDir({ prefix: "sp-safety-" });
    try {
      const dst = join(base, "d");
      let s = await syncMirror(store(fixture("v3-unsigned")), store(dst));
      assert.ok(s.blobsCopied > 0);
      const blob = await tarballBlob(dst, FOOAPP);
      corruptSameSize(blob);
      s = await syncMirror(store(fixture("v3-unsigned")), store(dst), { trustDestination: true });
      assert.equal(s.blobsCopied, 0);
      assert.notDeepEqual(await problems(dst), []);
      const r = await cli("sync", "--allow-unsigned", fixture("v3-unsigned"), dst);
      assert.equal(r.code, 0, r.err);
      assert.match(r.err, /1 blobs copied/);
      assert.deepEqual(await problems(dst), []);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name:
    "update-index leaves out (warns, exit 3) entries whose tarball or runtime dependency is missing",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const base = await Deno.makeTempDir({ prefix: "sp-safety-" });
    try {
      const mirror = join(base, "m");
      await pushAll(mirror);
      // fooapp's tarball blob goes missing
      rmSync(await tarballBlob(mirror, FOOAPP));
      let r = await cli("update-index", mirror);
      assert.equal(r.code, 3, r.err);
      assert.match(r.err, /skipped .*fooapp.*tarball.* blob "blobs\/sha256\/[^"]+" is missing/);
      let idx = await updateIndex(new V3Writer(store(mirror)));
      assert.equal(idx.specs, 3);
      // libzz's manifest goes missing: libfoo and fooapp need it at run time
      await pushAll(mirror, store(mirror), true);
      const zz = manifestHashes(mirror).indexOf(LIBZZ);
      assert.ok(zz >= 0);
      const dir = join(mirror, "v3/manifests/spec/libzz");
      for (const f of readdirSync(dir)) rmSync(join(dir, f));
      r = await cli("update-index", mirror);
      assert.equal(r.code, 3, r.err);
      assert.match(r.err, /libfoo.*runtime dependency libzz@1\.2\.3\/irttwv2/);
      idx = await updateIndex(new V3Writer(store(mirror)));
      assert.deepEqual(idx.skipped.length, 2, JSON.stringify(idx.skipped));
      assert.equal(idx.specs, 1);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "push waits while a live prune lease is on the mirror, says so, and goes on when it ends",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const base = await Deno.makeTempDir({ prefix: "sp-safety-" });
    try {
      const mirror = join(base, "m");
      const root = await tree();
      const { mkdirSync } = await import("node:fs");
      const { hostname } = await import("node:os");
      mkdirSync(join(mirror, "v3"), { recursive: true });
      const lease = join(mirror, "v3/.spackle-prune-lease");
      const now = Date.now();
      // This test process stands for the prune: live, on this host.
      writeFileSync(
        lease,
        JSON.stringify({ host: hostname(), pid: Deno.pid, started: now, updated: now }),
      );
      const p = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          join(REPO_ROOT, "cli.ts"),
          "push",
          "--unsigned",
          "--root",
          root,
          mirror,
          "fooapp",
        ],
        env: { NO_COLOR: "1" },
        stdout: "null",
        stderr: "piped",
      }).spawn();
      const t0 = Date.now();
      // wait until the first manifest is committed, then a while longer
      while (manifestHashes(mirror).length === 0 && Date.now() - t0 < 60_000) {
        await new Promise((r) => setTimeout(r, 50));
      }
      await new Promise((r) => setTimeout(r, 1500));
      assert.ok(manifestHashes(mirror).length < 4, "the push is held by the lease");
      rmSync(lease);
      const out = await p.output();
      const err = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, err);
      assert.match(
        err,
        new RegExp(`waiting for the prune running on this mirror \\(process ${Deno.pid} `),
      );
      assert.equal(manifestHashes(mirror).length, 4);
      // A lease whose process is gone is stale: not waited for.
      writeFileSync(
        lease,
        JSON.stringify({ host: hostname(), pid: 999999, started: now, updated: Date.now() }),
      );
      const r = await cli("push", "-f", "--unsigned", "--root", root, mirror, "fooapp");
      assert.equal(r.code, 0, r.err);
      assert.doesNotMatch(r.err, /waiting for the prune/);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  },
});
