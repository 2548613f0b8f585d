import assert from "node:assert/strict";
import { formatDuration, Progress } from "./progress.ts";
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
