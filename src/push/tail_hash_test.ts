import assert from "node:assert/strict";
import { closeSync, mkdtempSync, openSync, rmSync, unlinkSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TailHasher } from "./tail_hash.ts";
import { newSha256 } from "../core/backend.ts";

Deno.test("TailHasher: the sha256 of a file hashed on a worker behind its writes is the file's", async () => {
  const dir = mkdtempSync(join(tmpdir(), "spackle-tail-"));
  try {
    const path = join(dir, "out");
    const fd = openSync(path, "w");
    const tail = TailHasher.start(path);
    assert.ok(tail, "module workers from blob: URLs are available");
    const want = newSha256();
    let size = 0;
    for (let i = 0; i < 40; i++) {
      const piece = new Uint8Array(100_000 + i * 7919).fill(i * 13);
      piece[0] = i;
      for (let off = 0; off < piece.length;) off += writeSync(fd, piece, off);
      want.update(piece);
      size += piece.length;
      tail.written(size);
    }
    closeSync(fd);
    assert.equal(await tail.digest(size), want.digestHex());
    // Nothing written: the hash of nothing.
    const empty = join(dir, "empty");
    closeSync(openSync(empty, "w"));
    assert.equal(await TailHasher.start(empty)!.digest(0), newSha256().digestHex());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

Deno.test("TailHasher: a file gone or shorter than what was written is an error, not a checksum", async () => {
  const dir = mkdtempSync(join(tmpdir(), "spackle-tail-"));
  try {
    const path = join(dir, "out");
    const fd = openSync(path, "w");
    writeSync(fd, new Uint8Array(1000));
    closeSync(fd);
    await assert.rejects(TailHasher.start(path)!.digest(5000), /shorter/);
    const gone = join(dir, "gone");
    closeSync(openSync(gone, "w"));
    const tail = TailHasher.start(gone)!;
    unlinkSync(gone);
    await assert.rejects(tail.digest(10), /ENOENT|no such file/i);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
