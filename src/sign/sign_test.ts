import assert from "node:assert/strict";
import { UsageError } from "../errors.ts";
import { splitClearsigned } from "./clearsign.ts";
import { createKey } from "./keygen.ts";
import { needsPassphrase, signerFromArmored } from "./sign.ts";
import { KeyringVerifier } from "./verify.ts";

const key = createKey({ name: "Signer", email: "signer@example.invalid" });

Deno.test("clearsign output has LF endings, one Hash header, no blank line before the signature", async () => {
  const k = await key;
  const s = await signerFromArmored(k.secretKeyArmored);
  assert.equal(s.fingerprint, k.fingerprint);
  assert.match(s.publicKeyArmored, /^-----BEGIN PGP PUBLIC KEY BLOCK-----\n/);
  const doc = await s.clearsign('{\r\n"a":1\r\n}\r\n');
  assert.ok(!doc.includes("\r"));
  assert.match(
    doc,
    /^-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA\d+\n\n\{\n"a":1\n\}\n-----BEGIN PGP SIGNATURE-----\n/,
  );
  assert.match(doc, /-----END PGP SIGNATURE-----\n$/);
  assert.equal(splitClearsigned(doc).body, '{\n"a":1\n}');
  const v = new KeyringVerifier([k.publicKeyArmored]);
  assert.deepEqual(await v.verify(doc, "d"), { body: '{\n"a":1\n}', fingerprint: k.fingerprint });
});

Deno.test("a public key cannot sign, and several secret keys in one file are refused", async () => {
  const k = await key;
  await assert.rejects(signerFromArmored(k.publicKeyArmored), /holds no secret key/);
  const other = await createKey({ name: "O", email: "o@example.invalid" });
  await assert.rejects(
    signerFromArmored(k.secretKeyArmored + other.secretKeyArmored),
    (e) => e instanceof UsageError && e.message.includes("several secret keys"),
  );
  assert.equal(await needsPassphrase(k.secretKeyArmored), false);
});

Deno.test("createKey validates its input and makes sign-only v4 keys", async () => {
  await assert.rejects(createKey({ name: "x", email: "not an email" }), UsageError);
  await assert.rejects(createKey({ name: " ", email: "a@b.c" }), UsageError);
  await assert.rejects(
    // deno-lint-ignore no-explicit-any
    createKey({ name: "x", email: "a@b.c", type: "dsa" as any }),
    /Unknown key type "dsa"/,
  );
  const openpgp = await import("openpgp");
  const k = await openpgp.readKey({ armoredKey: (await key).publicKeyArmored });
  assert.equal(k.keyPacket.version, 4);
  assert.equal(k.getSubkeys().length, 0);
  assert.equal((k.getAlgorithmInfo() as { curve?: string }).curve, "ed25519Legacy");
  const locked = await createKey({ name: "L", email: "l@example.invalid", passphrase: "pw" });
  assert.equal(await needsPassphrase(locked.secretKeyArmored), true);
});
