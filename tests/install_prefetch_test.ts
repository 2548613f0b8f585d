/**
 * The tarballs of the first packages to stage are requested while the plan is made, not after
 * it (and after the checks and Spack's prefix locks): a slow link's round trips overlap the
 * metadata reads. Packages installed already are not requested. A store that records its reads
 * (and whether the install had taken its prefix locks by then) shows both.
 */
import { strict as assert } from "node:assert";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { installSpecs, openMirror, UsageError } from "../mod.ts";
import { generatedMirror } from "./_generated_mirror.ts";
import type { ReadStore } from "../src/storage/store.ts";

const N = 40;

Deno.test("install requests the first tarballs while it plans, none of installed packages; the database has each node dict", async () => {
  const dir = mkdtempSync(join(tmpdir(), "spackle-install-prefetch-"));
  try {
    const { names, store: base } = await generatedMirror(dir, N);

    const root = join(dir, "root");
    const locks = join(root, ".spack-db", "prefix_lock");
    // Every read, and whether the install held its prefix locks (made after the plan) by then.
    const reads: { path: string; locked: boolean }[] = [];
    const store: ReadStore = {
      url: base.url,
      stat: base.stat.bind(base),
      list: base.list!.bind(base),
      read: (path, o) => {
        reads.push({ path, locked: existsSync(locks) });
        return base.read(path, o);
      },
    };
    const mirror = await openMirror(store);
    const res = await installSpecs(mirror, names, { root, allowUnsigned: true, jobs: 1 });
    assert.equal(res.specs.filter((s) => s.installed).length, N);
    const during = reads.splice(0);
    const tarballPaths = new Set<string>();
    for (const s of res.specs) {
      tarballPaths.add((await mirror.entry(s.hash, { requireSignature: false })).tarballPath);
    }
    const isTarball = (p: string) => tarballPaths.has(p);
    // Each record's spec is the node dict as its spec file has it (kept as text meanwhile).
    const db = JSON.parse(readFileSync(join(root, ".spack-db", "index.json"), "utf8"));
    for (const s of res.specs) {
      const node = (await mirror.entry(s.hash, { requireSignature: false })).spec.nodes.get(
        s.hash,
      )!;
      assert.equal(JSON.stringify(db.database.installs[s.hash].spec), JSON.stringify(node.raw));
    }
    reads.push(...during);
    const tarballs = reads.filter((r) => isTarball(r.path));
    assert.equal(tarballs.length, N, "one request a package");
    assert.equal(new Set(tarballs.map((r) => r.path)).size, N, "none requested twice");
    const early = tarballs.filter((r) => !r.locked).length;
    // 16 x jobs are requested during the plan; one more may be opened ahead as staging starts.
    assert.ok(early >= 16, `tarballs requested before the prefix locks: ${early} (16 expected)`);

    reads.length = 0;
    const again = await installSpecs(mirror, names, { root, allowUnsigned: true, jobs: 1 });
    assert.equal(again.specs.filter((s) => s.installed).length, 0);
    assert.deepEqual(reads.filter((r) => isTarball(r.path)), [], "nothing requested again");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

Deno.test("tarballs requested ahead of their turn and not yet read stay within aheadBytes", async () => {
  const dir = mkdtempSync(join(tmpdir(), "spackle-install-ahead-"));
  try {
    const { names, store: base } = await generatedMirror(dir, N);
    const sizes = new Map<string, number>();
    const plain = await openMirror(base);
    for (const ref of await plain.list()) {
      const e = await plain.entry(ref.hash, { requireSignature: false });
      sizes.set(e.tarballPath, e.tarball.size);
    }
    const biggest = Math.max(...sizes.values());
    // Bytes of tarball requests sent and not read from yet: the most at any time.
    let waiting = 0;
    let most = 0;
    const store: ReadStore = {
      url: base.url,
      stat: base.stat.bind(base),
      list: base.list!.bind(base),
      read: async (path, o) => {
        const body = await base.read(path, o);
        const size = sizes.get(path);
        if (size === undefined) return body;
        waiting += size;
        most = Math.max(most, waiting);
        let counted = true;
        const done = () => {
          if (counted) waiting -= size;
          counted = false;
        };
        const r = body.getReader();
        return new ReadableStream<Uint8Array>({
          async pull(c) {
            done();
            const { value, done: end } = await r.read();
            if (end) c.close();
            else c.enqueue(value);
          },
          cancel(reason) {
            done();
            return r.cancel(reason);
          },
        }, { highWaterMark: 0 });
      },
    };
    const jobs = 2;
    const aheadBytes = 4 * biggest;
    const res = await installSpecs(await openMirror(store), names, {
      root: join(dir, "root"),
      allowUnsigned: true,
      jobs,
      aheadBytes,
    });
    assert.equal(res.specs.filter((s) => s.installed).length, N);
    assert.equal(waiting, 0, "every request read or cancelled");
    // The budget, and the packages that have started but not read yet.
    assert.ok(most <= aheadBytes + jobs * biggest, `${most} bytes waiting, ${aheadBytes} allowed`);
    assert.ok(most >= 2 * biggest, `requests are still sent ahead: at most ${most} bytes waited`);

    // Tarballs bigger than the budget are requested at their turn only.
    waiting = most = 0;
    const again = await installSpecs(await openMirror(store), names, {
      root: join(dir, "root2"),
      allowUnsigned: true,
      jobs,
      aheadBytes: 1,
    });
    assert.equal(again.specs.filter((s) => s.installed).length, N);
    assert.ok(most <= jobs * biggest, `${most} bytes waiting with no room ahead`);

    // A budget that is not a number of bytes is refused before anything is read.
    for (const bad of [NaN, -1]) {
      await assert.rejects(
        installSpecs(await openMirror(store), names, {
          root: join(dir, "root3"),
          allowUnsigned: true,
          aheadBytes: bad,
        }),
        (e) => e instanceof UsageError && /aheadBytes must be a number of bytes/.test(e.message),
      );
    }
    assert.equal(existsSync(join(dir, "root3")), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
