/**
 * Key generation for users without GnuPG: v4 keys GnuPG 2.2 imports (ed25519 on the legacy
 * EdDSA curve, or RSA 4096), sign-only like `spack gpg create`.
 *
 * @module
 */
import { errorMessage, UsageError } from "../errors.ts";
import { loadOpenpgp } from "./keyring.ts";

/** The key types `createKey` makes. */
export type KeyType = "ed25519" | "rsa4096";

/** Options of `createKey`. */
export interface CreateKeyOptions {
  name: string;
  email: string;
  /** Default `ed25519`. */
  type?: KeyType;
  /** Protect the secret key with this passphrase (default: unprotected, as `spack gpg create`). */
  passphrase?: string;
  /** Seconds until the key expires (default: never). */
  expiresIn?: number;
  /** Creation time (default: now). */
  date?: Date;
}

/** A new key pair. */
export interface CreatedKey {
  fingerprint: string;
  /** Armored secret key (LF line endings). */
  secretKeyArmored: string;
  /** Armored public key (LF line endings). */
  publicKeyArmored: string;
}

/** Creates a sign-only OpenPGP v4 key. */
export async function createKey(opts: CreateKeyOptions): Promise<CreatedKey> {
  const type = opts.type ?? "ed25519";
  if (type !== "ed25519" && type !== "rsa4096") {
    throw new UsageError(`Unknown key type "${type}": use "ed25519" or "rsa4096"`);
  }
  if (!opts.name.trim()) throw new UsageError("A key needs a name");
  if (!/^[^\s@<>]+@[^\s@<>]+$/.test(opts.email)) {
    throw new UsageError(`"${opts.email}" is not an email address`);
  }
  const openpgp = await loadOpenpgp();
  let res;
  try {
    res = await openpgp.generateKey({
      ...(type === "ed25519"
        ? { type: "ecc" as const, curve: "ed25519Legacy" as const }
        : { type: "rsa" as const, rsaBits: 4096 }),
      userIDs: [{ name: opts.name, email: opts.email }],
      passphrase: opts.passphrase,
      keyExpirationTime: opts.expiresIn ?? 0,
      date: opts.date,
      subkeys: [],
      format: "object",
      config: { v6Keys: false },
    });
  } catch (e) {
    throw new UsageError(`Cannot create the key: ${errorMessage(e)}`, { cause: e });
  }
  const lf = (s: string) => s.replace(/\r\n/g, "\n");
  return {
    fingerprint: res.privateKey.getFingerprint().toUpperCase(),
    secretKeyArmored: lf(res.privateKey.armor()),
    publicKeyArmored: lf(res.publicKey.armor()),
  };
}
