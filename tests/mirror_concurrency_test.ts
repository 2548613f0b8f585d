/**
 * Writers at once on one mirror, as separate processes, in bounded loops: prune --delete
 * during a push, two pushes, update-index during a push, sync into a mirror being pushed to.
 * After each round no manifest names a missing or corrupt blob (`verify` finds no corruption),
 * every pushed entry is there, and after an index rebuild `verify` is clean.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { fixture, HAVE_FIXTURES, REPO_ROOT } from "./_fixtures.ts";
import { main } from "../src/cli/app.ts";
import { verifyMirror } from "../src/mirror/verify.ts";
import { FileStore } from "../src/storage/file.ts";

const ROUNDS = 3;

function spawn(...args: string[]) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(REPO_ROOT, "cli.ts"), "--quiet", ...args],
    env: { NO_COLOR: "1" },
    stdout: "null",
    stderr: "piped",
  }).output().then((o) => ({ code: o.code, err: new TextDecoder().decode(o.stderr) }));
}

function manifests(dir: string): number {
  const d = join(dir, "v3/manifests/spec");
  if (!existsSync(d)) return 0;
  return readdirSync(d, { recursive: true }).map(String).filter((p) =>
    p.endsWith(".spec.manifest.json")
  ).length;
}

async function findings(dir: string) {
  const r = await verifyMirror(new FileStore(pathToFileURL(dir + "/")));
  return r.findings.filter((f) => f.kind !== "notice").map((f) => `${f.code}: ${f.message}`);
}

/** No corruption now; a clean mirror of `entries` entries after an index rebuild. */
async function assertSound(dir: string, entries: number, what: string) {
  const now = await findings(dir);
  assert.deepEqual(
    now.filter((f) => !/^(missing_from_index|index_entry_without_metadata)/.test(f)),
    [],
    what,
  );
  assert.equal(manifests(dir), entries, what);
  const u = await spawn("update-index", dir);
  assert.equal(u.code, 0, `${what}: ${u.err}`);
  assert.deepEqual(await findings(dir), [], what);
}

Deno.test({
  name:
    "concurrent writers (prune during push, two pushes, update-index during push, sync during push) never damage the mirror",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const base = await Deno.makeTempDir({ prefix: "sp-concurrency-" });
    try {
      const root = join(base, "tree");
      assert.equal(
        await main([
          "--quiet",
          "install",
          "-m",
          fixture("v3-unsigned"),
          "--root",
          root,
          "--allow-unsigned",
          "fooapp",
        ]),
        0,
      );
      const push = (m: string) => spawn("push", "-f", "--unsigned", "--root", root, m, "fooapp");
      for (let round = 1; round <= ROUNDS; round++) {
        // prune --delete during a push (with orphans for the prune to delete)
        const m = join(base, `prune-${round}`);
        mkdirSync(join(m, "blobs/sha256/00"), { recursive: true });
        for (let i = 0; i < 20; i++) {
          writeFileSync(join(m, "blobs/sha256/00", i.toString(16).padStart(64, "0")), "junk");
        }
        const [a, b] = await Promise.all([push(m), spawn("prune", m, "--delete")]);
        assert.equal(a.code, 0, a.err);
        assert.equal(b.code, 0, b.err);
        await assertSound(m, 4, `prune during push, round ${round}`);

        // two pushes at once
        const m2 = join(base, `two-${round}`);
        const [c, d] = await Promise.all([push(m2), push(m2)]);
        assert.equal(c.code, 0, c.err);
        assert.equal(d.code, 0, d.err);
        await assertSound(m2, 4, `two pushes, round ${round}`);

        // update-index during a push (into a mirror that already has entries)
        const m3 = join(base, `index-${round}`);
        assert.equal((await push(m3)).code, 0);
        const [e, f] = await Promise.all([push(m3), spawn("update-index", m3)]);
        assert.equal(e.code, 0, e.err);
        assert.ok(f.code === 0 || f.code === 3, f.err);
        await assertSound(m3, 4, `update-index during push, round ${round}`);

        // sync into a mirror being pushed to (the same specs, made by Spack)
        const m4 = join(base, `sync-${round}`);
        const [g, h] = await Promise.all([
          push(m4),
          spawn("sync", "--allow-unsigned", fixture("v3-unsigned"), m4),
        ]);
        assert.equal(g.code, 0, g.err);
        assert.equal(h.code, 0, h.err);
        await assertSound(m4, 4, `sync during push, round ${round}`);

        // and prune --delete during that sync and a push together
        const [i, j, k] = await Promise.all([
          push(m4),
          spawn("sync", "--allow-unsigned", fixture("v3-unsigned"), m4),
          spawn("prune", m4, "--delete"),
        ]);
        for (const x of [i, j, k]) assert.equal(x.code, 0, x.err);
        await assertSound(m4, 4, `prune during sync and push, round ${round}`);
      }
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  },
});
