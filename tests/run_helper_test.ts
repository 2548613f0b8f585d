/** The test helper that runs just-written programs (`_run.ts`): a busy program is tried again. */
import assert from "node:assert/strict";
import { chmodSync, readdirSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isTextBusy, runProgram } from "./_run.ts";

/** True once process `pid` holds `path` open. */
function holds(pid: number, path: string): boolean {
  try {
    return readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`) === path;
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  }
}

/** A process holding `path` open for writing for `seconds`, once it holds it. */
async function holdOpen(path: string, seconds: number): Promise<Deno.ChildProcess> {
  const holder = new Deno.Command("sh", {
    args: ["-c", `exec 3>>"$1"; sleep ${seconds}`, "sh", path],
  }).spawn();
  const until = Date.now() + 5000;
  while (!holds(holder.pid, path) && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 10));
  }
  if (!holds(holder.pid, path)) {
    holder.kill();
    await holder.status;
    assert.fail("the holder did not open the program");
  }
  return holder;
}

Deno.test({
  name: "runProgram starts a program held open for writing once it is let go",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const d = await Deno.makeTempDir({ prefix: "sp-run-" });
    try {
      const script = join(d, "hello.sh");
      writeFileSync(script, '#!/bin/sh\necho hello "$1"\n');
      chmodSync(script, 0o755);
      // Another process holds the program open for writing for a while.
      const holder = await holdOpen(script, 0.4);
      try {
        const r = runProgram(script, ["there"]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, "hello there\n");
        assert.ok(r.tries > 1, `started at the first try while busy (${r.tries})`);
      } finally {
        await holder.status;
      }
      // Given up after maxTries while still busy, with what was wrong.
      const again = await holdOpen(script, 2);
      try {
        assert.throws(
          () => runProgram(script, [], { maxTries: 2 }),
          (e: Error) =>
            /Cannot start .*hello\.sh \(2 tries\)/.test(e.message) && isTextBusy(e.cause),
        );
      } finally {
        again.kill();
        await again.status;
      }
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  },
});

Deno.test("runProgram names a program that cannot be started at all", () => {
  assert.throws(
    () => runProgram("/nonexistent/spackle-test-program"),
    /Cannot start \/nonexistent\/spackle-test-program \(1 tries\)/,
  );
});
