/**
 * From command-line options to opened mirrors and stores: repeatable `-m/--mirror
 * URL|PATH|NAME`, `--keyring DIR`, `-k/--key FILE`, `--allow-unsigned`, and the global
 * `--ca-file` and `--s3-*` flags.
 *
 * A configured mirror name is turned into a URL (and its S3 connection settings) by the
 * resolver installed with `setMirrorNameResolver` (configuration plugs its own in); without
 * one, only paths and URLs are accepted. For s3:// mirrors the settings are, first match
 * wins: the `--s3-*` flags, the configured mirror's fields (`endpoint_url`, `access_pair`,
 * `profile`, ...), then the environment and the shared AWS files; `--verbose` prints which
 * endpoint, region and credential source were used (never a secret).
 *
 * @module
 */
import { Option } from "commander";
import type { Command } from "commander";
import { errorMessage } from "../errors.ts";
import type {
  ConfigFlags,
  MirrorNameResolver,
  MirrorSet,
  MirrorSource,
  OpenStoreOptions,
  ReadStore,
  Store,
  Verifier,
} from "../../mod.ts";
import type { GlobalOptions } from "./context.ts";
import type { Output } from "./output.ts";

export type { ConfigFlags, MirrorNameResolver, MirrorSource };

/** The library, loaded when a mirror is first opened (command definitions need none of it). */
const library = () => import("../../mod.ts");

/** The options `addMirrorOptions` defines. */
export interface MirrorCliOptions {
  mirror?: string[];
  keyring?: string;
  key?: string[];
  allowUnsigned?: boolean;
}

/** The global options that decide how stores are opened. */
export type StoreGlobals = Pick<
  GlobalOptions,
  | "caFile"
  | "s3EndpointUrl"
  | "s3Region"
  | "s3Profile"
  | "s3Addressing"
  | "connectTimeout"
  | "readTimeout"
  | "ociUsername"
  | "ociUsernameVariable"
  | "ociPasswordVariable"
>;

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
      "mirror path, URL (file://, https://, s3://, oci://) or configured name; repeat to search several in order",
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

/** What a mirror argument stands for, with the installed resolver of configured names. */
export async function resolveMirrorArg(
  m: string,
  direction: "fetch" | "push" = "fetch",
): Promise<MirrorSource> {
  return await (await library()).resolveMirrorArg(m, resolver, direction);
}

/** The mirror URLs (and names) the options stand for, in order. */
export async function mirrorSources(o: MirrorCliOptions): Promise<MirrorSource[]> {
  return await (await library()).mirrorSources(o.mirror ?? [], resolver);
}

/**
 * How to open a store from the command line: the CA file, and for s3:// the `--s3-*` flags
 * over the configured settings `s3`, with the store's description sent to `out.debug`
 * (printed with `--verbose`).
 */
export function cliStoreOptions(
  globals: StoreGlobals,
  opts: {
    writable?: boolean;
    s3?: Record<string, unknown>;
    /** The configured mirror the `s3` settings belong to (named in `--verbose` output). */
    name?: string;
    out?: Pick<Output, "debug">;
  } = {},
): OpenStoreOptions {
  const s3: Record<string, unknown> = { ...opts.s3 };
  const conf = `the configuration of mirror "${opts.name ?? "?"}"`;
  const origin: Record<string, string> = {
    endpoint: conf,
    region: conf,
    profile: conf,
    accessPair: `mirror "${opts.name ?? "?"}"`,
  };
  if (globals.s3EndpointUrl) {
    s3.endpoint_url = globals.s3EndpointUrl;
    origin.endpoint = "--s3-endpoint-url";
  }
  if (globals.s3Region) {
    s3.region = globals.s3Region;
    origin.region = "--s3-region";
  }
  if (globals.s3Profile) {
    // A profile given on the command line names the credentials too.
    s3.profile = globals.s3Profile;
    origin.profile = "--s3-profile";
    delete s3.access_pair;
  }
  if (globals.s3Addressing) s3.addressing = globals.s3Addressing;
  s3.origin = origin;
  const out = opts.out;
  if (out) s3.log = (line: string) => out.debug(`s3: ${line}`);
  const http: NonNullable<OpenStoreOptions["http"]> = {};
  if (globals.caFile) http.caFile = globals.caFile;
  if (globals.connectTimeout !== undefined) {
    http.connectTimeoutMs = Math.round(globals.connectTimeout * 1000);
  }
  if (globals.readTimeout !== undefined) {
    http.readTimeoutMs = Math.round(globals.readTimeout * 1000);
  }
  // oci:// registries: the mirror's access_pair/access_token, under the --oci-* flags.
  const oci: Record<string, unknown> = { ...opts.s3, mirrorName: opts.name };
  if (globals.ociUsername) oci.ociUsername = globals.ociUsername;
  if (globals.ociUsernameVariable) oci.ociUsernameVariable = globals.ociUsernameVariable;
  if (globals.ociPasswordVariable) oci.ociPasswordVariable = globals.ociPasswordVariable;
  if (out) oci.log = (line: string) => out.debug(`oci: ${line}`);
  // Each retry and resume is reported as it happens.
  const warn = (out as Partial<Pick<Output, "warn">> | undefined)?.warn?.bind(out);
  const retry: NonNullable<OpenStoreOptions["retry"]> = {};
  if (warn) {
    retry.onRetry = (e, _n, ms) => void library().then((l) => warn(l.retryMessage(e, ms)));
  }
  return { writable: opts.writable, http, s3, oci, retry };
}

