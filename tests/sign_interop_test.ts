/**
 * Signatures against the fixtures (signed by real Spack through GnuPG) and against GnuPG 2.2
 * itself, both ways, in a temporary GNUPGHOME.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SignatureError } from "../src/errors.ts";
import { splitClearsigned } from "../src/sign/clearsign.ts";
import { Keyring } from "../src/sign/keyring.ts";
import { createKey, type KeyType } from "../src/sign/keygen.ts";
import { signerFromArmored } from "../src/sign/sign.ts";
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
  name:
    "a fixture manifest with a Hash header that contradicts its signature is refused; CRLF is fine",
  ignore: !HAVE_FIXTURES,
  fn: async () => {
    const v = new KeyringVerifier([PUB()]);
    const text = readFileSync(signedFixtures()[0], "utf8");
    assert.ok(text.includes("\nHash: SHA512\n"));
    await rejects(v.verify(text.replace("Hash: SHA512", "Hash: SHA256"), "hdr"), /"hdr"/);
    const crlf = await v.verify(text.replace(/\n/g, "\r\n"), "crlf");
    assert.equal(crlf.body, (await v.verify(text, "lf")).body);
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

const HAVE_GPG = spawnSync("gpg", ["--version"]).status === 0;

/** A throw-away GnuPG home; `run` returns gpg's exit status and output. */
async function withGpg(fn: (g: Gpg) => Promise<void>) {
  const home = await Deno.makeTempDir();
  await Deno.chmod(home, 0o700);
  const g = new Gpg(home);
  try {
    await fn(g);
  } finally {
    spawnSync("gpgconf", ["--kill", "all"], { env: { ...Deno.env.toObject(), GNUPGHOME: home } });
    await Deno.remove(home, { recursive: true });
  }
}

class Gpg {
  constructor(readonly home: string) {}
  run(args: string[], input?: string): { status: number; stdout: string; stderr: string } {
    const r = spawnSync("gpg", ["--batch", "--no-tty", "--pinentry-mode", "loopback", ...args], {
      env: { ...Deno.env.toObject(), GNUPGHOME: this.home },
      input,
      encoding: "utf8",
    });
    return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  }
  file(name: string, text: string): string {
    const p = join(this.home, name);
    writeFileSync(p, text);
    return p;
  }
  /** Imports armored keys; asserts gpg accepted them. */
  import(armored: string, passphrase = "") {
    const r = this.run(["--passphrase", passphrase, "--import", this.file("k.asc", armored)]);
    assert.equal(r.status, 0, r.stderr);
  }
  /** `gpg --verify` of a clear-signed text: the exit status (0 good, 1 bad, 2 no key). */
  verify(doc: string): number {
    return this.run(["--verify", this.file("doc.sig", doc)]).status;
  }
  clearsign(text: string, fpr: string, passphrase = ""): string {
    const f = this.file("doc.txt", text);
    const r = this.run([
      "--passphrase",
      passphrase,
      "--local-user",
      fpr,
      "--armor",
      "--clearsign",
      "--output",
      "-",
      f,
    ]);
    assert.equal(r.status, 0, r.stderr);
    return r.stdout;
  }
}

const JSON_TEXT = '{\n"version":3,\n"data":[\n-1,\n"- dash"\n]\n}\n';

function tamper(doc: string): string {
  const t = doc.replace('"version":3', '"version":4');
  assert.notEqual(t, doc);
  return t;
}

for (const type of ["ed25519", "rsa4096"] as KeyType[]) {
  Deno.test({
    name: `${type} keys we create: GnuPG imports them, verifies our clear signatures, ` +
      `and we verify GnuPG's`,
    ignore: !HAVE_GPG,
    fn: async () => {
      const key = await createKey({ name: "Spackle Test", email: "test@example.invalid", type });
      assert.match(key.fingerprint, /^[0-9A-F]{40}$/);
      await withGpg(async (g) => {
        g.import(key.secretKeyArmored);
        const listed = g.run(["--with-colons", "--list-secret-keys"]).stdout;
        assert.ok(listed.includes(`fpr:::::::::${key.fingerprint}:`), listed);
        // ours -> gpg
        const signer = await signerFromArmored(key.secretKeyArmored);
        assert.equal(signer.fingerprint, key.fingerprint);
        const doc = await signer.clearsign(JSON_TEXT);
        assert.ok(!doc.includes("\r"), "CRLF in the signed document");
        assert.ok(doc.includes("\n- -1,\n"), "dash-escaping missing");
        assert.equal(g.verify(doc), 0);
        assert.equal(g.verify(tamper(doc)), 1);
        // gpg -> ours
        const theirs = g.clearsign(JSON_TEXT, key.fingerprint);
        const v = new KeyringVerifier([key.publicKeyArmored]);
        const r = await v.verify(theirs, "gpg-signed");
        assert.equal(r.fingerprint, key.fingerprint);
        assert.deepEqual(JSON.parse(r.body), JSON.parse(JSON_TEXT));
        assert.deepEqual(JSON.parse((await v.verify(doc, "ours")).body), JSON.parse(JSON_TEXT));
        await rejects(v.verify(tamper(theirs), "gpg-tampered"), "Bad signature");
      });
    },
  });
}

