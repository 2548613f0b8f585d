/**
 * verify over the fixture mirrors and over temporary copies of them with one corruption
 * each: every corruption is reported with its code, and the exit flags say which kind.
 */
import assert from "node:assert/strict";
import { cp, mkdtemp, readFile, rm, truncate, unlink, writeFile } from "node:fs/promises";
import type { ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SignatureError } from "../src/errors.ts";
import { type Finding, VERIFY_FLAGS, verifyMirror } from "../src/mirror/verify.ts";
import { verifierFromKeys } from "../src/mirror/trusted_keys.ts";
import type { Verifier } from "../src/sign/types.ts";
import { openStore } from "../src/storage/open.ts";
import { writeBundle } from "../src/storage/bundle.ts";
import { fixture, HAVE_FIXTURES } from "./_fixtures.ts";
import { startServer } from "./_http_server.ts";

/** A verifier trusting the fixture key (openpgp directly; the keyring is not under test). */
async function fixtureVerifier(): Promise<Verifier> {
  const openpgp = await import("openpgp");
  const key = await openpgp.readKey({
    armoredKey: await readFile(fixture("keys/oracle-test.pub.asc"), "utf8"),
  });
  return {
    async verify(text: string, label?: string) {
      try {
        const message = await openpgp.readCleartextMessage({ cleartextMessage: text });
        const res = await openpgp.verify({ message, verificationKeys: key });
        await res.signatures[0].verified;
        return { body: res.data as string, fingerprint: key.getFingerprint().toUpperCase() };
      } catch (e) {
        throw new SignatureError(`Bad signature on ${label}: ${(e as Error).message}`);
      }
    },
  };
}

const LIBZZ_TARBALL =
  "blobs/sha256/22/22fd9945d3a5beaf3ba37a55c1ca4d21586d84429ee31edbbd36c53743f12bbc";
const LIBZZ_MANIFEST =
  "v3/manifests/spec/libzz/libzz-1.2.3-irttwv2f4rzhheesshe6vsy3xw3ezk2h.spec.manifest.json";
const LIBZZ = "libzz@1.2.3/irttwv2f4rzhheesshe6vsy3xw3ezk2h";

/** Verifies a temporary copy of fixture `name` after `damage` was done to it. */
async function verifyDamaged(
  name: string,
  damage: (root: string) => Promise<void>,
  opts: { verifier?: Verifier; requireSignatures?: boolean } = {},
) {
  const root = await mkdtemp(join(tmpdir(), "spackle-verify-"));
  try {
    await cp(fixture(name), root, { recursive: true });
    await damage(root);
    return await verifyMirror(await openStore(root), opts);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

function errors(findings: Finding[]): string[] {
  return findings.filter((f) => f.kind !== "notice").map((f) => `${f.kind}:${f.code}`).sort();
}

const t = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, ignore: !HAVE_FIXTURES, fn });

t("every fixture mirror written by Spack verifies clean, signatures included", async () => {
  const verifier = await fixtureVerifier();
  for (
    const [name, layouts, signed] of [
      ["v3-signed", [3], 4],
      ["v3-unsigned", [3], 0],
      ["v2-signed", [2], 4],
      ["v2-unsigned", [2], 0],
      ["v2-migrated-signed", [3, 2], 8],
      ["v2-migrated-unsigned", [3, 2], 0],
      ["spack-testdata/v2_layout/unsigned", [2], 0],
    ] as const
  ) {
    const r = await verifyMirror(await openStore(fixture(name)), { verifier });
    assert.deepEqual(r.findings, [], name);
    assert.equal(r.flags, 0, name);
    assert.deepEqual(r.layouts, layouts, name);
    assert.equal(r.checked.signaturesVerified, signed, name);
    assert.ok(r.checked.entries >= 4 && r.checked.bytes > 30_000, name);
  }
});

t(
  "a spec manifest of another version or with a non-sha256 record is manifest_invalid",
  async () => {
    for (
      const [edit, why] of [
        [(m: { version: number }) => m.version = 2, /version is 2, only 3/],
        [
          (m: { data: { checksum: string }[] }) => m.data[0].checksum = "ABC",
          /checksum "ABC" is not 64 lowercase hex digits/,
        ],
      ] as const
    ) {
      const r = await verifyDamaged("v3-unsigned", async (root) => {
        const p = join(root, LIBZZ_MANIFEST);
        const m = JSON.parse(await readFile(p, "utf8"));
        (edit as (m: unknown) => void)(m);
        await writeFile(p, JSON.stringify(m));
      });
      assert.deepEqual(errors(r.findings), ["corrupt:manifest_invalid"]);
      assert.equal(r.findings[0].path, LIBZZ_MANIFEST);
      assert.match(r.findings[0].message, why);
    }
  },
);

