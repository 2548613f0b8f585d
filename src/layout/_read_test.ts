import { strict as assert } from "node:assert";
import { sha256Hex } from "../core/digest.ts";
import { IntegrityError } from "../errors.ts";
import { tarballOpener, verifiedTarball } from "./_read.ts";

/** A body of `chunks` that counts the chunks taken from it, and whether it was cancelled. */
function counted(chunks: Uint8Array[]) {
  const seen = { pulls: 0, cancelled: false };
  let i = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      seen.pulls++;
      if (i < chunks.length) c.enqueue(chunks[i++]);
      else c.close();
    },
    cancel() {
      seen.cancelled = true;
    },
  }, { highWaterMark: 0 });
  return { body, seen };
}

const bytes = (s: string) => new TextEncoder().encode(s);

async function readAll(s: ReadableStream<Uint8Array>): Promise<string> {
  let out = "";
  for await (const c of s) out += new TextDecoder().decode(c);
  return out;
}

Deno.test("verifiedTarball reads nothing until asked, then checks digest and size", async () => {
  const parts = [bytes("hello "), bytes("world")];
  const good = { checksum: sha256Hex("hello world"), size: 11 };
  const { body, seen } = counted(parts);
  const s = verifiedTarball(body, good, "blob");
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(seen.pulls, 0, "an opened body waiting for its turn holds no bytes");
  assert.equal(await readAll(s), "hello world");

  const wrong = counted(parts);
  await assert.rejects(
    readAll(verifiedTarball(wrong.body, { checksum: "0".repeat(64), size: 11 }, "blob")),
    (e) => e instanceof IntegrityError && /Cannot verify blob: digest is/.test(e.message),
  );
  const long = counted([bytes("hello world!"), bytes("more")]);
  await assert.rejects(
    readAll(verifiedTarball(long.body, good, "blob")),
    (e) => e instanceof IntegrityError && /longer than the declared 11 bytes/.test(e.message),
  );
  assert.equal(long.seen.cancelled, true, "the source is cancelled once it is known bad");
  const short = counted([bytes("hello")]);
  await assert.rejects(
    readAll(verifiedTarball(short.body, good, "blob")),
    (e) => e instanceof IntegrityError && /body is 5 bytes, 11 were declared/.test(e.message),
  );

  // Cancelled before any read: the source is cancelled, never read.
  const unread = counted(parts);
  await verifiedTarball(unread.body, good, "blob").cancel("not needed");
  assert.deepEqual(unread.seen, { pulls: 0, cancelled: true });
});

Deno.test("tarballOpener opens the body when called and verifies it", async () => {
  const keys: string[] = [];
  const open = tarballOpener(
    (key) => {
      keys.push(key);
      return Promise.resolve(counted([bytes("abc")]).body);
    },
    "blobs/x",
    { checksum: sha256Hex("abc"), size: 3 },
    "tarball x",
  );
  assert.deepEqual(keys, []);
  assert.equal(await readAll(await open()), "abc");
  assert.deepEqual(keys, ["blobs/x"]);
});
