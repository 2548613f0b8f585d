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
import type { Key } from "openpgp";
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
      throw new SignatureError(`"${label}" is not signed (no clear-signed message)`);
    }
    const openpgp = await loadOpenpgp();
    let message;
    try {
      message = await openpgp.readCleartextMessage({ cleartextMessage: clearsigned });
    } catch (e) {
      throw new SignatureError(
        `Cannot read the signature of "${label}": ${errorMessage(e)}`,
        { cause: e },
      );
    }
    const ids = message.getSigningKeyIDs();
    if (ids.length === 0) throw new SignatureError(`"${label}" carries no signature`);
    const keys = await this.trusted();
    const key = keys.find((k) => ids.some((id) => k.getKeyIDs().some((kid) => kid.equals(id))));
    if (!key) {
      const names = ids.map((id) => id.toHex().toUpperCase()).join(", ");
      const where = this.opts.source ?? "the trusted keys";
      throw new SignatureError(
        `"${label}" is signed by key ${names}, which is not trusted (not in ${where}; ` +
          `trust it with "spackle keys trust FILE" or "spackle keys fetch --trust")`,
      );
    }
    const fingerprint = key.getFingerprint().toUpperCase();
    if (await key.isRevoked()) {
      throw new SignatureError(`"${label}" is signed by key ${fingerprint}, which is revoked`);
    }
    const now = this.opts.now ?? new Date();
    const exp = await key.getExpirationTime().catch(() => null);
    if (exp instanceof Date && Number.isFinite(exp.getTime()) && exp.getTime() <= now.getTime()) {
      throw new SignatureError(
        `"${label}" is signed by key ${fingerprint}, which expired on ${exp.toISOString()}`,
      );
    }
    let result;
    try {
      result = await openpgp.verify({ message, verificationKeys: [key], expectSigned: false });
    } catch (e) {
      throw new SignatureError(`Bad signature on "${label}": ${errorMessage(e)}`, { cause: e });
    }
    const sig = result.signatures.find((s) => key.getKeyIDs().some((kid) => kid.equals(s.keyID)));
    if (!sig) throw new SignatureError(`"${label}" carries no signature by ${fingerprint}`);
    try {
      await sig.verified;
    } catch (e) {
      throw new SignatureError(
        `Bad signature on "${label}" (key ${fingerprint}): ${errorMessage(e)}`,
        { cause: e },
      );
    }
    return { body: String(result.data).replace(/\r\n/g, "\n"), fingerprint };
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
