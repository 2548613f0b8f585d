import assert from "node:assert/strict";
import { delayOptimizingJit, MemoryPacer } from "./memory_pacer.ts";

/** Runs `f` with `globalThis.gc` set to a counter (as Deno with --expose-gc would have it). */
function withGc(f: (calls: () => number) => void): void {
  const g = globalThis as { gc?: () => void };
  const saved = g.gc;
  let n = 0;
  g.gc = () => n++;
  try {
    f(() => n);
  } finally {
    if (saved) g.gc = saved;
    else delete g.gc;
  }
}

Deno.test("MemoryPacer collects past its limit, then allows its headroom above what is left", () => {
  withGc((calls) => {
    const p = new MemoryPacer({ limit: 1, headroom: 1 << 30, every: 1 << 20 });
    p.add(1000); // before the first look
    assert.equal(calls(), 0);
    p.add((1 << 20) - 1000); // resident set above 1 byte: collect
    assert.equal(calls(), 1);
    p.add(1 << 19); // not yet the next look
    p.add(1 << 19); // within the headroom of a gigabyte
    p.check();
    assert.equal(calls(), 1);
    assert.equal(p.collections, 1);
  });
  withGc((calls) => {
    // The limit stays at its floor (a headroom far below zero): every look collects, whatever
    // the resident set does meanwhile (with headroom 0 a set that shrank skipped a look).
    const p = new MemoryPacer({ limit: 1, headroom: -(1 << 30), every: 1 << 20 });
    for (let mb = 1; mb <= 5; mb++) p.add(1 << 20);
    assert.equal(calls(), 5);
    p.check(); // a look now, whatever the progress
    assert.equal(calls(), 6);
  });
});

Deno.test("MemoryPacer does nothing where the runtime offers no collection", () => {
  const g = globalThis as { gc?: () => void };
  if (typeof g.gc === "function") return; // run with --expose-gc: covered above
  const p = new MemoryPacer({ limit: 1, headroom: 0, every: 1 });
  for (let i = 1; i <= 10; i++) p.add(1);
  p.check();
  assert.equal(p.collections, 0);
});

Deno.test("MemoryPacer.afterJob() collects after a big job whatever the resident set, else looks as check() does", () => {
  withGc((calls) => {
    const p = new MemoryPacer({ limit: 2 ** 50, headroom: 0 }); // never past its limit
    p.afterJob(1 << 20); // a small job: a look, no collection
    assert.equal(calls(), 0);
    p.afterJob(64 << 20); // a big one: a collection
    assert.equal(calls(), 1);
    p.afterJob(10, 5); // big by the given measure
    assert.equal(calls(), 2);
    assert.equal(p.collections, 2);
  });
});

Deno.test("MemoryPacer.collect() collects now whatever the resident set, and sets the next limit from there", () => {
  withGc((calls) => {
    const p = new MemoryPacer({ limit: 2 ** 50, headroom: 0 }); // never past its limit
    p.check();
    assert.equal(calls(), 0);
    p.collect();
    p.collect();
    assert.equal(calls(), 2);
    assert.equal(p.collections, 2);
    p.check(); // the limit is still the floor, far above the resident set
    assert.equal(calls(), 2);
  });
});

Deno.test("delayOptimizingJit() sets Bun's JIT policy where there is one, and is a no-op elsewhere", () => {
  const g = globalThis as { Bun?: unknown };
  const saved = g.Bun;
  try {
    if (saved === undefined) assert.equal(delayOptimizingJit(), false);
    const calls: number[] = [];
    g.Bun = { unsafe: { setJITPolicy: (s: number) => calls.push(s) } };
    assert.equal(delayOptimizingJit(), true);
    assert.equal(delayOptimizingJit(4), true);
    assert.deepEqual(calls, [10, 4]);
    g.Bun = {
      unsafe: {
        setJITPolicy: () => {
          throw new RangeError("bad scale");
        },
      },
    };
    assert.equal(delayOptimizingJit(), false);
    g.Bun = {};
    assert.equal(delayOptimizingJit(), false);
  } finally {
    if (saved === undefined) delete g.Bun;
    else g.Bun = saved;
  }
});