Deno.test({
  name: "the fixture secret key (made by GnuPG for Spack) signs documents GnuPG verifies",
  ignore: !HAVE_GPG || !HAVE_FIXTURES,
  fn: async () => {
    const sec = readFileSync(fixture("keys/oracle-test.sec.asc"), "utf8");
    const signer = await signerFromArmored(sec);
    assert.equal(signer.fingerprint, FPR());
    const doc = await signer.clearsign(JSON_TEXT);
    await withGpg(async (g) => {
      g.import(PUB());
      assert.equal(g.verify(doc), 0);
      assert.equal(g.verify(tamper(doc)), 1);
    });
    const other = await createKey({ name: "Other", email: "o@example.invalid" });
    await withGpg(async (g) => {
      g.import(other.publicKeyArmored);
      assert.equal(g.verify(doc), 2); // signer's key unknown to gpg
    });
  },
});

Deno.test({
  name: "a passphrase-protected key: GnuPG imports it with the passphrase; we sign only with it",
  ignore: !HAVE_GPG,
  fn: async () => {
    const key = await createKey({
      name: "Locked",
      email: "locked@example.invalid",
      passphrase: "correct horse",
    });
    assert.ok(key.secretKeyArmored.includes("PRIVATE KEY BLOCK"));
    await assert.rejects(signerFromArmored(key.secretKeyArmored), /protected by a passphrase/);
    await assert.rejects(
      signerFromArmored(key.secretKeyArmored, "wrong"),
      (e) => e instanceof SignatureError && e.message.includes(key.fingerprint),
    );
    const signer = await signerFromArmored(key.secretKeyArmored, "correct horse");
    const doc = await signer.clearsign(JSON_TEXT);
    await withGpg(async (g) => {
      g.import(key.secretKeyArmored, "correct horse");
      assert.equal(g.verify(doc), 0);
      const theirs = g.clearsign(JSON_TEXT, key.fingerprint, "correct horse");
      const r = await new KeyringVerifier([key.publicKeyArmored]).verify(theirs);
      assert.equal(r.fingerprint, key.fingerprint);
    });
  },
});

Deno.test({
  name: "a key made by GnuPG that signs with a subkey: we verify its signatures as the primary key",
  ignore: !HAVE_GPG,
  fn: async () => {
    await withGpg(async (g) => {
      let r = g.run([
        "--passphrase",
        "",
        "--quick-gen-key",
        "GnuPG Made <gpg@example.invalid>",
        "ed25519",
        "cert",
        "never",
      ]);
      assert.equal(r.status, 0, r.stderr);
      const colons = g.run(["--with-colons", "--list-keys"]).stdout;
      const fpr = /^fpr:::::::::([0-9A-F]{40}):/m.exec(colons)![1];
      r = g.run(["--passphrase", "", "--quick-add-key", fpr, "ed25519", "sign", "never"]);
      assert.equal(r.status, 0, r.stderr);
      const pub = g.run(["--armor", "--export", fpr]).stdout;
      const dir = await Deno.makeTempDir();
      try {
        const kr = Keyring.open(dir);
        assert.deepEqual(await kr.trust(pub), [fpr]);
        const [info] = await kr.list();
        assert.deepEqual(info.userIds, ["GnuPG Made <gpg@example.invalid>"]);
        const doc = g.clearsign(JSON_TEXT, fpr);
        const openpgp = await import("openpgp");
        const msg = await openpgp.readCleartextMessage({ cleartextMessage: doc });
        const issuers = msg.getSigningKeyIDs().map((id) => id.toHex().toUpperCase());
        assert.equal(issuers.length, 1);
        assert.notEqual(issuers[0], fpr.slice(-16), "gpg signed with the primary key");
        const v = await KeyringVerifier.fromKeyring(kr);
        const res = await v.verify(doc, "subkey-signed");
        assert.equal(res.fingerprint, fpr);
        await rejects(v.verify(tamper(doc), "subkey-tampered"), "Bad signature");
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });
  },
});
