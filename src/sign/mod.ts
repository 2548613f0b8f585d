/**
 * Signatures: clearsign, OpenPGP verify and sign, the keyring of trusted keys.
 *
 * openpgp is loaded only when a key or a signature is read, never by importing this barrel.
 *
 * @module
 */
export type * from "./types.ts";
export {
  type ClearsignedParts,
  clearsignedText,
  dashEscape,
  isClearsigned,
  SIGNATURE_HEAD,
  SIGNATURE_TAIL,
  SIGNED_MESSAGE_HEAD,
  splitClearsigned,
} from "./clearsign.ts";
export {
  defaultKeyringDir,
  type KeyInfo,
  keyInfo,
  Keyring,
  normaliseFingerprint,
  readArmoredKeys,
} from "./keyring.ts";
export {
  KeyringVerifier,
  keyringVerifier,
  type KeyringVerifierOptions,
  type SignatureProblem,
  signerKeyIds,
  VerificationError,
} from "./verify.ts";
export { needsPassphrase, PASSPHRASE_ENV, signerFromArmored, signerFromKeyring } from "./sign.ts";
export { type CreatedKey, createKey, type CreateKeyOptions, type KeyType } from "./keygen.ts";
