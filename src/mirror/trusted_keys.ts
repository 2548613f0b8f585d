/**
 * A signature verifier over a given list of armored public keys, for checks where the keys
 * are named on the command line (`spackle verify --key FILE`) rather than taken from the
 * keyring.
 *
 * @module
 */
import { SignatureError, UsageError } from "../errors.ts";
import type { Verifier } from "../sign/types.ts";
import type { Key } from "openpgp";

/** A Verifier trusting exactly the keys in `armored` (each an armored public key block). */
export async function verifierFromKeys(armored: string[]): Promise<Verifier> {
  const openpgp = await import("openpgp");
  const keys: Key[] = [];
  for (const text of armored) {
    try {
      keys.push(...await openpgp.readKeys({ armoredKeys: text }));
    } catch (e) {
      throw new UsageError(`Cannot read a public key: ${(e as Error).message}`, { cause: e });
    }
  }
  if (!keys.length) throw new UsageError("No public key was given to verify signatures with");
  return {
    async verify(clearsigned: string, label = "document") {
      let res;
      try {
        const message = await openpgp.readCleartextMessage({ cleartextMessage: clearsigned });
        res = await openpgp.verify({ message, verificationKeys: keys });
      } catch (e) {
        throw new SignatureError(
          `Cannot verify the signature of "${label}": ${(e as Error).message}`,
          { cause: e },
        );
      }
      const sig = res.signatures[0];
      if (!sig) throw new SignatureError(`"${label}" carries no signature`);
      try {
        await sig.verified;
      } catch (e) {
        const msg = (e as Error).message;
        throw new SignatureError(
          /Could not find signing key/i.test(msg)
            ? `"${label}" is signed by key ${sig.keyID.toHex().toUpperCase()}, which is not trusted`
            : `Bad signature on "${label}": ${msg}`,
          { cause: e },
        );
      }
      const signer = keys.find((k) => k.getKeyIDs().some((id) => id.equals(sig.keyID)))!;
      return { body: res.data as string, fingerprint: signer.getFingerprint().toUpperCase() };
    },
  };
}
