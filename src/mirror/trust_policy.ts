/**
 * Which keys a command trusts, and how trust is enforced:
 * - `trustedVerifier`: the keyring's keys plus key files (what `-k`/`--keyring` give).
 * - `copyTrust`: what sync and bundle admit.
 * - `publishedKeys`: the keys mirrors publish, and whether the keyring trusts them.
 *
 * @module
 */
import { readdirSync, readFileSync } from "node:fs";
import { errorMessage, UsageError } from "../errors.ts";
import {
  defaultKeyringDir,
  type KeyInfo,
  keyInfo,
  type Keyring,
  readArmoredKeys,
} from "../sign/keyring.ts";
import type { Verifier } from "../sign/types.ts";
import { keyringVerifier } from "../sign/verify.ts";
import type { MirrorLike } from "../layout/open.ts";

/** Where trusted keys come from: a keyring directory and armored key files. */
export interface TrustedKeys {
  /** The keyring directory (default: `SPACKLE_KEYRING`, else the per-user location). */
  keyring?: string;
  /** Armored public key files trusted besides the keyring's keys. */
  key?: string[];
}

/** True when the keyring directory holds at least one trusted key file. */
function keyringHasKeys(dir: string): boolean {
  try {
    return readdirSync(dir).some((n) => /^[0-9A-F]{40}\.asc$/.test(n));
  } catch {
    return false;
  }
}

/**
 * A Verifier trusting the keyring's keys and the key files, loaded on first use (so that
 * commands that verify nothing never load OpenPGP); undefined when there are no keys at all.
 * The key files are read now: one that cannot be read or holds no armored key block is a
 * usage error naming it.
 */
export function trustedVerifier(o: TrustedKeys): Verifier | undefined {
  const extra: string[] = [];
  for (const f of o.key ?? []) {
    let text: string;
    try {
      text = readFileSync(f, "utf8");
    } catch (e) {
      throw new UsageError(`Cannot read key file "${f}": ${errorMessage(e)}`, { cause: e });
    }
    if (!/-----BEGIN PGP (PUBLIC|PRIVATE) KEY BLOCK-----/.test(text)) {
      throw new UsageError(
        `Cannot use "${f}" as a key (-k): it holds no armored OpenPGP key block ` +
          `("-----BEGIN PGP PUBLIC KEY BLOCK-----"); export one with ` +
          `"gpg --armor --export FINGERPRINT" or "spackle keys export FINGERPRINT"`,
      );
    }
    extra.push(text);
  }
  const dir = defaultKeyringDir(o.keyring);
  if (extra.length === 0 && !keyringHasKeys(dir)) return undefined;
  return keyringVerifier(dir, extra);
}

/**
 * How sync and bundle enforce trust: signatures verified against the trusted keys; unsigned
 * entries and keys not trusted left, unless `allowUnsigned` (or the source is a registry,
 * unsigned by nature). Without any trusted key nothing could be copied: refused, naming
 * `label` (the source).
 */
export function copyTrust(
  o: TrustedKeys & { allowUnsigned?: boolean; requireSignatures?: boolean },
  registry: boolean,
  label: string,
): { verifier?: Verifier; requireSignatures: boolean; allowUnsigned: boolean } {
  if (o.allowUnsigned && o.requireSignatures) {
    throw new UsageError("Give --allow-unsigned or --require-signatures, not both");
  }
  const allow = !!o.allowUnsigned || registry;
  const verifier = trustedVerifier({ key: o.key, keyring: o.keyring });
  if (!allow && !verifier) {
    throw new UsageError(
      `Cannot copy from "${label}": its entries must be signed by a trusted key and no ` +
        `trusted keys are available: trust the signing key ("spackle keys trust FILE" or ` +
        `"spackle keys fetch -m MIRROR --trust"), give it with --key FILE, or admit unsigned ` +
        `entries with --allow-unsigned`,
    );
  }
  return { verifier, requireSignatures: !allow, allowUnsigned: allow };
}

/** A key a mirror publishes. */
export interface PublishedKey extends KeyInfo {
  /** The mirror publishing it. */
  mirror: string;
  /** True when `keyring` trusts it. */
  trusted: boolean;
  /** The public key, armored. */
  armored: string;
}

/**
 * The public keys `mirrors` publish, with their facts and whether `keyring` trusts them. A
 * published secret key is left out, with a warning.
 */
export async function publishedKeys(
  mirrors: Pick<MirrorLike, "keys">,
  keyring: Keyring,
  opts: { signal?: AbortSignal; onWarning?: (message: string) => void } = {},
): Promise<PublishedKey[]> {
  const trusted = new Set(await keyring.fingerprints());
  const out: PublishedKey[] = [];
  for (const k of await mirrors.keys({ signal: opts.signal })) {
    for (const key of await readArmoredKeys(k.armored, `key ${k.fingerprint} of "${k.mirror}"`)) {
      const info = await keyInfo(key);
      if (key.isPrivate()) {
        opts.onWarning?.(`"${k.mirror}" publishes the secret key ${info.fingerprint}; ignored`);
        continue;
      }
      out.push({
        ...info,
        mirror: k.mirror,
        trusted: trusted.has(info.fingerprint),
        armored: key.armor().replace(/\r\n/g, "\n"),
      });
    }
  }
  return out;
}
