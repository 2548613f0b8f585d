/**
 * Signing contracts: verifying clear-signed text against a keyring of trusted keys, and
 * producing clear signatures Spack (GnuPG) verifies.
 *
 * @module
 */

/** Verifies clear-signed documents. */
export interface Verifier {
  /**
   * Checks the signature of `clearsigned` against the trusted keys and returns the signed
   * text and the signer's fingerprint (40 uppercase hex). Throws SignatureError when the
   * signature is bad or the key is not trusted; `label` names the document in errors.
   */
  verify(clearsigned: string, label?: string): Promise<{ body: string; fingerprint: string }>;
}

/** Produces clear signatures. */
export interface Signer {
  /** Fingerprint of the signing key (40 uppercase hex). */
  fingerprint: string;
  /** The armored public key, to publish to a mirror. */
  publicKeyArmored: string;
  /** `gpg --clearsign` equivalent, LF line endings. */
  clearsign(text: string): Promise<string>;
}
