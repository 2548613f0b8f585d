import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TEMP_FILE_PREFIX, writeFileAtomic, writeFileAtomicSync } from "./atomic_file.ts";

function withDir(fn: (dir: string) => Promise<void> | void) {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), "sp-atomic-"));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

Deno.test(
  "writeFileAtomic writes text, bytes and streams, creating the directory",
  withDir(async (dir) => {
    const p = join(dir, "a/b/file");
    assert.equal(await writeFileAtomic(p, "héllo"), 6);
    assert.equal(readFileSync(p, "utf8"), "héllo");
    await writeFileAtomic(p, new Uint8Array([1, 2]), { sync: true });
    assert.deepEqual([...readFileSync(p)], [1, 2]);
    const stream = ReadableStream.from([new Uint8Array([3]), new Uint8Array([4, 5])]);
    assert.equal(await writeFileAtomic(p, stream), 3);
    assert.deepEqual([...readFileSync(p)], [3, 4, 5]);
    assert.deepEqual(readdirSync(join(dir, "a/b")), ["file"]);
  }),
);

Deno.test(
  "writeFileAtomic leaves the old file and no temporary file when the body fails",
  withDir(async (dir) => {
    const p = join(dir, "file");
    writeFileSync(p, "old");
    async function* failing() {
      yield new Uint8Array([1]);
      throw new Error("body broke");
    }
    await assert.rejects(writeFileAtomic(p, failing()), /body broke/);
    assert.equal(readFileSync(p, "utf8"), "old");
    assert.deepEqual(readdirSync(dir), ["file"]);
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(writeFileAtomic(p, "new", { signal: ac.signal }));
    assert.equal(readFileSync(p, "utf8"), "old");
    await assert.rejects(writeFileAtomic(join(dir, "none/file"), "x", { mkdir: false }), /ENOENT/);
    assert.deepEqual(readdirSync(dir), ["file"]);
  }),
);

Deno.test(
  "writeFileAtomic and writeFileAtomicSync set an exact mode past the umask",
  withDir(async (dir) => {
    const p = join(dir, "secret");
    await writeFileAtomic(p, "k", { mode: 0o600, exactMode: true });
    assert.equal(statSync(p).mode & 0o777, 0o600);
    writeFileAtomicSync(p, "k2", { mode: 0o640, exactMode: true });
    assert.equal(statSync(p).mode & 0o777, 0o640);
    assert.equal(readFileSync(p, "utf8"), "k2");
    assert.ok(!readdirSync(dir).some((n) => n.startsWith(TEMP_FILE_PREFIX)));
  }),
);
