/**
 * Sharing an install tree with real Spack 1.2: both take the same POSIX locks. Spack holds its
 * database write transaction while spackle installs (spackle waits, and afterwards `spack find`
 * lists spackle's install); spackle holds the database lock and a prefix lock while Spack
 * waits for them. Prints the measured waits (the figures of the notes).
 *
 * Runs when `SPACKLE_ORACLE_SPACK_V3` names a Spack 1.2 work tree and the fixtures are there.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fixture, HAVE_FIXTURES, ORACLE } from "./_fixtures.ts";
import { installSpecs } from "../src/install/mod.ts";
import { openMirror } from "../src/layout/open.ts";
import { InstallDatabase } from "../src/index/mod.ts";

const SPACK_V3 = Deno.env.get("SPACKLE_ORACLE_SPACK_V3");
const HAVE_SPACK = HAVE_FIXTURES && !!SPACK_V3 && existsSync(join(SPACK_V3, "bin", "spack")) &&
  existsSync(join(ORACLE, "common.sh"));
const FOOAPP = "iicodpd5dtmh5ijlchcoay25frkfkyuv";

/** A bash line that runs Spack 1.2 in the instance `inst` whose install tree is `root`. */
function spackCmd(inst: string, root: string, args: string): string {
  return `export SPACK_V3="${SPACK_V3}"; . "${join(ORACLE, "common.sh")}"
[ -d "${inst}/config" ] || make_instance v3 "${inst}" "${root}" 0 >/dev/null
cd "${inst}/tmp" && sp "${inst}" ${args}`;
}

