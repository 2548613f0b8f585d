import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dagHashBitPrefix, lockRange, LockTimeoutError } from "./posix_lock.ts";

// A second process holding a POSIX lock with Python's fcntl.lockf, as Spack does.
function holdWithPython(path: string, exclusive: boolean, start = 0n, len = 0n) {
  const child = spawn("python3", [
    "-c",
    `import fcntl,os,sys,time
fd=os.open(${JSON.stringify(path)},os.O_RDWR|os.O_CREAT)
fcntl.lockf(fd,${exclusive ? "fcntl.LOCK_EX" : "fcntl.LOCK_SH"},${len},${start},0)
print("locked",flush=True)
sys.stdin.read()`,
  ], { stdio: ["pipe", "pipe", "inherit"] });
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout!.once("data", () => resolve());
    child.once("exit", (c) => reject(new Error(`python exited ${c}`)));
  });
  const done = new Promise<void>((r) => child.once("exit", () => r()));
  return { ready, stop: () => (child.stdin!.end(), done), pid: child.pid };
}

Deno.test("dagHashBitPrefix is Spack's dag_hash_bit_prefix(63)", () => {
  // base32_prefix_bits("iicodpdn6kgnahkfa6eljuxvrw2gaq6h", 63), computed by Spack's code.
  assert.equal(dagHashBitPrefix("iicodpdn6kgnahkfa6eljuxvrw2gaq6h"), 2378587652912399976n);
});

Deno.test("a lock another process holds with fcntl is waited for, and the holder is named", async () => {
  const dir = mkdtempSync(join(tmpdir(), "spackle-lock-"));
  try {
    const path = join(dir, "lock");
    const py = holdWithPython(path, true);
    await py.ready;
    let holder: string | undefined;
    const t0 = performance.now();
    await assert.rejects(
      lockRange(path, 0n, 0n, "shared", { timeout: 0.3, onWait: (h) => (holder = h) }),
      (e: unknown) => e instanceof LockTimeoutError && e.message.includes(`process ${py.pid}`),
    );
    assert.ok(performance.now() - t0 >= 250);
    assert.match(holder ?? "", new RegExp(`process ${py.pid} \\(python3`));
    // Released by the other process: taken at the next poll.
    const waiting = lockRange(path, 0n, 0n, "exclusive", { timeout: 10 });
    await new Promise((r) => setTimeout(r, 150));
    await py.stop();
    const l = await waiting;
    assert.equal(l.locked, true);
    // Now Python cannot take it without waiting.
    const probe = spawn("python3", [
      "-c",
      `import fcntl,os\nfd=os.open(${
        JSON.stringify(path)
      },os.O_RDWR)\ntry:\n  fcntl.lockf(fd,fcntl.LOCK_SH|fcntl.LOCK_NB,0,0,0); print("free")\nexcept OSError: print("busy")`,
    ]);
    let text = "";
    probe.stdout.on("data", (d) => (text += d));
    await new Promise((r) => probe.once("exit", r));
    assert.equal(text.trim(), "busy");
    l.release();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

Deno.test("shared locks coexist; byte-range locks of other bytes do not conflict", async () => {
  const dir = mkdtempSync(join(tmpdir(), "spackle-lock-"));
  try {
    const path = join(dir, "lock");
    const py = holdWithPython(path, false);
    await py.ready;
    const a = await lockRange(path, 0n, 0n, "shared", { timeout: 1 });
    const b = await lockRange(path, 0n, 0n, "shared", { timeout: 1 });
    a.release();
    b.release();
    await py.stop();
    const start = dagHashBitPrefix("iicodpdn6kgnahkfa6eljuxvrw2gaq6h");
    const py2 = holdWithPython(join(dir, "prefix_lock"), true, start, 1n);
    await py2.ready;
    const other = await lockRange(join(dir, "prefix_lock"), start + 1n, 1n, "exclusive", {
      timeout: 1,
    });
    other.release();
    await assert.rejects(
      lockRange(join(dir, "prefix_lock"), start, 1n, "exclusive", { timeout: 0.2 }),
      LockTimeoutError,
    );
    await py2.stop();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

Deno.test("in one process, a writer waits for readers and readers for a writer", async () => {
  const dir = mkdtempSync(join(tmpdir(), "spackle-lock-"));
  try {
    const path = join(dir, "lock");
    const r = await lockRange(path, 0n, 0n, "shared");
    const order: string[] = [];
    const w = lockRange(path, 0n, 0n, "exclusive").then((l) => (order.push("w"), l));
    await new Promise((res) => setTimeout(res, 50));
    order.push("r-release");
    r.release();
    const wl = await w;
    assert.deepEqual(order, ["r-release", "w"]);
    wl.release();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

Deno.test("waiting for one byte keeps the locks this process holds on other bytes of the file", async () => {
  const dir = mkdtempSync(join(tmpdir(), "spackle-lock-"));
  try {
    const path = join(dir, "prefix_lock");
    const mine = await lockRange(path, 10n, 1n, "exclusive");
    const py = holdWithPython(path, true, 20n, 1n);
    await py.ready;
    let holder: string | undefined;
    await assert.rejects(
      lockRange(path, 20n, 1n, "exclusive", { timeout: 0.2, onWait: (h) => (holder = h) }),
      LockTimeoutError,
    );
    assert.match(holder ?? "", /^process \d+ \(python3/);
    await py.stop();
    // Byte 10 is still ours: another process cannot take it.
    const probe = spawn("python3", [
      "-c",
      `import fcntl,os\nfd=os.open(${
        JSON.stringify(path)
      },os.O_RDWR)\ntry:\n  fcntl.lockf(fd,fcntl.LOCK_EX|fcntl.LOCK_NB,1,10,0); print("free")\nexcept OSError: print("busy")`,
    ]);
    let text = "";
    probe.stdout.on("data", (d) => (text += d));
    await new Promise((r) => probe.once("exit", r));
    assert.equal(text.trim(), "busy");
    mine.release();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

Deno.test("exchangePaths swaps two directories in one step", async () => {
  const dir = mkdtempSync(join(tmpdir(), "spackle-xchg-"));
  try {
    const { canExchangePaths, exchangePaths } = await import("./posix_lock.ts");
    const { mkdirSync, writeFileSync, readFileSync } = await import("node:fs");
    mkdirSync(join(dir, "a"));
    mkdirSync(join(dir, "b"));
    writeFileSync(join(dir, "a/f"), "A");
    writeFileSync(join(dir, "b/f"), "B");
    if (!(await canExchangePaths())) return; // not Linux, or a libc without renameat2
    assert.equal(exchangePaths(join(dir, "a"), join(dir, "b")), true);
    assert.equal(readFileSync(join(dir, "a/f"), "utf8"), "B");
    assert.equal(readFileSync(join(dir, "b/f"), "utf8"), "A");
    assert.equal(exchangePaths(join(dir, "a"), join(dir, "missing")), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
