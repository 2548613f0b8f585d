/**
 * An index rebuild of a big mirror keeps node texts and the index it writes in files past a
 * limit (`updateIndex`'s `spoolLimit`): the index is the same bytes, the working directory is
 * removed afterwards (also when the rebuild is aborted), and a mirror that takes local files
 * gets the index file placed rather than copied.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { REPO_ROOT } from "./_fixtures.ts";
import { withTmpfs } from "./_tmpfs.ts";
import { updateIndex } from "../src/push/update_index.ts";
import { V3Writer } from "../src/layout/v3/writer.ts";
import { FileStore } from "../src/storage/file.ts";
import type { Store } from "../src/storage/store.ts";
import { v3BlobPath } from "../src/layout/v3/paths.ts";

/** A v3 mirror of `n` generated specs (manifests and spec blobs, no index) in a new directory. */
function generated(n: number): string {
  const dir = mkdtempSync(join(tmpdir(), "spackle-spool-test-"));
  execFileSync(
    join(REPO_ROOT, "node_modules/.bin/deno"),
    ["run", "-A", join(REPO_ROOT, "scripts/gen_dag_mirror.ts"), join(dir, "mirror"), String(n)],
    { stdio: "ignore" },
  );
  return dir;
}

const indexBytes = (mirror: string, checksum: string) =>
  readFileSync(join(mirror, v3BlobPath(checksum)));

/** What the store was asked to do: files placed, paths written. */
function spied(store: FileStore, opts: { files: boolean }) {
  const placed: string[] = [];
  const written: string[] = [];
  const s = Object.create(store) as Store;
  s.write = (path, body, o) => {
    written.push(path);
    return store.write(path, body, o);
  };
  if (opts.files) {
    s.placeFile = (path, file, o) => {
      placed.push(path);
      return store.placeFile(path, file, o);
    };
  } else {
    Object.defineProperty(s, "placeFile", { value: undefined });
    Object.defineProperty(s, "makeStagingDir", { value: undefined });
  }
  return { store: s, placed, written };
}

const leftovers = (dir: string, prefix: string) =>
  readdirSync(dir).filter((n) => n.startsWith(prefix));

Deno.test("update-index past its spool limit writes the same index, placed from its file", async () => {
  const dir = generated(300);
  const mirror = join(dir, "mirror");
  try {
    const whole = await updateIndex(new V3Writer(new FileStore(pathToFileURL(mirror + "/"))));
    const expected = indexBytes(mirror, whole.index.checksum);
    assert.equal(whole.specs, 300);
    for (const files of [true, false]) {
      const before = leftovers(tmpdir(), "spackle-index-").length;
      const spy = spied(new FileStore(pathToFileURL(mirror + "/")), { files });
      // The index blob is rewritten: it is removed first.
      rmSync(join(mirror, v3BlobPath(whole.index.checksum)));
      const res = await updateIndex(new V3Writer(spy.store), { spoolLimit: 4096 });
      assert.deepEqual(res.index, whole.index);
      assert.deepEqual(indexBytes(mirror, res.index.checksum), expected);
      const blob = v3BlobPath(res.index.checksum);
      if (files) {
        assert.deepEqual(spy.placed, [blob], "the index file is placed, not copied");
      } else {
        assert.ok(spy.written.includes(blob), "the index is written from its file");
        assert.equal(leftovers(tmpdir(), "spackle-index-").length, before);
      }
      assert.deepEqual(leftovers(mirror, ".spackle-"), [], "no working directory is left");
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

Deno.test("update-index aborted while reading removes its working directory and writes no index", async () => {
  const dir = generated(300);
  const mirror = join(dir, "mirror");
  try {
    const store = new FileStore(pathToFileURL(mirror + "/"));
    const ac = new AbortController();
    let reads = 0;
    const s = Object.create(store) as Store;
    // Read as a remote mirror is, through the store (a local one's files are read directly).
    Object.defineProperty(s, "url", { value: new URL("x-remote://mirror/") });
    s.read = (path, o) => {
      if (++reads === 100) ac.abort(new Error("stopped halfway"));
      return store.read(path, o);
    };
    await assert.rejects(
      () => updateIndex(new V3Writer(s), { spoolLimit: 1024, signal: ac.signal }),
      /stopped halfway|abort/i,
    );
    assert.ok(reads >= 100, `only ${reads} reads`);
    assert.deepEqual(leftovers(mirror, ".spackle-"), []);
    assert.deepEqual(readdirSync(join(mirror, "v3", "manifests")).sort(), ["spec"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

Deno.test({
  name:
    "update-index on a full file system fails naming the cause, leaving no working file or index",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const dir = generated(300);
    const small = join(dir, "small");
    try {
      await withTmpfs(small, "16m", async () => {
        const mirror = join(small, "mirror");
        cpSync(join(dir, "mirror"), mirror, { recursive: true });
        // The file system is filled but for a few pages: the node texts spooled past 1 KB fill it.
        const df = new TextDecoder().decode(
          (await new Deno.Command("df", { args: ["-B1", "--output=avail", small] }).output())
            .stdout,
        );
        const avail = Number(df.trim().split("\n").pop());
        writeFileSync(join(small, "filler"), new Uint8Array(avail - 16384));
        await assert.rejects(
          () =>
            updateIndex(new V3Writer(new FileStore(pathToFileURL(mirror + "/"))), {
              spoolLimit: 1024,
            }),
          (e: Error) => {
            assert.match(e.message, /no space left on the device \(ENOSPC\); free some space/);
            assert.match(e.message, /\.spackle-index-/, "the working directory is named");
            return true;
          },
        );
        assert.deepEqual(leftovers(mirror, ".spackle-"), [], "no working directory is left");
        assert.deepEqual(readdirSync(join(mirror, "v3", "manifests")).sort(), ["spec"]);
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
});
