/**
 * Keys crafted by GnuPG, one per way a key can stop being good: spackle's verdict on each
 * signature must be GnuPG 2.2's (only a plain good signature is accepted), whether the key is
 * trusted through the keyring or given to `verify --key`; and a revocation, once trusted,
 * cannot be undone by trusting an older copy of the key.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Keyring } from "../src/sign/keyring.ts";
import { KeyringVerifier, type VerificationError } from "../src/sign/verify.ts";
import { SignatureError } from "../src/errors.ts";
import { verifierFromKeys } from "../src/mirror/trusted_keys.ts";
import type { Verifier } from "../src/sign/types.ts";
import { GpgHome, type GpgHome as Home, type GpgVerdict, gpgVerdict, HAVE_GPG } from "./_gpg.ts";

const NOW = Math.floor(Date.now() / 1000);
const T0 = NOW - 10 * 86400;
const TEXT = '{\n"version":3,\n"data":[]\n}\n';

const PROBLEM_VERDICT: Record<string, GpgVerdict> = {
  expired: "EXPKEYSIG",
  revoked: "REVKEYSIG",
  bad: "BADSIG",
  untrusted: "NO_PUBKEY",
};

/** What was wrong: the error's `problem`, else (an older verifier) read from its message. */
function problemOf(e: SignatureError): string {
  const p = (e as Partial<VerificationError>).problem;
  if (p) return p;
  return /revoked/.test(e.message)
    ? "revoked"
    : /expired/.test(e.message)
    ? "expired"
    : /not trusted/.test(e.message)
    ? "untrusted"
    : "bad";
}

