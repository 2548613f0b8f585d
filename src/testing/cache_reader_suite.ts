/**
 * The behaviour every `CacheReader` (one build-cache layout of one mirror) must have, as one
 * suite each reader's test file runs (Deno's test runner) over a mirror whose content it knows:
 * `runCacheReaderBehaviour("v3", makeV3Mirror)`. A reader written outside this library can run
 * it too (`@spackle/spackle/testing`).
 *
 * @module
 */
import assert from "node:assert/strict";
import { IntegrityError, NotFoundError, SignatureError } from "../errors.ts";
import { digestStream } from "../core/digest.ts";
import type { CacheReader } from "../layout/types.ts";

/** A reader over a mirror with known content, and a cleanup. */
export interface ReaderUnderTest {
  reader: CacheReader;
  /** Every spec in the build cache (not the index's externals). */
  specs: { name: string; version: string; hash: string }[];
  /** True when the mirror's metadata is signed by a key the reader was given as trusted. */
  signed: boolean;
  /** Fingerprints of the keys the mirror publishes (empty when it publishes none). */
  keys: string[];
  /**
   * Changes one byte of the object at a store path behind the reader's back (for the
   * tamper check); omitted when the store cannot be changed.
   */
  corrupt?(path: string): Promise<void>;
  cleanup(): Promise<void>;
}

const ABSENT = "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz";

/** Reads a tarball to its end: its sha256 and size. */
async function drainDigest(stream: ReadableStream<Uint8Array>) {
  const { stream: hashing, result } = digestStream();
  await stream.pipeThrough(hashing).pipeTo(new WritableStream());
  const r = await result;
  return { sha256: r.digest.hex, size: r.size };
}

/** Registers the behaviour tests of one reader. */
export function runCacheReaderBehaviour(
  name: string,
  make: () => Promise<ReaderUnderTest>,
  opts: { ignore?: boolean } = {},
): void {
  const t = (title: string, fn: (r: ReaderUnderTest) => Promise<void>) =>
    Deno.test({
      name: `${name} reader: ${title}`,
      ignore: opts.ignore,
      sanitizeResources: false,
      sanitizeOps: false,
      async fn() {
        const r = await make();
        try {
          await fn(r);
        } finally {
          await r.cleanup();
        }
      },
    });

  t("list() yields every spec of the build cache once, with its name and version", async (r) => {
    const listed = [];
    for await (const ref of r.reader.list()) listed.push(ref);
    const inCache = listed.filter((x) => x.inBuildcache);
    assert.deepEqual(
      inCache.map((x) => `${x.name}@${x.version}/${x.hash}`).sort(),
      r.specs.map((s) => `${s.name}@${s.version}/${s.hash}`).sort(),
    );
    assert.equal(new Set(listed.map((x) => x.hash)).size, listed.length, "a hash listed twice");
    for (const x of listed) assert.equal(x.layout, r.reader.version);
  });

  t(
    "entry() reads each spec: its DAG, metadata and a tarball matching its descriptor",
    async (r) => {
      for (const s of r.specs) {
        const e = await r.reader.entry(s.hash, { requireSignature: r.signed });
        assert.equal(e.spec.root, s.hash);
        assert.equal(e.spec.nodes.get(s.hash)?.name, s.name);
        assert.equal(e.ref.hash, s.hash);
        assert.equal(e.ref.layout, r.reader.version);
        assert.equal(e.signed, r.signed);
        if (r.signed) assert.ok(e.signedBy, "a verified entry names its signer");
        assert.ok(e.metadataPath && e.tarballPath);
        const got = await drainDigest(await e.openTarball());
        assert.deepEqual(got, { sha256: e.tarball.checksum, size: e.tarball.size });
      }
    },
  );

  t("an absent hash is NotFoundError from entry() and ref(), undefined from node()", async (r) => {
    await assert.rejects(r.reader.entry(ABSENT, { requireSignature: false }), NotFoundError);
    if (r.reader.ref) await assert.rejects(r.reader.ref(ABSENT), NotFoundError);
    if (r.reader.node) assert.equal(await r.reader.node(ABSENT), undefined);
  });

  t("ref() and node(), where the reader has them, agree with list()", async (r) => {
    for (const s of r.specs) {
      if (r.reader.ref) {
        const ref = await r.reader.ref(s.hash);
        assert.deepEqual([ref.name, ref.version, ref.hash], [s.name, s.version, s.hash]);
      }
      const n = await r.reader.node?.(s.hash);
      if (n) assert.deepEqual([n.name, n.hash], [s.name, s.hash]);
    }
  });

  t("unsigned metadata is refused when a signature is required", async (r) => {
    if (r.signed) return; // the signed case is covered by entry() above
    const [s] = r.specs;
    await assert.rejects(r.reader.entry(s.hash), SignatureError);
    await assert.rejects(r.reader.entry(s.hash, { requireSignature: true }), SignatureError);
  });

  t("keys() lists the published keys by fingerprint, armored", async (r) => {
    const keys = await r.reader.keys();
    assert.deepEqual(keys.map((k) => k.fingerprint).sort(), [...r.keys].sort());
    for (const k of keys) assert.match(k.armored, /-----BEGIN PGP PUBLIC KEY BLOCK-----/);
  });

  t("an aborted signal rejects entry() and list()", async (r) => {
    const c = new AbortController();
    c.abort(new Error("stop here"));
    const [s] = r.specs;
    await assert.rejects(
      r.reader.entry(s.hash, { signal: c.signal, requireSignature: false }),
      /stop here/,
    );
    await assert.rejects(async () => {
      for await (const _ of r.reader.list({ signal: c.signal })) { /* nothing */ }
    }, /stop here/);
  });

  t("a tampered tarball fails while it streams (IntegrityError)", async (r) => {
    if (!r.corrupt) return;
    const [s] = r.specs;
    const before = await r.reader.entry(s.hash, { requireSignature: r.signed });
    await r.corrupt(before.tarballPath);
    const e = await r.reader.entry(s.hash, { requireSignature: r.signed });
    await assert.rejects(
      async () => await drainDigest(await e.openTarball()),
      IntegrityError,
    );
  });
}
