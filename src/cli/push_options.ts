/**
 * What the writing commands (`push`, `update-index`, `migrate`, `keys publish`, `sync`, `prune`)
 * share: the writable store a mirror argument stands for, signers, `--jobs`, the prune-wait
 * warning.
 *
 * @module
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import process from "node:process";
import { Option } from "commander";
import { UsageError } from "../errors.ts";
import type { Output } from "./output.ts";
import type { Signer, Store } from "../../mod.ts";
import type { StoreGlobals } from "./mirror_options.ts";

/** The store a mirror argument (path, URL or configured name: its push side) stands for. */
export async function writableStore(
  url: string,
  globals: StoreGlobals,
  out?: Pick<Output, "debug">,
): Promise<Store> {
  const { openCliStore } = await import("./mirror_options.ts");
  const { isWritable } = await import("../../mod.ts");
  const s = await openCliStore(url, globals, { writable: true, out });
  if (!isWritable(s)) throw new UsageError(`Cannot write to "${url}": the store is read-only`);
  return s;
}

/** The passphrase of a signing key, asked on the terminal without echo. */
export async function promptPassphrase(what: string): Promise<string | undefined> {
  const { promptHidden } = await import("./prompt.ts");
  return await promptHidden(`Passphrase for the signing key ${what}: `);
}

/** The Signer of `--key FILE` (passphrase from SPACKLE_SIGNING_PASSPHRASE or a prompt). */
export async function signerOf(keyFile: string): Promise<Signer> {
  let armored: string;
  try {
    armored = await readFile(keyFile, "utf8");
  } catch (e) {
    throw new UsageError(`Cannot read the key file "${keyFile}": ${(e as Error).message}`);
  }
  const { signerFromArmored, needsPassphrase, PASSPHRASE_ENV } = await import(
    "../../mod.ts"
  );
  let pass = process.env[PASSPHRASE_ENV];
  if (pass === undefined && await needsPassphrase(armored)) {
    pass = await promptPassphrase(keyFile);
  }
  return await signerFromArmored(armored, pass, `the key file "${keyFile}"`);
}

/**
 * The signer of a push or migration: `--key` (an armored secret key file, else a fingerprint
 * in the keyring), `--unsigned` for none, and by default the keyring's only secret key.
 */
export async function chooseSigner(
  o: { key?: string; unsigned?: boolean; keyring?: string },
): Promise<Signer | undefined> {
  if (o.key && o.unsigned) throw new UsageError("Give --key or --unsigned, not both");
  if (o.unsigned) return undefined;
  if (o.key && existsSync(o.key)) return await signerOf(o.key);
  const { Keyring, defaultKeyringDir } = await import("../../mod.ts");
  const { signerFromKeyring, PASSPHRASE_ENV } = await import("../../mod.ts");
  const keyring = Keyring.open(defaultKeyringDir(o.keyring));
  try {
    return await signerFromKeyring(keyring, o.key, process.env[PASSPHRASE_ENV]);
  } catch (e) {
    if (!o.key && e instanceof UsageError) {
      throw new UsageError(
        `${e.message}. To push without signing, give --unsigned; to sign, --key FILE`,
      );
    }
    throw e;
  }
}

/** Says that a write waits for a prune running on the same mirror. */
export function pruneWait(out: Pick<Output, "warn">) {
  return (l: { host: string; pid: number }) =>
    out.warn(
      `waiting for the prune running on this mirror` +
        (l.pid ? ` (process ${l.pid} on ${l.host})` : "") + " to finish",
    );
}

/** `-j/--jobs N` (a whole number above 0), `def` by default. */
export function jobsOption(def: number): Option {
  return new Option("-j, --jobs <n>", "parallel jobs").default(def).argParser((v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) {
      throw new UsageError(`--jobs must be a whole number above 0, not "${v}"`);
    }
    return n;
  });
}