/** spackle's verdict in GnuPG's terms, through a keyring holding `keys` (trusted in order). */
async function spackleVerdict(keys: string[], doc: string): Promise<GpgVerdict> {
  const dir = mkdtempSync(join(tmpdir(), "spackle-kr-"));
  try {
    const kr = Keyring.open(join(dir, "keyring"));
    for (const k of keys) await kr.trust(k);
    const verifiers: Verifier[] = [await KeyringVerifier.fromKeyring(kr)];
    // `verify --key` takes the same keys (as stored, revocations applied) and must agree.
    const stored = await kr.publicKeys();
    if (stored.length) verifiers.push(await verifierFromKeys(stored));
    const verdicts = new Set<GpgVerdict>();
    for (const v of verifiers) {
      try {
        await v.verify(doc, "doc");
        verdicts.add("GOODSIG");
      } catch (e) {
        if (!(e instanceof SignatureError)) throw e;
        verdicts.add(PROBLEM_VERDICT[problemOf(e)] ?? "OTHER");
      }
    }
    assert.equal(verdicts.size, 1, `the keyring and --key disagree: ${[...verdicts]}`);
    return [...verdicts][0];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface Case {
  name: string;
  keys: string[];
  doc: string;
}

function cases(g: Home): Case[] {
  const out: Case[] = [];
  const key = (uid: string, opts: Parameters<Home["createKey"]>[1]) => g.createKey(uid, opts);
  const good = key("Good <good@example.invalid>", { time: T0 });
  out.push({
    name: "valid signing subkey",
    keys: [g.exportPublic(good)],
    doc: g.clearsign(TEXT, good, T0 + 3600),
  });
  out.push({
    name: "tampered text",
    keys: [g.exportPublic(good)],
    doc: g.clearsign(TEXT, good, T0 + 3600).replace('"version":3', '"version":4'),
  });
  out.push({ name: "key not given", keys: [], doc: g.clearsign(TEXT, good, T0 + 3600) });
  const exp = key("Expired Sub <exp@example.invalid>", { time: T0, subExpire: "1d" });
  out.push({
    name: "signing subkey expired since",
    keys: [g.exportPublic(exp)],
    doc: g.clearsign(TEXT, exp, T0 + 3600),
  });
  for (
    const [reason, what] of [
      [0, "no reason (hard)"],
      [2, "compromised (hard)"],
      [1, "superseded (soft)"],
      [3, "retired (soft)"],
    ] as const
  ) {
    const fpr = key(`Revoked ${reason} <rev${reason}@example.invalid>`, { time: T0 });
    const doc = g.clearsign(TEXT, fpr, T0 + 3600);
    g.revokeSubkey(fpr, reason);
    out.push({ name: `signing subkey revoked since, ${what}`, keys: [g.exportPublic(fpr)], doc });
  }
  const pexp = key("Expired Primary <pexp@example.invalid>", {
    time: T0,
    noSubkey: true,
    primaryExpire: "1d",
  });
  out.push({
    name: "primary key (signing) expired since",
    keys: [g.exportPublic(pexp)],
    doc: g.clearsign(TEXT, pexp, T0 + 3600),
  });
  const prev = key("Revoked Primary <prev@example.invalid>", { time: T0 });
  out.push({
    name: "primary key revoked by its revocation certificate",
    keys: [g.exportPublic(prev), g.revocationCertificate(prev)],
    doc: g.clearsign(TEXT, prev, T0 + 3600),
  });
  return out;
}

Deno.test({
  name: "on every crafted key case spackle's verdict is GnuPG 2.2's, and only GOODSIG is accepted",
  ignore: !HAVE_GPG,
  async fn() {
    const g = new GpgHome();
    try {
      const rows: string[] = [];
      for (const c of cases(g)) {
        const ref = gpgVerdict(c.keys, c.doc);
        const ours = await spackleVerdict(c.keys, c.doc);
        rows.push(`${c.name}: gpg ${ref.verdict} (exit ${ref.status}), spackle ${ours}`);
        assert.equal(ours, ref.verdict, `${c.name}: spackle says ${ours}, GnuPG ${ref.verdict}`);
      }
      console.log(rows.join("\n"));
    } finally {
      g.close();
    }
  },
});

Deno.test({
  name: "a revoked key stays revoked, a later expiry stays later: trusting an older copy merges",
  ignore: !HAVE_GPG,
  async fn() {
    const g = new GpgHome();
    const dir = mkdtempSync(join(tmpdir(), "spackle-kr-"));
    try {
      const fpr = g.createKey("Merge <merge@example.invalid>", { time: T0 });
      const doc = g.clearsign(TEXT, fpr, T0 + 3600);
      const pub = g.exportPublic(fpr);
      const kr = Keyring.open(dir);
      assert.deepEqual(await kr.trust(pub), [fpr]);
      assert.equal((await kr.list())[0].revoked, false);
      // The revocation certificate, as GnuPG wrote it (with its leading colon).
      assert.deepEqual(await kr.trust(g.revocationCertificate(fpr)), [fpr]);
      assert.equal((await kr.list())[0].revoked, true);
      // The copy without the revocation (from a mirror, say) does not un-revoke it.
      assert.deepEqual(await kr.trust(pub), [fpr]);
      assert.equal((await kr.list())[0].revoked, true);
      const v = await KeyringVerifier.fromKeyring(kr);
      await assert.rejects(v.verify(doc, "doc"), /which is revoked/);
      // A newer self-signature (an expiry moved later) survives trusting the older copy.
      const ext = g.createKey("Extended <ext@example.invalid>", {
        time: T0,
        noSubkey: true,
        primaryExpire: "1y",
      });
      const older = g.exportPublic(ext);
      g.ok(["--quick-set-expire", ext, "3y"]);
      await kr.trust(g.exportPublic(ext));
      const later = (await kr.list()).find((k) => k.fingerprint === ext)!.expires!;
      await kr.trust(older);
      assert.equal((await kr.list()).find((k) => k.fingerprint === ext)!.expires, later);
      assert.ok(Date.parse(later) > Date.now() + 2 * 365 * 86400_000, later);
      // A revocation certificate for a key the keyring does not hold is refused, named.
      const other = g.createKey("Other <other@example.invalid>", { time: T0 });
      await assert.rejects(
        kr.trust(g.revocationCertificate(other), { label: '"other.rev"' }),
        /"other\.rev".*nor is it a revocation certificate of a key in the keyring/,
      );
    } finally {
      g.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
});
