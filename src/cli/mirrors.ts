/**
 * From command-line options to opened mirrors: repeatable `-m/--mirror URL|PATH|NAME`,
 * `--keyring DIR`, `-k/--key FILE`, `--allow-unsigned`, and the global `--ca-file`.
 *
 * A configured mirror name is turned into a URL by the resolver installed with
 * `setMirrorNameResolver` (configuration plugs its own in); without one, only paths and URLs
 * are accepted.
 *
 * @module
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { Option } from "commander";
import type { Command } from "commander";
import { errorMessage, UsageError } from "../errors.ts";
import { defaultKeyringDir } from "../sign/keyring.ts";
import { keyringVerifier } from "../sign/verify.ts";
import type { MirrorSet } from "../layout/mirror.ts";
import type { Verifier } from "../sign/types.ts";
import type { GlobalOptions } from "./app.ts";

/** The options `addMirrorOptions` defines. */
export interface MirrorCliOptions {
  mirror?: string[];
  keyring?: string;
  key?: string[];
  allowUnsigned?: boolean;
}

/** What a configured mirror name stands for. */
export interface ResolvedMirror {
  url: string;
  /** The index view to read (v3 only). */
  view?: string;
}

/** Turns configured mirror names into URLs, and names the mirrors used when none is given. */
export interface MirrorNameResolver {
  /** The mirror a name stands for, or undefined when no mirror has that name. */
  resolve(name: string): ResolvedMirror | undefined | Promise<ResolvedMirror | undefined>;
  /** Mirrors to use when no `-m` is given (in order), as names. */
  defaults?(): string[] | Promise<string[]>;
}

let resolver: MirrorNameResolver | undefined;

/** Installs (or removes, with undefined) the resolver of configured mirror names. */
export function setMirrorNameResolver(r: MirrorNameResolver | undefined): void {
  resolver = r;
}

function collect(value: string, prev: string[] | undefined): string[] {
  return [...(prev ?? []), value];
}

/** Adds `-m/--mirror` (repeatable), `--keyring`, `-k/--key` and `--allow-unsigned` to `cmd`. */
export function addMirrorOptions(cmd: Command, opts: { signatures?: boolean } = {}): Command {
  cmd.addOption(
    new Option(
      "-m, --mirror <url>",
      "mirror path, URL (file://, https://, s3://) or configured name; repeat to search several in order",
    ).argParser(collect),
  );
  if (opts.signatures !== false) {
    cmd
      .addOption(
        new Option("--keyring <dir>", "directory of trusted public keys").env("SPACKLE_KEYRING"),
      )
      .addOption(
        new Option("-k, --key <file>", "also trust this armored public key (repeatable)")
          .argParser(collect),
      )
      .addOption(
        new Option("--allow-unsigned", "read unsigned metadata and signatures by untrusted keys")
          .default(false),
      );
  }
  return cmd;
}

/** The keyring directory: `--keyring`, else `SPACKLE_KEYRING`, else the per-user location. */
export function keyringDir(flag?: string): string {
  return defaultKeyringDir(flag);
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
 * A Verifier trusting the keyring's keys and the `--key` files, loaded on first use (so that
 * commands that verify nothing never load OpenPGP). Undefined when there are no keys at all.
 */
export function cliVerifier(o: MirrorCliOptions): Verifier | undefined {
  const extra: string[] = [];
  for (const f of o.key ?? []) {
    try {
      extra.push(readFileSync(f, "utf8"));
    } catch (e) {
      throw new UsageError(`Cannot read key file "${f}": ${errorMessage(e)}`, { cause: e });
    }
  }
  const dir = keyringDir(o.keyring);
  if (extra.length === 0 && !keyringHasKeys(dir)) return undefined;
  return keyringVerifier(dir, extra);
}

/** True when `s` is a URL with a scheme or a path, not a bare word (Spack's rule). */
function looksLikeLocation(s: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(s) || s.includes("/") || s.startsWith(".");
}

/** The mirror URLs (and names) the options stand for, in order. */
export async function mirrorSources(
  o: MirrorCliOptions,
): Promise<{ source: string; name?: string; view?: string }[]> {
  let given = o.mirror ?? [];
  if (given.length === 0 && resolver?.defaults) given = await resolver.defaults();
  if (given.length === 0) {
    throw new UsageError("No mirror was given: use -m/--mirror PATH|URL|NAME");
  }
  const out: { source: string; name?: string; view?: string }[] = [];
  for (const m of given) {
    if (looksLikeLocation(m)) {
      out.push({ source: m });
      continue;
    }
    // A bare word is a configured name first (as in Spack), else a directory of that name.
    const r = await resolver?.resolve(m);
    if (!r && existsSync(m)) {
      out.push({ source: m });
      continue;
    }
    if (!r) {
      throw new UsageError(
        `Unknown mirror "${m}": not a path, not a URL${
          resolver ? ", and no configured mirror has that name" : ""
        }`,
      );
    }
    out.push({ source: r.url, name: m, view: r.view });
  }
  return out;
}

/** Opens the mirrors the options name, with their verifier; `requireSignature` for reads. */
export async function openCliMirrors(
  o: MirrorCliOptions,
  globals: Pick<GlobalOptions, "caFile">,
  signal?: AbortSignal,
): Promise<{ mirrors: MirrorSet; verifier?: Verifier; requireSignature: boolean }> {
  const sources = await mirrorSources(o);
  const verifier = o.allowUnsigned ? safeVerifier(o) : cliVerifier(o);
  const http = globals.caFile ? { caFile: globals.caFile } : undefined;
  const { openMirrors } = await import("../layout/mirror.ts");
  const mirrors = await openMirrors(
    sources.map((s) => ({ source: s.source, name: s.name, view: s.view })),
    { verifier, store: { http }, signal },
  );
  return { mirrors, verifier, requireSignature: !o.allowUnsigned };
}

function safeVerifier(o: MirrorCliOptions): Verifier | undefined {
  try {
    return cliVerifier(o);
  } catch {
    return undefined;
  }
}