/**
 * Opens the store a mirror argument (path, URL or configured name) stands for; a writable one
 * (the push side of a configured mirror, unless `direction` says otherwise) with `writable`.
 */
export async function openCliStore(
  arg: string,
  globals: StoreGlobals,
  opts: { writable?: boolean; direction?: "fetch" | "push"; out?: Pick<Output, "debug"> } = {},
): Promise<ReadStore | Store> {
  const m = await resolveMirrorArg(arg, opts.direction ?? (opts.writable ? "push" : "fetch"));
  const { openStore } = await import("../../mod.ts");
  return await openStore(
    m.source,
    cliStoreOptions(globals, { ...opts, s3: m.s3, name: m.name }),
  );
}

/** Opens the mirrors the options name, with their verifier; `requireSignature` for reads. */
export async function openCliMirrors(
  o: MirrorCliOptions,
  globals: StoreGlobals,
  signal?: AbortSignal,
  out?: Pick<Output, "debug" | "warn">,
): Promise<{ mirrors: MirrorSet; verifier?: Verifier; requireSignature: boolean }> {
  const sources = await mirrorSources(o);
  const { openMirrors, trustedVerifier } = await library();
  const verifier = o.allowUnsigned ? safeVerifier(() => trustedVerifier(o)) : trustedVerifier(o);
  const mirrors = await openMirrors(
    sources.map((s) => ({
      source: s.source,
      name: s.name,
      view: s.view,
      store: cliStoreOptions(globals, { s3: s.s3, name: s.name, out }),
    })),
    // One unreachable mirror of several is skipped with a note, as Spack goes on to the next.
    { verifier, signal, skipUnavailable: true, onWarning: (m) => out?.warn(m) },
  );
  for (const s of mirrors.skipped) {
    out?.warn(`mirror ${s.source} skipped: ${errorMessage(s.error)}`);
  }
  return { mirrors, verifier, requireSignature: !o.allowUnsigned };
}

function safeVerifier(make: () => Verifier | undefined): Verifier | undefined {
  try {
    return make();
  } catch {
    return undefined;
  }
}

/**
 * Installs the resolver of configured names (spackle's config file `config`, an extra Spack
 * mirrors.yaml `mirrorsFile`) used by `-m NAME`; returns the loader of the configured mirrors.
 */
export function installResolver(flags: ConfigFlags): () => ReturnType<typeof loadMirrors> {
  let r: ReturnType<typeof configured> | undefined;
  const configured = async () => (await library()).configuredMirrorResolver(flags);
  const get = () => (r ??= configured());
  setMirrorNameResolver({
    resolve: async (name) => await (await get()).resolve(name),
    defaults: async () => await (await get()).defaults(),
  });
  return async () => await (await get()).load();
}

/** The configured mirrors (spackle's settings file and Spack's mirrors.yaml scopes). */
export async function loadMirrors(flags: ConfigFlags): Promise<{
  settings: import("../../mod.ts").Settings;
  mirrors: import("../../mod.ts").MirrorConfig[];
}> {
  return await (await library()).loadConfiguredMirrors(flags);
}
