/**
 * The keyring: a directory of trusted armored public keys, one file `<FINGERPRINT>.asc` per
 * key, and optionally secret keys for signing in `secret/` (files mode 0600).
 *
 * Location: `--keyring DIR` > `SPACKLE_KEYRING` > `$XDG_CONFIG_HOME/spackle/keyring` >
 * `~/.config/spackle/keyring`.
 *
 * @module
 */
import { chmod, mkdir, readdir, readFile, rm, stat } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import type { Key, PrivateKey } from "openpgp";
import { errorMessage, InvalidDataError, NotFoundError, UsageError } from "../errors.ts";
import { writeFileAtomic } from "../core/atomic_file.ts";

/** What `Keyring.list()` reports about one key. */
export interface KeyInfo {
  /** 40 uppercase hex digits. */
  fingerprint: string;
  /** The last 16 hex digits of the fingerprint. */
  keyId: string;
  userIds: string[];
  /** For example `rsa4096`, `ed25519`. */
  algorithm: string;
  /** ISO 8601. */
  created: string;
  /** ISO 8601, or null when the key never expires. */
  expires: string | null;
  revoked: boolean;
  /** True when the keyring also holds the secret key. */
  secret: boolean;
}

/** The keyring directory: `flag`, else `SPACKLE_KEYRING`, else the per-user location. */
export function defaultKeyringDir(flag?: string): string {
  if (flag) return flag;
  const env = process.env.SPACKLE_KEYRING;
  if (env) return env;
  const xdg = process.env.XDG_CONFIG_HOME;
  return join(xdg ? xdg : join(homedir(), ".config"), "spackle", "keyring");
}

const FPR_FILE = /^([0-9A-F]{40})\.asc$/;

/** Loads openpgp on first use (it costs about 80 ms). */
export function loadOpenpgp(): Promise<typeof import("openpgp")> {
  return import("openpgp");
}

/** Reads every key in an armored text (one or several blocks). */
export async function readArmoredKeys(armored: string, label = "key"): Promise<Key[]> {
  const openpgp = await loadOpenpgp();
  const blocks = armored.match(
    /-----BEGIN PGP (PUBLIC|PRIVATE) KEY BLOCK-----[\s\S]*?-----END PGP \1 KEY BLOCK-----/g,
  );
  if (!blocks) {
    throw new InvalidDataError(`Cannot read ${label}: no armored OpenPGP key block in it`);
  }
  const keys: Key[] = [];
  for (const b of blocks) {
    try {
      keys.push(...await openpgp.readKeys({ armoredKeys: b }));
    } catch (e) {
      throw new InvalidDataError(`Cannot read ${label}: ${errorMessage(e)}`, { cause: e });
    }
  }
  return keys;
}

/** Facts about one key (expiry as openpgp computes it from the self-signatures). */
export async function keyInfo(key: Key, secret = false): Promise<KeyInfo> {
  const fingerprint = key.getFingerprint().toUpperCase();
  const algo = key.getAlgorithmInfo() as { algorithm: string; bits?: number; curve?: string };
  let algorithm = algo.algorithm;
  if (algo.bits) algorithm = `${algorithm.replace(/Encrypt|Sign/g, "")}${algo.bits}`;
  if (algo.curve) algorithm = String(algo.curve).replace(/Legacy$/, "");
  if (algo.algorithm === "eddsaLegacy" || algo.algorithm === "ed25519") algorithm = "ed25519";
  let expires: string | null = null;
  try {
    const t = await key.getExpirationTime();
    if (t instanceof Date && Number.isFinite(t.getTime())) expires = t.toISOString();
  } catch {
    expires = null;
  }
  let revoked = false;
  try {
    revoked = await key.isRevoked();
  } catch {
    revoked = false;
  }
  return {
    fingerprint,
    keyId: fingerprint.slice(-16),
    userIds: key.getUserIDs(),
    algorithm,
    created: key.getCreationTime().toISOString(),
    expires,
    revoked,
    secret,
  };
}

/** Normalises a fingerprint or key-id argument (spaces, `0x`, case). */
export function normaliseFingerprint(s: string): string {
  const t = s.replace(/\s+/g, "").replace(/^0x/i, "").toUpperCase();
  if (!/^[0-9A-F]{8,40}$/.test(t)) {
    throw new UsageError(
      `"${s}" is not a key fingerprint or key id (8 to 40 hexadecimal digits expected)`,
    );
  }
  return t;
}

/** The trust store. */
export class Keyring {
  private constructor(readonly dir: string) {}

  /** Opens the keyring in `dir` (default: `defaultKeyringDir()`); nothing is created yet. */
  static open(dir?: string): Keyring {
    return new Keyring(dir ?? defaultKeyringDir());
  }

  private get secretDir(): string {
    return join(this.dir, "secret");
  }

  private async names(dir: string): Promise<string[]> {
    try {
      return (await readdir(dir)).filter((n) => FPR_FILE.test(n)).sort();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw e;
    }
  }

  /** Fingerprints of the trusted public keys. */
  async fingerprints(): Promise<string[]> {
    return (await this.names(this.dir)).map((n) => n.slice(0, 40));
  }

  /** Fingerprints of the secret keys held. */
  async secretFingerprints(): Promise<string[]> {
    return (await this.names(this.secretDir)).map((n) => n.slice(0, 40));
  }

  /** The armored trusted public keys, one per fingerprint. */
  async publicKeys(): Promise<string[]> {
    const out: string[] = [];
    for (const n of await this.names(this.dir)) {
      out.push(await readFile(join(this.dir, n), "utf8"));
    }
    return out;
  }

