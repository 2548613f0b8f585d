import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HashedSink, TextSpool } from "./spool.ts";

/** Texts of every size around the chunk size (1 MiB), ASCII and not. */
function texts(): string[] {
  const out: string[] = [];
  for (let i = 0; i < 400; i++) out.push(`{"n":${i},"s":"${"x".repeat((i * 7919) % 9000)}"}`);
  out.push("é☃ not ASCII", "", "y".repeat((1 << 20) + 17), "z".repeat(1 << 20), "tail");
  return out;
}

Deno.test("TextSpool gives back every text, in memory and past its limit from its file", () => {
  const dir = mkdtempSync(join(tmpdir(), "spackle-spool-"));
  try {
    for (const limit of [Infinity, 0, 50_000]) {
      const file = join(dir, `nodes-${limit}`);
      const spool = new TextSpool({ limit, file: () => file });
      const all = texts();
      const at = all.map((t) => {
        const before = spool.size;
        const [chunk, offset] = spool.append(t);
        return { chunk, offset, length: spool.size - before };
      });
      spool.finish();
      assert.equal(existsSync(file), limit !== Infinity, `a file exactly past the limit ${limit}`);
      const dec = new TextDecoder();
      all.forEach((t, i) => {
        const a = at[i];
        assert.equal(dec.decode(spool.read(a.chunk, a.offset, a.length, new Uint8Array(64))), t);
      });
      spool.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

Deno.test("HashedSink gives the bytes or their file, with their size and sha256", () => {
  const dir = mkdtempSync(join(tmpdir(), "spackle-sink-"));
  try {
    const pieces: (string | Uint8Array)[] = texts().flatMap((t, i) =>
      i % 3 ? [t] : [new TextEncoder().encode(t), ","]
    );
    const whole = Buffer.concat(
      pieces.map((p) => typeof p === "string" ? Buffer.from(p, "utf8") : Buffer.from(p)),
    );
    const sha = createHash("sha256").update(whole).digest("hex");
    for (const limit of [Infinity, 0, 3 << 20]) {
      const file = join(dir, `index-${limit}`);
      const sink = new HashedSink({ limit, file: () => file });
      for (const p of pieces) sink.put(p);
      const out = sink.end();
      assert.equal(out.size, whole.length);
      assert.equal(out.sha256, sha);
      if (limit === Infinity) {
        assert.equal(out.file, undefined);
        assert.ok(Buffer.from(out.bytes!).equals(whole));
      } else {
        assert.equal(out.bytes, undefined);
        assert.equal(out.file, file);
        assert.ok(readFileSync(file).equals(whole));
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
