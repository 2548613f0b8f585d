/**
 * Options shared by the commands that copy or check whole mirrors (`sync`, `bundle`, `verify`,
 * `prune`): the trust options, whole-number flags. What they do when they run is in
 * `copy_run.ts`, loaded with the command's implementation.
 *
 * @module
 */
import type { Command } from "commander";
import { UsageError } from "../errors.ts";

/** Parses a whole number above 0 given to the flag `name`. */
export function positiveInt(name: string): (v: string) => number {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) {
      throw new UsageError(`${name} must be a whole number above 0, not "${v}"`);
    }
    return n;
  };
}

/** Adds the trust options of sync and bundle: -k/--key, --keyring, --allow-unsigned. */
export function addTrustOptions(cmd: Command): void {
  cmd
    .option(
      "-k, --key <file...>",
      "also trust these armored public keys besides the keyring's",
    )
    .option("--keyring <dir>", "keyring directory (default: SPACKLE_KEYRING, else the user's)")
    .option(
      "--allow-unsigned",
      "admit unsigned entries and signatures by keys not trusted, with a warning each (a " +
        "signature that fails is never admitted)",
      false,
    )
    .option("--require-signatures", "the default: leave entries that are not verified", false);
}
