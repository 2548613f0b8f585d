/**
 * Producing clear signatures GnuPG 2.2 (and so Spack) verifies, with an armored secret key or a
 * secret key held in the keyring. openpgp is loaded on first use.
 *
 * @module
 */
import type { PrivateKey } from "openpgp";
import { errorMessage, SignatureError, UsageError } from "../errors.ts";
import { type Keyring, loadOpenpgp, readArmoredKeys } from "./keyring.ts";
import type { Signer } from "./types.ts";

/** The environment variable holding the passphrase of a protected signing key. */
export const PASSPHRASE_ENV = "SPACKLE_SIGNING_PASSPHRASE";

/**
 * A Signer using the secret key in `armoredSecretKey`. A passphrase-protected key needs
 * `passphrase` (a UsageError says so when it is missing, a SignatureError when it is wrong).
 */
export async function signerFromArmored(
  armoredSecretKey: string,
  passphrase?: string,
  label = "the signing key",
): Promise<Signer> {
  const openpgp = await loadOpenpgp();
  const keys = await readArmoredKeys(armoredSecretKey, label);
  const secret = keys.filter((k) => k.isPrivate()) as PrivateKey[];
  if (secret.length === 0) {
    throw new UsageError(`${label} holds no secret key (a public key cannot sign)`);
  }
  if (secret.length > 1) {
    const fprs = secret.map((k) => k.getFingerprint().toUpperCase()).join(", ");
    throw new UsageError(`${label} holds several secret keys (${fprs}): give exactly one`);
  }
  let key = secret[0];
  const fingerprint = key.getFingerprint().toUpperCase();
  if (!key.isDecrypted()) {
    if (passphrase === undefined) {
      throw new UsageError(
        `The secret key ${fingerprint} is protected by a passphrase: set ${PASSPHRASE_ENV} ` +
          `or enter it when asked`,
      );
    }
    try {
      key = await openpgp.decryptKey({ privateKey: key, passphrase });
    } catch (e) {
      throw new SignatureError(
        `Cannot unlock the secret key ${fingerprint}: ${errorMessage(e)}`,
        { cause: e },
      );
    }
  }
  try {
    await key.getSigningKey();
  } catch (e) {
    throw new SignatureError(
      `The key ${fingerprint} cannot sign: ${errorMessage(e)}`,
      { cause: e },
    );
  }
  const publicKeyArmored = key.toPublic().armor().replace(/\r\n/g, "\n");
  return {
    fingerprint,
    publicKeyArmored,
    async clearsign(text: string): Promise<string> {
      // GnuPG does not sign the line break that ends the text; neither do we, so the output
      // has the same shape as `gpg --clearsign` (no blank line before the signature).
      const body = text.replace(/\r\n/g, "\n").replace(/\n$/, "");
      const message = await openpgp.createCleartextMessage({ text: body });
      let signed: string;
      try {
        signed = await openpgp.sign({ message, signingKeys: key, format: "armored" });
      } catch (e) {
        throw new SignatureError(`Cannot sign with key ${fingerprint}: ${errorMessage(e)}`, {
          cause: e,
        });
      }
      return signed.replace(/\r\n/g, "\n");
    },
  };
}

/**
 * A Signer using a secret key held in `keyring`: the one named by `fingerprint` (a unique
 * suffix works), else the only one (zero or several secret keys is a UsageError, as in Spack).
 */
export async function signerFromKeyring(
  keyring: Keyring,
  fingerprint?: string,
  passphrase?: string,
): Promise<Signer> {
  let fpr = fingerprint;
  if (fpr === undefined) {
    const all = await keyring.secretFingerprints();
    if (all.length === 0) {
      throw new UsageError(
        `The keyring "${keyring.dir}" holds no secret key: create one with "spackle keys create" ` +
          `or give a key file`,
      );
    }
    if (all.length > 1) {
      throw new UsageError(
        `The keyring "${keyring.dir}" holds several secret keys (${all.join(", ")}): name one`,
      );
    }
    fpr = all[0];
  }
  return await signerFromArmored(await keyring.secretKey(fpr), passphrase, `secret key ${fpr}`);
}

/** True when the armored secret key is protected by a passphrase. */
export async function needsPassphrase(armoredSecretKey: string): Promise<boolean> {
  const keys = await readArmoredKeys(armoredSecretKey, "the signing key");
  return keys.some((k) => k.isPrivate() && !(k as PrivateKey).isDecrypted());
}