t("a flipped byte in a tarball blob is corrupt, naming the blob and the spec", async () => {
  const r = await verifyDamaged("v3-signed", async (root) => {
    const p = join(root, LIBZZ_TARBALL);
    const b = await readFile(p);
    b[1000] ^= 0x01;
    await writeFile(p, b);
  });
  assert.deepEqual(errors(r.findings), ["corrupt:digest_mismatch"]);
  assert.equal(r.findings[0].path, LIBZZ_TARBALL);
  assert.equal(r.findings[0].spec, LIBZZ);
  assert.equal(r.flags, VERIFY_FLAGS.corrupt);
});

t("a truncated blob is reported as truncated", async () => {
  const r = await verifyDamaged("v3-signed", (root) => truncate(join(root, LIBZZ_TARBALL), 4000));
  assert.deepEqual(errors(r.findings), ["corrupt:blob_truncated"]);
  assert.match(r.findings[0].message, /4000 bytes where 6296 are declared/);
  assert.equal(r.flags, VERIFY_FLAGS.corrupt);
});

t("a missing blob is reported as missing", async () => {
  const r = await verifyDamaged("v3-signed", (root) => unlink(join(root, LIBZZ_TARBALL)));
  assert.deepEqual(errors(r.findings), ["corrupt:blob_missing"]);
  assert.equal(r.findings[0].spec, LIBZZ);
  assert.equal(r.flags, VERIFY_FLAGS.corrupt);
});

t("a manifest naming a wrong size is corrupt even though the digest matches", async () => {
  const r = await verifyDamaged("v3-unsigned", async (root) => {
    const p = join(root, LIBZZ_MANIFEST);
    const text = await readFile(p, "utf8");
    assert.ok(text.includes('"contentLength":6296'));
    await writeFile(p, text.replace('"contentLength":6296', '"contentLength":6297'));
  });
  assert.deepEqual(errors(r.findings), ["corrupt:size_mismatch"]);
  assert.match(r.findings[0].message, /declares 6297 bytes .* has 6296 \(its sha256 matches\)/);
});

t("a tampered signature is untrusted; the entry's blobs are still checked", async () => {
  const verifier = await fixtureVerifier();
  const r = await verifyDamaged("v3-signed", async (root) => {
    const p = join(root, LIBZZ_MANIFEST);
    const text = await readFile(p, "utf8");
    // Change one base64 character inside the signature block.
    const at = text.indexOf("-----BEGIN PGP SIGNATURE-----") + 40;
    const c = text[at] === "A" ? "B" : "A";
    await writeFile(p, text.slice(0, at) + c + text.slice(at + 1));
    await unlink(join(root, LIBZZ_TARBALL));
  }, { verifier });
  assert.deepEqual(errors(r.findings), ["corrupt:blob_missing", "untrusted:bad_signature"]);
  assert.equal(r.findings.find((f) => f.code === "bad_signature")!.spec, LIBZZ);
  assert.equal(r.flags, VERIFY_FLAGS.corrupt | VERIFY_FLAGS.untrusted);
  assert.equal(r.checked.signaturesVerified, 3);
});

t("a manifest whose payload was changed after signing fails its signature", async () => {
  const verifier = await fixtureVerifier();
  const r = await verifyDamaged("v3-signed", async (root) => {
    const p = join(root, LIBZZ_MANIFEST);
    const text = await readFile(p, "utf8");
    await writeFile(p, text.replace('"contentLength":6296', '"contentLength":6297'));
  }, { verifier });
  assert.deepEqual(errors(r.findings), ["corrupt:size_mismatch", "untrusted:bad_signature"]);
});

t("an index entry without a manifest is inconsistent, and its blobs become orphans", async () => {
  const r = await verifyDamaged("v3-signed", (root) => unlink(join(root, LIBZZ_MANIFEST)));
  assert.deepEqual(errors(r.findings), ["inconsistent:index_entry_without_metadata"]);
  assert.equal(r.findings[0].spec, LIBZZ);
  const orphans = r.findings.filter((f) => f.code === "orphan_blob").map((f) => f.path);
  assert.ok(orphans.includes(LIBZZ_TARBALL), orphans.join());
  assert.equal(orphans.length, 2);
  assert.equal(r.flags, VERIFY_FLAGS.inconsistent);
});

