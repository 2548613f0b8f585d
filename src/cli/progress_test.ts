import assert from "node:assert/strict";
import {
  countingStream,
  formatDuration,
  phaseProgress,
  Progress,
  withTarballProgress,
  withUploadProgress,
} from "./progress.ts";
import type { Entry } from "../layout/types.ts";
import { MemoryStore } from "../storage/memory.ts";
import { processOutput } from "./output.ts";

const plain = processOutput({ json: false, quiet: false, verbose: false, color: false }).color;

function capture() {
  const chunks: string[] = [];
  return { chunks, stream: { write: (s: string) => chunks.push(s), columns: 100 } };
}

Deno.test("progress draws item and overall lines with bytes, rate and ETA", () => {
  let t = 0;
  const { chunks, stream } = capture();
  const p = new Progress(true, plain, { stream, now: () => t, interval: 0 });
  p.setTotal(4_000_000, 2);
  const a = p.start("zlib@1.3.1", 2_000_000);
  t = 1000;
  a.advance(1_000_000);
  const screen = chunks.join("");
  assert.match(screen, /zlib@1\.3\.1 .*1\.0 MB\/2\.0 MB 1\.0 MB\/s ETA 0:01/);
  assert.match(screen, /total 0\/2 .*1\.0 MB\/4\.0 MB 1\.0 MB\/s ETA 0:03/);
  a.done();
  assert.match(chunks.at(-1)!, /total 1\/2/);
  p.log("installed zlib");
  assert.ok(chunks.includes("installed zlib\n"));
  p.stop();
  assert.ok(chunks.at(-1)!.includes("\x1b[1A\x1b[2K"));
});

Deno.test("progress draws nothing when disabled (not a terminal, --quiet, --json)", () => {
  const { chunks, stream } = capture();
  const p = new Progress(false, plain, { stream, interval: 0 });
  const a = p.start("x", 10);
  a.advance(5);
  a.done();
  p.stop();
  assert.deepEqual(chunks, []);
  const q = processOutput({ json: true, quiet: false, verbose: false });
  assert.equal(Progress.for(q, { stream }).enabled, false);
});

Deno.test("progress redraws at most once per interval", () => {
  let t = 0;
  const { chunks, stream } = capture();
  const p = new Progress(true, plain, { stream, now: () => t, interval: 100 });
  const a = p.start("x", 100);
  const n = chunks.length;
  for (let i = 0; i < 50; i++) a.advance(1);
  assert.equal(chunks.length, n);
  t = 150;
  a.advance(1);
  assert.ok(chunks.length > n);
});

Deno.test("durations format as m:ss and h:mm:ss", () => {
  assert.equal(formatDuration(5), "0:05");
  assert.equal(formatDuration(3725), "1:02:05");
  assert.equal(formatDuration(Infinity), "--:--");
});

Deno.test("without a byte total the overall ETA comes from items done", () => {
  let t = 0;
  const { chunks, stream } = capture();
  const p = new Progress(true, plain, { stream, now: () => t, interval: 0 });
  p.setTotal(undefined, 4);
  t = 2000;
  p.finish();
  // One of four items in 2 s: three more take 6 s.
  assert.match(chunks.at(-1)!, /total 1\/4\s+ETA 0:06/);
  assert.doesNotMatch(chunks.at(-1)!, /B\/s/);
  p.stop();
  const n = chunks.length;
  p.finish();
  p.start("late", 1).advance(1);
  assert.equal(chunks.length, n, "nothing is drawn after stop()");
});

Deno.test("a counting stream passes bytes through, advances the bar and finishes it", async () => {
  let t = 0;
  const { chunks, stream } = capture();
  const p = new Progress(true, plain, { stream, now: () => t, interval: 0 });
  p.setTotal(undefined, 1);
  const body = new Blob([new Uint8Array(3000), new Uint8Array(2000)]).stream();
  t = 1000;
  const got = new Uint8Array(
    await new Response(body.pipeThrough(countingStream(p.start("blob", 5000)))).arrayBuffer(),
  );
  assert.equal(got.byteLength, 5000);
  assert.ok(chunks.some((c) => /blob .*5\.0 kB\/5\.0 kB/.test(c)));
  assert.match(chunks.at(-1)!, /total 1\/1 .*5\.0 kB/);
});

Deno.test("uploads through a wrapped store get bars that do not count as items", async () => {
  const { chunks, stream } = capture();
  const p = new Progress(true, plain, { stream, interval: 0 });
  p.setTotal(undefined, 2);
  const store = new MemoryStore();
  const up = withUploadProgress(store, p);
  const data = new Uint8Array(1500).fill(7);
  await up.write("blobs/sha256/ab/abcdef", new Blob([data]).stream(), { size: 1500 });
  await up.write("small.json", new TextEncoder().encode("{}"));
  assert.deepEqual(
    new Uint8Array(await new Response(await store.read("blobs/sha256/ab/abcdef")).arrayBuffer()),
    data,
  );
  assert.ok(chunks.some((c) => /abcdef .*1\.5 kB\/1\.5 kB/.test(c)));
  assert.ok(!chunks.some((c) => /small\.json/.test(c)), "byte arrays get no bar");
  assert.match(chunks.at(-1)!, /total 0\/2/);
  p.finish();
  assert.match(chunks.at(-1)!, /total 1\/2/);
  // Off a terminal the store is returned as it is.
  assert.equal(withUploadProgress(store, new Progress(false, plain, { stream })), store);
});

