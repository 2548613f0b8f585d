import assert from "node:assert/strict";
import { statSync } from "node:fs";
import { join } from "node:path";
import { InvalidDataError, NotFoundError, SignatureError, UsageError } from "../errors.ts";
import { createKey } from "./keygen.ts";
import { defaultKeyringDir, Keyring } from "./keyring.ts";
import { signerFromArmored, signerFromKeyring } from "./sign.ts";
import { KeyringVerifier } from "./verify.ts";

async function withDir(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const alice = createKey({ name: "Alice", email: "alice@example.invalid" });
const bob = createKey({ name: "Bob", email: "bob@example.invalid" });

Deno.test("defaultKeyringDir: flag, then SPACKLE_KEYRING, then XDG_CONFIG_HOME", () => {
  const saved = { k: Deno.env.get("SPACKLE_KEYRING"), x: Deno.env.get("XDG_CONFIG_HOME") };
  try {
    Deno.env.set("SPACKLE_KEYRING", "/env/ring");
    Deno.env.set("XDG_CONFIG_HOME", "/xdg");
    assert.equal(defaultKeyringDir("/flag"), "/flag");
    assert.equal(defaultKeyringDir(), "/env/ring");
    Deno.env.delete("SPACKLE_KEYRING");
    assert.equal(defaultKeyringDir(), "/xdg/spackle/keyring");
    Deno.env.delete("XDG_CONFIG_HOME");
    assert.ok(defaultKeyringDir().endsWith(join(".config", "spackle", "keyring")));
  } finally {
    for (const [name, v] of [["SPACKLE_KEYRING", saved.k], ["XDG_CONFIG_HOME", saved.x]]) {
      if (v === undefined) Deno.env.delete(name!);
      else Deno.env.set(name!, v);
    }
  }
});

Deno.test("trust stores one file per fingerprint; list reports user ids and algorithm", async () => {
  const a = await alice, b = await bob;
  await withDir(async (dir) => {
    const kr = Keyring.open(join(dir, "ring"));
    assert.deepEqual(await kr.list(), []);
    assert.deepEqual(await kr.trust(a.publicKeyArmored + "\n" + b.publicKeyArmored), [
      a.fingerprint,
      b.fingerprint,
    ]);
    assert.deepEqual(await kr.trust(a.publicKeyArmored), [a.fingerprint]); // idempotent
    assert.deepEqual(await kr.fingerprints(), [a.fingerprint, b.fingerprint].sort());
    const list = await kr.list();
    const la = list.find((k) => k.fingerprint === a.fingerprint)!;
    assert.deepEqual(la.userIds, ["Alice <alice@example.invalid>"]);
    assert.equal(la.algorithm, "ed25519");
    assert.equal(la.keyId, a.fingerprint.slice(-16));
    assert.equal(la.expires, null);
    assert.equal(la.revoked, false);
    assert.equal((await kr.publicKeys()).length, 2);
  });
});

Deno.test("trust refuses secret keys unless asked to take the public part", async () => {
  const a = await alice;
  await withDir(async (dir) => {
    const kr = Keyring.open(dir);
    await assert.rejects(
      kr.trust(a.secretKeyArmored),
      (e) => e instanceof UsageError && e.message.includes("secret key " + a.fingerprint),
    );
    assert.deepEqual(await kr.fingerprints(), []);
    assert.deepEqual(await kr.trust(a.secretKeyArmored, { fromSecret: true }), [a.fingerprint]);
    const stored = await kr.publicKey(a.fingerprint);
    assert.ok(stored.includes("PUBLIC KEY BLOCK") && !stored.includes("PRIVATE"));
    await assert.rejects(kr.trust("not a key", { label: '"x.asc"' }), /"x\.asc"/);
    // A key whose self-signatures were stripped can never verify anything: refused.
    const openpgp = await import("openpgp");
    const packets = (await openpgp.readKey({ armoredKey: a.publicKeyArmored })).toPacketList();
    const bare = new openpgp.PacketList();
    for (const p of packets) if (!(p instanceof openpgp.SignaturePacket)) bare.push(p);
    await assert.rejects(
      kr.trust(new openpgp.PublicKey(bare).armor(), { label: '"bare.asc"' }),
      (e) => e instanceof InvalidDataError && /self-signature/.test(e.message),
    );
  });
});

Deno.test("untrust takes a fingerprint or a unique suffix and refuses unknown ones", async () => {
  const a = await alice, b = await bob;
  await withDir(async (dir) => {
    const kr = Keyring.open(dir);
    await kr.trust(a.publicKeyArmored + b.publicKeyArmored);
    await assert.rejects(kr.untrust("DEADBEEF"), NotFoundError);
    await assert.rejects(kr.untrust("xyz"), UsageError);
    assert.equal(await kr.untrust(a.fingerprint.slice(-16).toLowerCase()), a.fingerprint);
    assert.deepEqual(await kr.fingerprints(), [b.fingerprint]);
  });
});

Deno.test("secret keys are stored mode 0600 and sign; zero or several are refused", async () => {
  const a = await alice, b = await bob;
  await withDir(async (dir) => {
    const kr = Keyring.open(dir);
    await assert.rejects(signerFromKeyring(kr), /holds no secret key/);
    assert.equal(await kr.addSecret(a.secretKeyArmored), a.fingerprint);
    assert.equal(statSync(join(dir, "secret", `${a.fingerprint}.asc`)).mode & 0o777, 0o600);
    assert.deepEqual(await kr.fingerprints(), [a.fingerprint]);
    const s = await signerFromKeyring(kr);
    assert.equal(s.fingerprint, a.fingerprint);
    const v = await KeyringVerifier.fromKeyring(kr);
    assert.equal((await v.verify(await s.clearsign("hi\n"), "x")).body, "hi");
    await assert.rejects(kr.untrust(a.fingerprint), /--secret/);
    await kr.addSecret(b.secretKeyArmored);
    await assert.rejects(signerFromKeyring(kr), /several secret keys/);
    assert.equal((await signerFromKeyring(kr, b.fingerprint)).fingerprint, b.fingerprint);
    assert.equal(await kr.untrust(a.fingerprint, { secret: true }), a.fingerprint);
    assert.deepEqual(await kr.secretFingerprints(), [b.fingerprint]);
  });
});

Deno.test("verify refuses signatures by revoked and by expired trusted keys; signing with an expired key fails", async () => {
  const openpgp = await import("openpgp");
  const a = await alice;
  const doc = await (await signerFromArmored(a.secretKeyArmored)).clearsign("text");
  const privateKey = await openpgp.readPrivateKey({ armoredKey: a.secretKeyArmored });
  const { publicKey: revoked } = await openpgp.revokeKey({ key: privateKey, format: "armored" });
  await assert.rejects(
    new KeyringVerifier([revoked]).verify(doc, "doc"),
    (e) => e instanceof SignatureError && /revoked/.test(e.message) && e.message.includes('"doc"'),
  );
  const old = await createKey({
    name: "Old",
    email: "old@example.invalid",
    date: new Date(Date.now() - 3 * 86400_000),
    expiresIn: 86400,
  });
  // openpgp (like GnuPG) refuses to sign with an expired key: sign as of 2.5 days ago.
  await assert.rejects(signerFromArmored(old.secretKeyArmored), /expired/);
  const docOld = await signAt(old.secretKeyArmored, new Date(Date.now() - 2.5 * 86400_000));
  const v = new KeyringVerifier([old.publicKeyArmored]);
  await assert.rejects(v.verify(docOld, "old"), /expired/);
  assert.equal((await new KeyringVerifier([a.publicKeyArmored]).verify(doc)).body, "text");
});

async function signAt(armored: string, date: Date): Promise<string> {
  const openpgp = await import("openpgp");
  const key = await openpgp.readPrivateKey({ armoredKey: armored });
  const message = await openpgp.createCleartextMessage({ text: "x" });
  return await openpgp.sign({ message, signingKeys: key, date });
}

Deno.test("a revoked key can be trusted and is listed as revoked", async () => {
  const openpgp = await import("openpgp");
  const b = await bob;
  const privateKey = await openpgp.readPrivateKey({ armoredKey: b.secretKeyArmored });
  const { publicKey } = await openpgp.revokeKey({ key: privateKey, format: "armored" });
  await withDir(async (dir) => {
    const kr = Keyring.open(dir);
    assert.deepEqual(await kr.trust(publicKey), [b.fingerprint]);
    const [info] = await kr.list();
    assert.equal(info.revoked, true);
  });
});