t("unsigned entries are untrusted only when signatures are required", async () => {
  const r = await verifyDamaged("v3-unsigned", async () => {}, { requireSignatures: true });
  assert.deepEqual(errors(r.findings), Array(4).fill("untrusted:unsigned"));
  assert.equal(r.flags, VERIFY_FLAGS.untrusted);
});

t("a signed mirror checked without the signer's key is untrusted", async () => {
  const openpgp = await import("openpgp");
  const { publicKey } = await openpgp.generateKey({
    type: "ecc",
    curve: "curve25519Legacy" as never,
    userIDs: [{ name: "other" }],
  });
  const verifier = await verifierFromKeys([publicKey]);
  const r = await verifyMirror(await openStore(fixture("v3-signed")), { verifier });
  assert.deepEqual(errors(r.findings), Array(4).fill("untrusted:bad_signature"));
  assert.match(r.findings[0].message, /signed by key 6EE87675E657CA38, which is not trusted/);
});

t("v2: a flipped tarball byte and a stale index.json.hash are reported", async () => {
  const r = await verifyDamaged("v2-unsigned", async (root) => {
    const tar = join(
      root,
      "build_cache/linux-debian12-x86_64/gcc-12.2.0/libzz-1.2.3/" +
        "linux-debian12-x86_64-gcc-12.2.0-libzz-1.2.3-wpn7enmyybr42zre26cp2uw6drmtmqqv.spack",
    );
    const b = await readFile(tar);
    b[10] ^= 0x80;
    await writeFile(tar, b);
    await writeFile(join(root, "build_cache/index.json.hash"), "0".repeat(64));
  });
  assert.deepEqual(errors(r.findings), [
    "corrupt:digest_mismatch",
    "inconsistent:index_hash_mismatch",
  ]);
  assert.equal(r.flags, VERIFY_FLAGS.corrupt | VERIFY_FLAGS.inconsistent);
});

t("a migrated mirror whose v2 and v3 tarballs differ is inconsistent", async () => {
  const r = await verifyDamaged("v2-migrated-unsigned", async (root) => {
    // Replace the v2 tarball and its checksum with other (valid) bytes.
    const dir = join(root, "build_cache");
    const stem = "linux-debian12-x86_64-gcc-12.2.0-libzz-1.2.3-wpn7enmyybr42zre26cp2uw6drmtmqqv";
    const tar = join(dir, "linux-debian12-x86_64/gcc-12.2.0/libzz-1.2.3", `${stem}.spack`);
    const bytes = new TextEncoder().encode("other bytes");
    await writeFile(tar, bytes);
    const specPath = join(dir, `${stem}.spec.json`);
    const spec = JSON.parse(await readFile(specPath, "utf8"));
    const { createHash } = await import("node:crypto");
    spec.binary_cache_checksum.hash = createHash("sha256").update(bytes).digest("hex");
    await writeFile(specPath, JSON.stringify(spec));
  });
  assert.deepEqual(errors(r.findings), ["inconsistent:layouts_disagree"]);
});

t("--sample checks only that many entries", async () => {
  const r = await verifyMirror(await openStore(fixture("v2-migrated-signed")), {
    sample: 3,
    random: () => 0.5,
  });
  assert.equal(r.sampled, true);
  assert.equal(r.checked.entries, 3);
  assert.deepEqual(r.findings, []);
});

t("a directory that is not a build cache is corrupt", async () => {
  const root = await mkdtemp(join(tmpdir(), "spackle-verify-"));
  try {
    const r = await verifyMirror(await openStore(root));
    assert.deepEqual(errors(r.findings), ["corrupt:no_build_cache"]);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

/** Serves fixture `name` over http from an in-process server; `special` answers some paths. */
async function serveFixture(
  name: string,
  special: (path: string, res: ServerResponse) => boolean,
) {
  const root = fixture(name);
  const server = await startServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url!, "http://x").pathname).slice(1);
    if (special(path, res)) return;
    try {
      const body = await readFile(join(root, path));
      res.writeHead(200, { "content-length": String(body.byteLength) });
      res.end(req.method === "HEAD" ? undefined : body);
    } catch {
      res.writeHead(404).end();
    }
  });
  const store = await openStore(server.url, {
    http: { noProxy: "127.0.0.1" },
    retry: { retries: 1, baseDelayMs: 1 },
  });
  return { store, close: () => server.close() };
}

