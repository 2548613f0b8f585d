/**
 * Signatures: clearsign, OpenPGP verify and sign, the keyring of trusted keys.
 *
 * @module
 */
export type * from "./types.ts";
