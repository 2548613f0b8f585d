/**
 * The keyring: a directory of trusted armored public keys, one file `<FINGERPRINT>.asc` per
 * key, and optionally secret keys for signing in `secret/` (files mode 0600).
 *
 * Location: `--keyring DIR` > `SPACKLE_KEYRING` > `$XDG_CONFIG_HOME/spackle/keyring` >
 * `~/.config/spackle/keyring`.
 *
 * @module
 */
import { chmod, lstat, mkdir, open, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { constants } from "node:fs";
import { homedir } from "node:os";
import { basename, dirname, join } from "node:path";
import process from "node:process";
import type { Key, PrivateKey, PublicKey } from "openpgp";
import { errorMessage, InvalidDataError, NotFoundError, UsageError } from "../errors.ts";

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

/**
 * The armored key blocks of a text. GnuPG's revocation certificates (`openpgp-revocs.d/*.rev`)
 * are found too: their BEGIN line starts with a colon, against accidental imports.
 */
export function armoredKeyBlocks(armored: string, label = "key"): string[] {
  const blocks = armored.match(
    /^:?-----BEGIN PGP (PUBLIC|PRIVATE) KEY BLOCK-----[\s\S]*?-----END PGP \1 KEY BLOCK-----/gm,
  );
  if (!blocks) {
    throw new InvalidDataError(`Cannot read ${label}: no armored OpenPGP key block in it`);
  }
  return blocks.map((b) => b.replace(/^:/, ""));
}

/** Reads every key in an armored text (one or several blocks). */
export async function readArmoredKeys(armored: string, label = "key"): Promise<Key[]> {
  const openpgp = await loadOpenpgp();
  const keys: Key[] = [];
  for (const b of armoredKeyBlocks(armored, label)) {
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

  /**
   * The key files of `dir` (none when it does not exist), after checking that nobody else
   * could have put them there: the directory and each file must belong to the user (or to
   * root), the directory must not be writable by group or others, and no file may be a
   * symbolic link. Anything else is refused with a UsageError saying what to fix.
   */
  private async names(dir: string): Promise<string[]> {
    if (!(await checkSafeDir(dir))) return [];
    const names = (await readdir(dir)).filter((n) => FPR_FILE.test(n)).sort();
    for (const n of names) await checkSafeEntry(join(dir, n));
    return names;
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
   * unless `fromSecret` is set, in which case only its public part is stored. A key already
   * trusted is merged with the stored copy (openpgp's `Key.update`), so that its revocations
   * and newer self-signatures are never lost by trusting an older copy. A revocation
   * certificate (as GnuPG makes) is applied to the stored key it revokes.
   */
  async trust(armored: string, opts: { fromSecret?: boolean; label?: string } = {}): Promise<
    string[]
  > {
    const label = opts.label ?? "the key";
    const openpgp = await loadOpenpgp();
    const out: string[] = [];
    for (const block of armoredKeyBlocks(armored, label)) {
      let keys: Key[];
      try {
        keys = await openpgp.readKeys({ armoredKeys: block });
      } catch (e) {
        out.push(await this.applyRevocation(block, label, e));
        continue;
      }
      for (const key of keys) {
        const fpr = key.getFingerprint().toUpperCase();
        if (key.isPrivate() && !opts.fromSecret) {
          throw new UsageError(
            `${label} holds the secret key ${fpr}: trust only public keys ` +
              `(export the public part, for example with "gpg --export --armor ${fpr}")`,
          );
        }
        let pub: Key = key.isPrivate() ? key.toPublic() : key;
        await checkSelfSignatures(pub, label);
        if ((await this.fingerprints()).includes(fpr)) {
          const [stored] = await readArmoredKeys(
            await readFile(join(this.dir, `${fpr}.asc`), "utf8"),
            `the stored key ${fpr}`,
          );
          try {
            pub = await stored.update(pub as PublicKey);
          } catch (e) {
            throw new InvalidDataError(
              `Cannot merge ${label} with the stored key ${fpr}: ${errorMessage(e)}`,
              { cause: e },
            );
          }
        }
        await this.writeAtomic(this.dir, `${fpr}.asc`, toLf(pub.armor()), 0o644);
        out.push(fpr);
      }
    }
    return out;
  }

  /** Applies a revocation certificate to the trusted key it revokes; returns its fingerprint. */
  private async applyRevocation(block: string, label: string, why: unknown): Promise<string> {
    const openpgp = await loadOpenpgp();
    for (const fpr of await this.fingerprints()) {
      const [stored] = await readArmoredKeys(
        await readFile(join(this.dir, `${fpr}.asc`), "utf8"),
        `the stored key ${fpr}`,
      );
      let revoked: Key;
      try {
        revoked = (await openpgp.revokeKey({
          key: stored as PublicKey,
          revocationCertificate: block,
          format: "object",
        })).publicKey;
      } catch {
        continue; // not a revocation of this key
      }
      await this.writeAtomic(this.dir, `${fpr}.asc`, toLf(revoked.armor()), 0o644);
      return fpr;
    }
    throw new InvalidDataError(
      `Cannot read ${label}: ${errorMessage(why)} (nor is it a revocation certificate ` +
        `of a key in the keyring "${this.dir}")`,
      { cause: why },
    );
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
    await makePrivateDir(this.dir);
    await makePrivateDir(this.secretDir);
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
    await makePrivateDir(this.dir);
    if (dir !== this.dir) await makePrivateDir(dir);
    await checkSafeDir(dir);
    await writeNewFile(join(dir, name), text, { mode, replace: true });
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
 * Creates `dir` (and its parents) when missing, the directory itself mode 0700 whatever the
 * umask.
 */
async function makePrivateDir(dir: string): Promise<void> {
  try {
    await stat(dir);
    return;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
}

/** The owner and mode rules of the keyring (POSIX only: no uid elsewhere). */
function foreignOwner(uid: number): boolean {
  const me = process.getuid?.();
  return me !== undefined && uid !== me && uid !== 0;
}

/** False when `dir` does not exist; UsageError when it is not safe to take keys from. */
async function checkSafeDir(dir: string): Promise<boolean> {
  let st;
  try {
    st = await stat(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw e;
  }
  if (!st.isDirectory()) throw new UsageError(`The keyring "${dir}" is not a directory`);
  if (process.getuid === undefined) return true;
  if (foreignOwner(st.uid)) {
    throw new UsageError(
      `Refusing the keyring "${dir}": it belongs to user ${st.uid}, not to you ` +
        `(${process.getuid()}), so its keys are not yours to trust`,
    );
  }
  if (st.mode & 0o022) {
    throw new UsageError(
      `Refusing the keyring "${dir}": unsafe permissions (mode ${
        (st.mode & 0o777).toString(8)
      }), others can put keys in it; fix with "chmod go-w '${dir}'"`,
    );
  }
  return true;
}

/** UsageError unless `path` is a regular file (not a symbolic link) owned by the user or root. */
async function checkSafeEntry(path: string): Promise<void> {
  const st = await lstat(path);
  if (st.isSymbolicLink()) {
    throw new UsageError(
      `Refusing the keyring entry "${path}": it is a symbolic link (copy the key in with ` +
        `"spackle keys trust FILE")`,
    );
  }
  if (!st.isFile()) throw new UsageError(`Refusing the keyring entry "${path}": not a file`);
  if (foreignOwner(st.uid)) {
    throw new UsageError(
      `Refusing the keyring entry "${path}": it belongs to user ${st.uid}, not to you ` +
        `(${process.getuid?.()}); remove it, or trust the key yourself`,
    );
  }
}

/**
 * Writes `text` to a new file `path` with `mode` from the first byte: exclusive create, which
 * follows no symbolic link (an existing file or link is a UsageError). With `replace`, the
 * text goes to a new temporary file beside it that is then renamed over `path` (which
 * replaces a link itself, never its target).
 */
export async function writeNewFile(
  path: string,
  text: string,
  opts: { mode: number; replace?: boolean },
): Promise<void> {
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL |
    (constants.O_NOFOLLOW ?? 0);
  const target = opts.replace
    ? join(dirname(path), `.${basename(path)}.${process.pid}.${randomSuffix()}.tmp`)
    : path;
  let fh;
  try {
    fh = await open(target, flags, opts.mode);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") {
      throw new UsageError(
        `Cannot write "${path}": it already exists (a file or a link); ` +
          `remove it or give --force to replace it`,
      );
    }
    throw e;
  }
  try {
    await fh.chmod(opts.mode); // the umask cannot widen it, but may narrow it
    await fh.writeFile(text);
    await fh.close();
    if (opts.replace) await rename(target, path);
  } catch (e) {
    await fh.close().catch(() => {});
    await rm(target, { force: true });
    throw e;
  }
}

function randomSuffix(): string {
  return Math.random().toString(36).slice(2, 10);
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