t("a blob the server fails to send is unreachable, not corrupt", async () => {
  const { store, close } = await serveFixture("v3-unsigned", (path, res) => {
    if (path === LIBZZ_TARBALL) {
      res.writeHead(503).end();
      return true;
    }
    if (path.startsWith("blobs/sha256/4a/")) {
      res.writeHead(200, { "content-type": "text/html" }).end("<html>Log in to continue</html>");
      return true;
    }
    return false;
  });
  try {
    const r = await verifyMirror(store);
    assert.deepEqual(errors(r.findings), ["unreachable:read_failed", "unreachable:read_failed"]);
    assert.ok(r.findings.some((f) => /HTTP 503/.test(f.message) && f.spec === LIBZZ));
    assert.ok(r.findings.some((f) => /captive portal/.test(f.message)));
    assert.equal(r.flags, VERIFY_FLAGS.unreachable);
    assert.equal(r.checked.entries, 4);
  } finally {
    await close();
  }
});

t("v2 over http (no listing) finds entries by the names the index implies", async () => {
  const stem = "linux-debian12-x86_64-gcc-12.2.0-libzz-1.2.3-wpn7enmyybr42zre26cp2uw6drmtmqqv";
  const { store, close } = await serveFixture("v2-signed", (path, res) => {
    if (path === `build_cache/${stem}.spec.json.sig`) {
      res.writeHead(404).end();
      return true;
    }
    return false;
  });
  try {
    const r = await verifyMirror(store, { verifier: await fixtureVerifier() });
    assert.deepEqual(errors(r.findings), ["inconsistent:index_entry_without_metadata"]);
    assert.equal(r.findings[0].path, `build_cache/${stem}.spec.json`);
    assert.equal(r.checked.signaturesVerified, 3);
    assert.equal(r.checked.blobs, 3);
  } finally {
    await close();
  }
  // Spack's own test mirror: compiler from a node attribute, an annotation, a `c` provider,
  // or none ("none-none").
  const all = await serveFixture("spack-testdata/v2_layout/unsigned", () => false);
  try {
    const r = await verifyMirror(all.store);
    assert.deepEqual(r.findings, []);
    assert.equal(r.checked.entries, 6);
    assert.equal(r.checked.blobs, 6);
  } finally {
    await all.close();
  }
});

const HTTPS_URL = Deno.env.get("SPACKLE_TEST_HTTPS_URL");
const CA_FILE = Deno.env.get("SPACKLE_TEST_CA_FILE");
Deno.test({
  name: "verify over https (no listing) finds the entries through the index",
  ignore: !HAVE_FIXTURES || !HTTPS_URL || !CA_FILE,
  async fn() {
    const store = await openStore(`${HTTPS_URL}v3-signed/`, {
      http: { caFile: CA_FILE, noProxy: "127.0.0.1" },
    });
    const r = await verifyMirror(store, { verifier: await fixtureVerifier() });
    assert.equal(r.checked.entries, 4);
    assert.equal(r.checked.signaturesVerified, 4);
    assert.equal(r.flags, 0);
    assert.deepEqual(errors(r.findings), []);
  },
});

Deno.test({
  name: "verify of an https mirror whose certificate is not trusted is unreachable only",
  ignore: !HAVE_FIXTURES || !HTTPS_URL || !CA_FILE,
  async fn() {
    const store = await openStore(`${HTTPS_URL}v3-signed/`, {
      http: { noProxy: "127.0.0.1", env: {} },
      retry: { retries: 0 },
    });
    const r = await verifyMirror(store);
    assert.equal(r.flags, VERIFY_FLAGS.unreachable);
    assert.ok(r.findings.every((f) => f.kind === "unreachable"));
    assert.match(r.findings[0].message, /--ca-file/);
  },
});

t("verify reads a bundle file in place", async () => {
  const dir = await mkdtemp(join(tmpdir(), "spackle-verify-"));
  try {
    const src = await openStore(fixture("v3-signed"));
    const items = [];
    for await (const path of src.list!("")) {
      const size = (await src.stat(path))!.size;
      items.push({ path, size, open: () => src.read(path) });
    }
    const out = join(dir, "mirror.tar");
    await writeBundle(out, items);
    const r = await verifyMirror(await openStore(out), { verifier: await fixtureVerifier() });
    assert.deepEqual(r.findings, []);
    assert.equal(r.checked.entries, 4);
    assert.equal(r.checked.signaturesVerified, 4);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
