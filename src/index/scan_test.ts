import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { IndexScanner } from "./scan.ts";

Deno.test("IndexScanner never changes the bytes it is given, also when they are a Node Buffer", () => {
  const text = '{"database":{"version":"7","installs":{"' + "a".repeat(32) +
    '":{"spec":{"name":"x"}}}}}';
  for (const input of [Buffer.from(text), new TextEncoder().encode(text)]) {
    const before = new Uint8Array(input);
    const s = new IndexScanner("t", { record: () => {}, batch: () => {} });
    s.feed(input);
    s.end();
    assert.deepEqual(new Uint8Array(input), before);
  }
});
