/**
 * A signature verifier over a given list of armored public keys, for checks where the keys
 * are named on the command line (`spackle verify --key FILE`) rather than taken from the
 * keyring. It is the keyring's verifier (the same verdicts as install: revoked and expired
 * keys and subkeys refused) over these keys.
 *
 * @module
 */
import { errorMessage, UsageError } from "../errors.ts";
import { readArmoredKeys } from "../sign/keyring.ts";
import type { Verifier } from "../sign/types.ts";
import { KeyringVerifier } from "../sign/verify.ts";

/** A Verifier trusting exactly the keys in `armored` (each an armored public key block). */
export async function verifierFromKeys(armored: string[]): Promise<Verifier> {
  let count = 0;
  for (const [i, text] of armored.entries()) {
    try {
      count += (await readArmoredKeys(text, `public key #${i + 1}`)).length;
    } catch (e) {
      throw new UsageError(`Cannot read a public key: ${errorMessage(e)}`, { cause: e });
    }
  }
  if (!count) throw new UsageError("No public key was given to verify signatures with");
  return new KeyringVerifier(armored, { source: "the keys given" });
}
