/**
 * Verifying clear-signed documents against trusted public keys. openpgp is loaded on the first
 * verification, never at import.
 *
 * Refused, with a SignatureError naming the document: a document that is not clear-signed, a
 * signature by a key that is not trusted (named by key id), a bad signature, and a signature by
 * a trusted key that is revoked or expired.
 *
 * @module
 */
import type { Key, Subkey } from "openpgp";
import { errorMessage, SignatureError } from "../errors.ts";
import { isClearsigned } from "./clearsign.ts";
import { Keyring, loadOpenpgp, readArmoredKeys } from "./keyring.ts";
import type { Verifier } from "./types.ts";

/** Options of `KeyringVerifier`. */
export interface KeyringVerifierOptions {
  /** The time at which expiry is judged (default: now). */
  now?: Date;
  /** Where the keys come from, for error messages (for example the keyring directory). */
  source?: string;
}

/** A Verifier over a fixed set of trusted public keys. */
export class KeyringVerifier implements Verifier {
  private keys: Promise<Key[]> | undefined;

  /**
   * `armored` holds the trusted public keys (one armored block per entry, or several blocks
   * in one entry). They are parsed on the first `verify`.
   */
  constructor(private armored: string[], private opts: KeyringVerifierOptions = {}) {}

  /** A verifier trusting the keys of `keyring` (read now), plus `extra` armored keys. */
  static async fromKeyring(keyring: Keyring, extra: string[] = []): Promise<KeyringVerifier> {
    return new KeyringVerifier([...await keyring.publicKeys(), ...extra], {
      source: `the keyring "${keyring.dir}"`,
    });
  }

  /** The fingerprints of the trusted keys. */
  async fingerprints(): Promise<string[]> {
    return (await this.trusted()).map((k) => k.getFingerprint().toUpperCase());
  }

  private trusted(): Promise<Key[]> {
    this.keys ??= (async () => {
      const out: Key[] = [];
      for (const [i, a] of this.armored.entries()) {
        for (const k of await readArmoredKeys(a, `trusted key #${i + 1}`)) {
          out.push(k.isPrivate() ? k.toPublic() : k);
        }
      }
      return out;
    })();
    return this.keys;
  }

  /** See `Verifier.verify`. */
  async verify(
    clearsigned: string,
    label = "document",
  ): Promise<{ body: string; fingerprint: string }> {
    if (!isClearsigned(clearsigned)) {
      throw new VerificationError(
        "unsigned",
        `"${label}" is not signed (no clear-signed message)`,
      );
    }
    const openpgp = await loadOpenpgp();
    let message;
    try {
      message = await openpgp.readCleartextMessage({ cleartextMessage: clearsigned });
    } catch (e) {
      throw new VerificationError(
        "bad",
        `Cannot read the signature of "${label}": ${errorMessage(e)}`,
        { cause: e },
      );
    }
    const ids = message.getSigningKeyIDs();
    if (ids.length === 0) {
      throw new VerificationError("bad", `"${label}" carries no signature`);
    }
    const keys = await this.trusted();
    let key: Key | undefined;
    let signing: Key | Subkey | undefined;
    for (const k of keys) {
      for (const id of ids) signing ??= k.getKeys(id)[0];
      if (signing) {
        key = k;
        break;
      }
    }
    if (!key || !signing) {
      const names = ids.map((id) => id.toHex().toUpperCase()).join(", ");
      const where = this.opts.source ?? "the trusted keys";
      throw new VerificationError(
        "untrusted",
        `"${label}" is signed by key ${names}, which is not trusted (not in ${where}; ` +
          `trust it with "spackle keys trust FILE" or "spackle keys fetch --trust")`,
        { keyIds: ids.map((id) => id.toHex().toUpperCase()) },
      );
    }
    const fingerprint = key.getFingerprint().toUpperCase();
    const now = this.opts.now ?? new Date();
    await checkUsable(key, signing, label, now);
    let result;
    try {
      result = await openpgp.verify({ message, verificationKeys: [key], expectSigned: false });
    } catch (e) {
      throw new VerificationError("bad", `Bad signature on "${label}": ${errorMessage(e)}`, {
        cause: e,
      });
    }
    const signingId = signing.getKeyID();
    const sig = result.signatures.find((s) => s.keyID.equals(signingId));
    if (!sig) {
      throw new VerificationError("bad", `"${label}" carries no signature by ${fingerprint}`);
    }
    try {
      await sig.verified;
    } catch (e) {
      throw new VerificationError(
        "bad",
        `Bad signature on "${label}" (key ${fingerprint}): ${errorMessage(e)}`,
        { cause: e },
      );
    }
    return { body: String(result.data).replace(/\r\n/g, "\n"), fingerprint };
  }
}

