import assert from "node:assert/strict";
import { runPool } from "./pool.ts";

const tick = () => new Promise((r) => setTimeout(r, 1));

Deno.test("runPool runs every item once with at most `jobs` at a time", async () => {
  let running = 0;
  let peak = 0;
  const seen: number[] = [];
  await runPool([...Array(20).keys()], 3, async (x, i) => {
    assert.equal(x, i);
    running++;
    peak = Math.max(peak, running);
    await tick();
    seen.push(x);
    running--;
  });
  assert.deepEqual(seen.sort((a, b) => a - b), [...Array(20).keys()]);
  assert.equal(peak, 3);
});

Deno.test("runPool starts nothing after a failure and waits for the running items", async () => {
  const started: number[] = [];
  let finished = 0;
  await assert.rejects(
    runPool([...Array(50).keys()], 4, async (x) => {
      started.push(x);
      await tick();
      if (x === 5) throw new Error("five");
      finished++;
    }),
    /five/,
  );
  // Items 0-8 at most have started (5 fails while 6, 7, 8 may be running); none after.
  assert.ok(Math.max(...started) <= 8, `started ${started}`);
  assert.equal(finished, started.length - 1);
});

Deno.test("runPool throws the error of the first failed item in order, whatever finishes first", async () => {
  for (let run = 0; run < 5; run++) {
    await assert.rejects(
      runPool([0, 1, 2, 3], 4, async (x) => {
        // Item 3 fails first, item 1 later: the error is item 1's.
        await new Promise((r) => setTimeout(r, x === 1 ? 20 : 1));
        if (x === 1 || x === 3) throw new Error(`item ${x}`);
      }),
      /item 1/,
    );
  }
});

Deno.test("runPool with no items resolves; jobs below 1 run one at a time", async () => {
  await runPool([], 4, () => Promise.reject(new Error("never")));
  let running = 0;
  await runPool([1, 2, 3], 0, async () => {
    running++;
    assert.equal(running, 1);
    await tick();
    running--;
  });
});