/** Starts Spack; resolves `ready` at the first line of output that matches `ready`. */
function startSpack(cmd: string, ready: RegExp) {
  const child = spawn("bash", ["-c", cmd], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  let readyResolve: () => void;
  const readyP = new Promise<void>((r) => (readyResolve = r));
  child.stdout!.on("data", (d) => {
    out += d;
    if (ready.test(out)) readyResolve();
  });
  child.stderr!.on("data", (d) => (err += d));
  const done = new Promise<{ code: number | null; out: string; err: string }>((resolve) =>
    child.once("exit", (code) => {
      readyResolve();
      resolve({ code, out, err });
    })
  );
  return { ready: readyP, done };
}

Deno.test({
  name: "spackle waits for Spack's database write transaction, and Spack then lists its install",
  ignore: !HAVE_SPACK,
  async fn() {
    const base = await Deno.makeTempDir({ prefix: "sp-locks-" });
    try {
      const root = join(base, "store");
      const inst = join(base, "inst");
      const script = join(base, "hold.py");
      writeFileSync(
        script,
        `import sys, time
import spack.store
with spack.store.STORE.db.write_transaction():
    print("locked", flush=True)
    time.sleep(float(sys.argv[1]))
print("released %.3f" % time.time(), flush=True)
`,
      );
      const HOLD = 3;
      const spack = startSpack(spackCmd(inst, root, `python "${script}" ${HOLD}`), /locked/);
      await spack.ready;
      const t0 = Date.now();
      const waits: string[] = [];
      const res = await installSpecs(await openMirror(fixture("v3-unsigned")), ["fooapp"], {
        root,
        allowUnsigned: true,
        onProgress: (p) => p.phase === "wait" && waits.push(p.message!),
      });
      const doneAt = Date.now() / 1000;
      const held = await spack.done;
      assert.equal(held.code, 0, held.err);
      const released = Number(/released ([\d.]+)/.exec(held.out)![1]);
      // spackle waited for Spack (the whole hold), named the holder, and went on promptly.
      assert.ok(
        (Date.now() - t0) / 1000 >= HOLD - 1,
        `spackle did not wait (${Date.now() - t0} ms)`,
      );
      assert.ok(
        waits.some((w) => /install database lock, held by process \d+ \(python/.test(w)),
        waits.join("\n"),
      );
      assert.ok(doneAt >= released);
      console.log(
        `figure: spackle finished ${
          (doneAt - released).toFixed(2)
        } s after Spack released its write lock`,
      );
      // Spack wrote its database back when its transaction ended; spackle's records are there.
      const db = JSON.parse(readFileSync(join(root, ".spack-db/index.json"), "utf8"));
      assert.ok(db.database.installs[FOOAPP], "fooapp recorded");
      const find = new Deno.Command("bash", {
        args: ["-c", spackCmd(inst, root, "find --no-groups -p")],
      }).outputSync();
      const text = new TextDecoder().decode(find.stdout);
      assert.equal(find.code, 0, new TextDecoder().decode(find.stderr));
      for (const s of res.specs) assert.ok(text.includes(s.prefix), `${s.prefix} in:\n${text}`);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "Spack waits for spackle's database lock and finds spackle's prefix lock taken",
  ignore: !HAVE_SPACK,
  async fn() {
    const base = await Deno.makeTempDir({ prefix: "sp-locks-" });
    try {
      const root = join(base, "store");
      const inst = join(base, "inst");
      await installSpecs(await openMirror(fixture("v3-unsigned")), ["fooapp"], {
        root,
        allowUnsigned: true,
      });
      const script = join(base, "probe.py");
      writeFileSync(
        script,
        `import time
import spack.store
import spack.llnl.util.lock as lk
print("start", flush=True)
t = time.time()
with spack.store.STORE.db.read_transaction():
    print("read %.3f %.3f" % (t, time.time()), flush=True)
spec = spack.store.STORE.db.query_one("/${FOOAPP}")
lock = spack.store.STORE.prefix_locker.raw_lock(spec, timeout=0.5)
try:
    lock.acquire_write()
    print("prefix free", flush=True)
    lock.release_write()
except lk.LockTimeoutError:
    print("prefix busy", flush=True)
`,
      );
      // Make the instance first (its setup is not part of the wait).
      const setup = new Deno.Command("bash", { args: ["-c", spackCmd(inst, root, "--version")] })
        .outputSync();
      assert.equal(setup.code, 0, new TextDecoder().decode(setup.stderr));
      const db = new InstallDatabase(root);
      const prefixLock = await db.lockPrefix(FOOAPP, "fooapp");
      let releasedAt = 0;
      let spack: ReturnType<typeof startSpack> | undefined;
      const HOLD = 3;
      await db.update(async () => {
        spack = startSpack(spackCmd(inst, root, `python "${script}"`), /start/);
        await spack.ready;
        await new Promise((r) => setTimeout(r, HOLD * 1000));
        releasedAt = Date.now() / 1000;
      });
      const got = await spack!.done;
      prefixLock.release();
      assert.equal(got.code, 0, got.err);
      const [, t, readAt] = /read ([\d.]+) ([\d.]+)/.exec(got.out)!.map(Number);
      // Spack started reading while spackle held the lock and got it only after the release.
      assert.ok(t < releasedAt, `${t} < ${releasedAt}`);
      assert.ok(readAt >= releasedAt, `Spack read at ${readAt}, released at ${releasedAt}`);
      console.log(
        `figure: Spack waited ${
          (readAt - t).toFixed(2)
        } s for spackle's lock held ${HOLD} s; it got it ${
          (readAt - releasedAt).toFixed(2)
        } s after the release`,
      );
      assert.match(got.out, /prefix busy/);
      // Released: Spack takes it.
      const again = new Deno.Command("bash", {
        args: ["-c", spackCmd(inst, root, `python "${script}"`)],
      }).outputSync();
      assert.match(new TextDecoder().decode(again.stdout), /prefix free/);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "spackle waits for the prefix lock Spack holds on the spec it installs",
  ignore: !HAVE_SPACK,
  async fn() {
    const base = await Deno.makeTempDir({ prefix: "sp-locks-" });
    try {
      const root = join(base, "store");
      const inst = join(base, "inst");
      const script = join(base, "prefix.py");
      // Spack's own computation of the byte: dag_hash_bit_prefix(bit_length(sys.maxsize)).
      writeFileSync(
        script,
        `import sys, time
import spack.store
import spack.util.hash
import spack.llnl.util.lock as lk
start = spack.util.hash.base32_prefix_bits("${FOOAPP}", sys.maxsize.bit_length())
lock = lk.Lock(str(spack.store.STORE.prefix_locker.lock_path), start=start, length=1)
lock.acquire_write()
print("locked", flush=True)
time.sleep(2)
lock.release_write()
`,
      );
      const spack = startSpack(spackCmd(inst, root, `python "${script}"`), /locked/);
      await spack.ready;
      const t0 = Date.now();
      const waits: string[] = [];
      await installSpecs(await openMirror(fixture("v3-unsigned")), ["fooapp"], {
        root,
        allowUnsigned: true,
        onProgress: (p) => p.phase === "wait" && waits.push(p.message!),
      });
      const held = await spack.done;
      assert.equal(held.code, 0, held.err);
      assert.ok(Date.now() - t0 >= 1000, `spackle did not wait (${Date.now() - t0} ms)`);
      assert.ok(
        waits.some((w) => /the prefix of fooapp\/iicodpd lock, held by process \d+/.test(w)),
        waits.join("\n"),
      );
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  },
});