  /** The armored public key of `fingerprint` (a unique suffix works too). */
  async publicKey(fingerprint: string): Promise<string> {
    const fpr = await this.resolve(fingerprint, await this.fingerprints(), "trusted key");
    return await readFile(join(this.dir, `${fpr}.asc`), "utf8");
  }

  /** The armored secret key of `fingerprint` (a unique suffix works too). */
  async secretKey(fingerprint: string): Promise<string> {
    const fpr = await this.resolve(fingerprint, await this.secretFingerprints(), "secret key");
    return await readFile(join(this.secretDir, `${fpr}.asc`), "utf8");
  }

  /**
   * Trusts the public keys in `armored` and returns their fingerprints. A secret key is refused
   * unless `fromSecret` is set, in which case only its public part is stored.
   */
  async trust(armored: string, opts: { fromSecret?: boolean; label?: string } = {}): Promise<
    string[]
  > {
    const label = opts.label ?? "the key";
    const keys = await readArmoredKeys(armored, label);
    const out: string[] = [];
    for (const key of keys) {
      const fpr = key.getFingerprint().toUpperCase();
      if (key.isPrivate() && !opts.fromSecret) {
        throw new UsageError(
          `${label} holds the secret key ${fpr}: trust only public keys ` +
            `(export the public part, for example with "gpg --export --armor ${fpr}")`,
        );
      }
      const pub = key.isPrivate() ? key.toPublic() : key;
      await checkSelfSignatures(pub, label);
      await this.writeAtomic(this.dir, `${fpr}.asc`, toLf(pub.armor()), 0o644);
      out.push(fpr);
    }
    return out;
  }

  /**
   * Stores a secret key (mode 0600, in `secret/`) and trusts its public part; returns the
   * fingerprint. The key is stored as given (protected by its passphrase if it has one).
   */
  async addSecret(armoredSecret: string): Promise<string> {
    const keys = await readArmoredKeys(armoredSecret, "the secret key");
    if (keys.length !== 1 || !keys[0].isPrivate()) {
      throw new UsageError("Expected exactly one secret key block");
    }
    const key = keys[0] as PrivateKey;
    const fpr = key.getFingerprint().toUpperCase();
    await mkdir(this.secretDir, { recursive: true, mode: 0o700 });
    await chmod(this.secretDir, 0o700);
    await this.writeAtomic(this.secretDir, `${fpr}.asc`, toLf(key.armor()), 0o600);
    await this.trust(key.toPublic().armor());
    return fpr;
  }

  /**
   * Stops trusting the key named by a fingerprint or a unique suffix of one (key id); removes
   * its secret key too when `secret` is set. Returns the full fingerprint.
   */
  async untrust(fingerprintOrSuffix: string, opts: { secret?: boolean } = {}): Promise<string> {
    const fpr = await this.resolve(fingerprintOrSuffix, await this.fingerprints(), "trusted key");
    if (!opts.secret && (await this.secretFingerprints()).includes(fpr)) {
      throw new UsageError(
        `The keyring also holds the secret key ${fpr}: remove it with --secret, ` +
          `or export it first`,
      );
    }
    await rm(join(this.dir, `${fpr}.asc`));
    if (opts.secret) await rm(join(this.secretDir, `${fpr}.asc`), { force: true });
    return fpr;
  }

  /** The trusted keys, with user ids, algorithm, creation and expiry. */
  async list(): Promise<KeyInfo[]> {
    const secrets = new Set(await this.secretFingerprints());
    const out: KeyInfo[] = [];
    for (const n of await this.names(this.dir)) {
      const text = await readFile(join(this.dir, n), "utf8");
      for (const key of await readArmoredKeys(text, `"${join(this.dir, n)}"`)) {
        const info = await keyInfo(key);
        info.secret = secrets.has(info.fingerprint);
        out.push(info);
      }
    }
    return out;
  }

  private async resolve(query: string, fprs: string[], what: string): Promise<string> {
    const q = normaliseFingerprint(query);
    const found = fprs.filter((f) => f.endsWith(q));
    if (found.length === 0) {
      throw new NotFoundError(`No ${what} "${query}" in the keyring "${this.dir}"`);
    }
    if (found.length > 1) {
      throw new UsageError(`"${query}" names several keys: ${found.join(", ")}`);
    }
    return found[0];
  }

  private async writeAtomic(dir: string, name: string, text: string, mode: number) {
    await writeFileAtomic(join(dir, name), text, { mode, exactMode: true });
  }

  /** True when the keyring directory exists. */
  async exists(): Promise<boolean> {
    try {
      return (await stat(this.dir)).isDirectory();
    } catch {
      return false;
    }
  }
}

/**
 * Refuses a key whose self-signatures do not verify (it could never verify anything); a
 * revoked or expired key is accepted here (verification refuses its signatures).
 */
async function checkSelfSignatures(key: Key, label: string): Promise<void> {
  try {
    await key.verifyPrimaryKey();
  } catch (e) {
    const revoked = await key.isRevoked().catch(() => false);
    const exp = await key.getExpirationTime().catch(() => null);
    const expired = exp instanceof Date && exp.getTime() <= Date.now();
    if (revoked || expired) return;
    throw new InvalidDataError(
      `Cannot trust key ${key.getFingerprint().toUpperCase()} of ${label}: ${errorMessage(e)}`,
      { cause: e },
    );
  }
}

function toLf(s: string): string {
  return s.replace(/\r\n/g, "\n");
}
