/**
 * Signatures against the fixtures (signed by real Spack through GnuPG) and against GnuPG 2.2
 * itself, both ways, in a temporary GNUPGHOME.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { SignatureError } from "../src/errors.ts";
import { splitClearsigned } from "../src/sign/clearsign.ts";
import { Keyring } from "../src/sign/keyring.ts";
import { KeyringVerifier } from "../src/sign/verify.ts";
import { fixture, HAVE_FIXTURES } from "./_fixtures.ts";

const PUB = () => readFileSync(fixture("keys/oracle-test.pub.asc"), "utf8");
const FPR = () => readFileSync(fixture("keys/FINGERPRINT"), "utf8").trim();

function walk(dir: string, suffix: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p, suffix));
    else if (e.name.endsWith(suffix)) out.push(p);
  }
  return out.sort();
}

function signedFixtures(): string[] {
  return [
    ...walk(fixture("v3-signed/v3/manifests/spec"), ".spec.manifest.json"),
    ...walk(fixture("v2-signed/build_cache"), ".spec.json.sig"),
  ];
}

async function rejects(p: Promise<unknown>, text: string | RegExp) {
  await assert.rejects(p, (e) => {
    assert.ok(e instanceof SignatureError, `expected SignatureError, got ${e}`);
    if (typeof text === "string") assert.ok(e.message.includes(text), e.message);
    else assert.match(e.message, text);
    return true;
  });
}

Deno.test({
  name: "fixture signatures (v3 manifests, v2 .spec.json.sig) verify with the fixture key",
  ignore: !HAVE_FIXTURES,
  fn: async () => {
    const v = new KeyringVerifier([PUB()]);
    const files = signedFixtures();
    assert.ok(files.length >= 8, `only ${files.length} signed fixtures found`);
    for (const f of files) {
      const text = readFileSync(f, "utf8");
      const r = await v.verify(text, f);
      assert.equal(r.fingerprint, FPR());
      assert.deepEqual(JSON.parse(r.body), JSON.parse(splitClearsigned(text).body));
    }
  },
});

Deno.test({
  name: "a tampered fixture manifest is refused as a bad signature naming the document",
  ignore: !HAVE_FIXTURES,
  fn: async () => {
    const v = new KeyringVerifier([PUB()]);
    for (const f of signedFixtures().slice(0, 1).concat(signedFixtures().slice(-1))) {
      const text = readFileSync(f, "utf8");
      const m = /"(checksum|hash)":"([0-9a-f])/.exec(text);
      assert.ok(m, `no checksum in ${f}`);
      const flipped = m[2] === "0" ? "1" : "0";
      const tampered = text.replace(m[0], m[0].slice(0, -1) + flipped);
      assert.notEqual(tampered, text);
      await rejects(v.verify(tampered, "tampered.json"), /Bad signature on "tampered\.json"/);
    }
  },
});

Deno.test({
  name: "a fixture signature is refused when its key is not trusted, naming the key id",
  ignore: !HAVE_FIXTURES,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      const v = await KeyringVerifier.fromKeyring(Keyring.open(dir));
      const f = signedFixtures()[0];
      await rejects(v.verify(readFileSync(f, "utf8"), "libfoo"), FPR().slice(-16));
      await rejects(v.verify(readFileSync(f, "utf8"), "libfoo"), '"libfoo"');
      await rejects(v.verify('{"a":1}', "plain.json"), "not signed");
      const kr = Keyring.open(dir);
      assert.deepEqual(await kr.trust(PUB()), [FPR()]);
      const v2 = await KeyringVerifier.fromKeyring(kr);
      assert.equal((await v2.verify(readFileSync(f, "utf8"), "libfoo")).fingerprint, FPR());
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