Deno.test("phaseProgress draws a bar from fetch to staged and passes other events on", () => {
  let t = 0;
  const { chunks, stream } = capture();
  const p = new Progress(true, plain, { stream, now: () => t, interval: 0 });
  p.setTotal(undefined, 2);
  const seen: string[] = [];
  const on = phaseProgress(p, (e) => seen.push(e.phase));
  on({ phase: "resolve" });
  on({ phase: "fetch", name: "zlib", hash: "abcdefghij" });
  assert.match(chunks.join(""), /zlib\/abcdefg/);
  t = 2000;
  on({ phase: "staged", name: "zlib", hash: "abcdefghij", bytes: 4_000_000 });
  assert.match(chunks.at(-1)!, /total 1\/2 .*4\.0 MB 2\.0 MB\/s/);
  on({ phase: "installed", name: "zlib", hash: "abcdefghij" });
  assert.deepEqual(seen, ["resolve", "staged", "installed"]);
});

Deno.test("a tarball read twice through a wrapped source is counted once", async () => {
  const { chunks, stream } = capture();
  const p = new Progress(true, plain, { stream, interval: 0 });
  p.setTotal(3, 1);
  const e = {
    ref: { name: "zlib", version: "1.3", hash: "abcdefghij" },
    tarball: { size: 3 },
    openTarball: () => Promise.resolve(new Blob([new Uint8Array(3)]).stream()),
  } as unknown as Entry;
  const seen: string[] = [];
  const source = { entry: (_hash: string) => Promise.resolve(e) };
  const src = withTarballProgress(source, p, (x) => {
    seen.push(x.ref.hash);
  });
  for (let i = 0; i < 2; i++) {
    const got = await new Response(await (await src.entry("abcdefghij")).openTarball())
      .arrayBuffer();
    assert.equal(got.byteLength, 3);
  }
  assert.deepEqual(seen, ["abcdefghij", "abcdefghij"]);
  assert.match(chunks.at(-1)!, /total 1\/1 .*3 B\/3 B/);
  assert.ok(chunks.some((c) => /zlib@1\.3\/abcdefg/.test(c)));
});

Deno.test("a tarball opened ahead of its turn is not read, nor its bar drawn, until it is read", async () => {
  const { chunks, stream } = capture();
  const p = new Progress(true, plain, { stream, interval: 0 });
  p.setTotal(3, 1);
  let pulls = 0;
  const e = {
    ref: { name: "zlib", version: "1.3", hash: "abcdefghij" },
    tarball: { size: 3 },
    openTarball: () =>
      Promise.resolve(
        new ReadableStream<Uint8Array>({
          pull(c) {
            pulls++;
            if (pulls === 1) c.enqueue(new Uint8Array(3));
            else c.close();
          },
        }, { highWaterMark: 0 }),
      ),
  } as unknown as Entry;
  const src = withTarballProgress({ entry: (_hash: string) => Promise.resolve(e) }, p);
  const body = await (await src.entry("abcdefghij")).openTarball();
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(pulls, 0, "nothing read before its turn");
  assert.ok(!chunks.some((c) => /zlib@1\.3\/abcdefg/.test(c)), "no bar before its turn");
  assert.equal((await new Response(body).arrayBuffer()).byteLength, 3);
  assert.ok(chunks.some((c) => /zlib@1\.3\/abcdefg/.test(c)));
  assert.match(chunks.at(-1)!, /total 1\/1 .*3 B\/3 B/);
});

Deno.test("a phase relabels the overall line and counts from zero; advance adds bytes", () => {
  let t = 0;
  const { chunks, stream } = capture();
  const p = new Progress(true, plain, { stream, now: () => t, interval: 0 });
  p.phase("reading manifests", 3);
  p.finish();
  assert.match(chunks.at(-1)!, /reading manifests 1\/3/);
  t = 1000;
  p.phase("total", 2, 2_000_000);
  assert.match(chunks.at(-1)!, /total 0\/2 +░+ 0 B\/2\.0 MB/);
  t = 2000;
  p.advance(1_000_000);
  assert.match(chunks.at(-1)!, /total 0\/2 .*1\.0 MB\/2\.0 MB 1\.0 MB\/s ETA 0:01/);
  p.phase("rebuilding the index");
  assert.match(chunks.at(-1)!, /^rebuilding the index *\n$/);
  p.stop();
});

Deno.test("with more items than lines the slowest in flight is shown first, then the newest", () => {
  let t = 0;
  const { chunks, stream } = capture();
  const p = new Progress(true, plain, { stream, now: () => t, interval: 0, maxLines: 3 });
  p.setTotal(undefined, 6);
  const bars = ["a", "b", "c", "d", "e"].map((n) => {
    t += 100;
    return p.start(`pkg-${n}`, 1000);
  });
  bars[1].done();
  t += 100;
  bars[4].advance(10);
  const screen = chunks.at(-1)!;
  const lines = screen.split("\n").filter((l) => l.trim() && !l.startsWith("\x1b"));
  assert.match(lines[0], /^slowest: pkg-a /);
  assert.match(lines[1], /^pkg-d /);
  assert.match(lines[2], /^pkg-e /);
  assert.match(lines[3], /total 1\/6, 1 more/);
});