/**
 * Refuses a signature by a revoked or expired key: the primary key's state, and when a subkey
 * made the signature, that subkey's own revocations (hard and soft alike, as GnuPG 2.2 does),
 * expiry and binding, all judged at `now`.
 */
async function checkUsable(key: Key, signing: Key | Subkey, label: string, now: Date) {
  const fingerprint = key.getFingerprint().toUpperCase();
  if (await key.isRevoked(undefined, undefined, now)) {
    throw new VerificationError(
      "revoked",
      `"${label}" is signed by key ${fingerprint}, which is revoked`,
    );
  }
  const exp = await key.getExpirationTime().catch(() => null);
  if (exp instanceof Date && Number.isFinite(exp.getTime()) && exp.getTime() <= now.getTime()) {
    throw new VerificationError(
      "expired",
      `"${label}" is signed by key ${fingerprint}, which expired on ${exp.toISOString()}`,
    );
  }
  if (signing === key) return;
  const sub = signing as Subkey;
  const subId = sub.getKeyID().toHex().toUpperCase();
  const what = `"${label}" is signed by subkey ${subId} of key ${fingerprint}`;
  // deno-lint-ignore no-explicit-any
  if (await sub.isRevoked(null as any, null as any, now).catch(() => false)) {
    throw new VerificationError("revoked", `${what}, which is revoked`);
  }
  // The expiry the newest binding signature gives (read with no date: an expired subkey's
  // binding is not "valid now", yet says when it expired).
  // deno-lint-ignore no-explicit-any
  const subExp = await sub.getExpirationTime(null as any).catch(() => null);
  if (
    subExp instanceof Date && Number.isFinite(subExp.getTime()) &&
    subExp.getTime() <= now.getTime()
  ) {
    throw new VerificationError("expired", `${what}, which expired on ${subExp.toISOString()}`);
  }
  try {
    await sub.verify(now);
  } catch (e) {
    throw new VerificationError("bad", `${what}, which is not usable: ${errorMessage(e)}`, {
      cause: e,
    });
  }
}

/** What is wrong with a signature that was refused. */
export type SignatureProblem = "unsigned" | "untrusted" | "bad" | "revoked" | "expired";

/**
 * A SignatureError that says what was wrong: only `untrusted` (a key not in the keyring) and
 * `unsigned` can ever be admitted (`--allow-unsigned`); the others are never accepted.
 */
export class VerificationError extends SignatureError {
  /** Key ids of the signer, for `untrusted`. */
  readonly keyIds: string[];
  constructor(
    readonly problem: SignatureProblem,
    message: string,
    opts: { cause?: unknown; keyIds?: string[] } = {},
  ) {
    super(message, { cause: opts.cause });
    this.keyIds = opts.keyIds ?? [];
  }
}

/** The key ids (16 uppercase hex) a clear-signed text names as its signers. */
export async function signerKeyIds(clearsigned: string, label = "document"): Promise<string[]> {
  const openpgp = await loadOpenpgp();
  try {
    const message = await openpgp.readCleartextMessage({ cleartextMessage: clearsigned });
    return message.getSigningKeyIDs().map((id) => id.toHex().toUpperCase());
  } catch (e) {
    throw new VerificationError(
      "bad",
      `Cannot read the signature of "${label}": ${errorMessage(e)}`,
      { cause: e },
    );
  }
}

/**
 * A Verifier trusting the keys of the keyring in `dir` (default location when omitted) plus
 * `extra` armored keys; the keyring is read on the first verification.
 */
export function keyringVerifier(dir?: string, extra: string[] = []): Verifier {
  let inner: Promise<KeyringVerifier> | undefined;
  return {
    async verify(clearsigned: string, label?: string) {
      inner ??= KeyringVerifier.fromKeyring(Keyring.open(dir), extra);
      return await (await inner).verify(clearsigned, label);
    },
  };
}
