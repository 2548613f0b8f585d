/**
 * What a mirror argument (`-m URL|PATH|NAME`) stands for. A URL or a path is taken as given; a
 * bare word is a configured mirror's name first (as in Spack), else a directory of that name.
 * Configured names come from a `MirrorNameResolver`; `configuredMirrorResolver` is the one
 * over spackle's settings file and Spack's mirrors.yaml scopes.
 *
 * @module
 */
import { existsSync } from "node:fs";
import { UsageError } from "../errors.ts";
import type { MirrorConfig } from "./mirrors_yaml.ts";
import { configPath, configuredMirrors, loadSettings, type Settings } from "./settings.ts";

/** What a configured mirror name stands for. */
export interface ResolvedMirror {
  url: string;
  /** The index view to read (v3 only). */
  view?: string;
  /** S3 connection settings of the fetch side, in Spack's spelling (`endpoint_url`, ...). */
  s3?: Record<string, unknown>;
  /** Where pushes go, when that differs from `url` (Spack's fetch/push split). */
  push?: { url: string; s3?: Record<string, unknown> };
}

/** A mirror argument resolved: where it is and how to open it. */
export interface MirrorSource {
  source: string;
  /** The configured name it was given as. */
  name?: string;
  view?: string;
  /** S3 connection settings from the configuration. */
  s3?: Record<string, unknown>;
}

/** Turns configured mirror names into URLs, and names the mirrors used when none is given. */
export interface MirrorNameResolver {
  /** The mirror a name stands for, or undefined when no mirror has that name. */
  resolve(name: string): ResolvedMirror | undefined | Promise<ResolvedMirror | undefined>;
  /** Mirrors to use when no `-m` is given (in order), as names. */
  defaults?(): string[] | Promise<string[]>;
}

/** Where configured mirrors come from: spackle's settings file and an extra mirrors.yaml. */
export interface ConfigFlags {
  /** spackle's settings file (default: `configPath()`'s). */
  config?: string;
  /** A Spack mirrors.yaml read besides Spack's scopes. */
  mirrorsFile?: string;
}

/** The configured mirrors (spackle's settings file and Spack's mirrors.yaml scopes). */
export async function loadConfiguredMirrors(
  flags: ConfigFlags,
): Promise<{ settings: Settings; mirrors: MirrorConfig[] }> {
  const settings = await loadSettings(configPath(flags.config));
  const mirrors = await configuredMirrors(settings, { spackFile: flags.mirrorsFile });
  return { settings, mirrors };
}

/**
 * The resolver of the names configured in `flags`' files, read once on first use; `load`
 * gives the configured mirrors themselves.
 */
export function configuredMirrorResolver(
  flags: ConfigFlags,
): MirrorNameResolver & {
  defaults(): Promise<string[]>;
  load(): ReturnType<typeof loadConfiguredMirrors>;
} {
  let cached: ReturnType<typeof loadConfiguredMirrors> | undefined;
  const load = () => (cached ??= loadConfiguredMirrors(flags));
  return {
    load,
    async resolve(name) {
      const m = (await load()).mirrors.find((x) => x.name === name);
      if (!m) return undefined;
      const { url: _f, view, ...fetchS3 } = m.fetch;
      const { url: pushUrl, view: _p, ...pushS3 } = m.push;
      return { url: m.fetch.url, view, s3: fetchS3, push: { url: pushUrl, s3: pushS3 } };
    },
    async defaults() {
      return (await load()).mirrors.map((m) => m.name);
    },
  };
}

/** True when `s` is a URL with a scheme or a path, not a bare word (Spack's rule). */
function looksLikeLocation(s: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(s) || s.includes("/") || s.startsWith(".");
}

/**
 * What one mirror argument stands for: a URL or path as given, else a configured name (its
 * push side when `direction` is "push"), else a directory of that name (one that does not
 * exist yet too, for the "push" direction: a mirror about to be written).
 */
export async function resolveMirrorArg(
  m: string,
  resolver: MirrorNameResolver | undefined,
  direction: "fetch" | "push" = "fetch",
): Promise<MirrorSource> {
  if (looksLikeLocation(m)) return { source: m };
  const r = await resolver?.resolve(m);
  if (!r && (existsSync(m) || direction === "push")) return { source: m };
  if (!r) {
    throw new UsageError(
      `Unknown mirror "${m}": not a path, not a URL${
        resolver ? ", and no configured mirror has that name" : ""
      }`,
    );
  }
  if (direction === "push" && r.push) return { source: r.push.url, name: m, s3: r.push.s3 };
  return { source: r.url, name: m, view: r.view, s3: r.s3 };
}

/** The mirrors `given` stands for, in order; without any, the resolver's defaults. */
export async function mirrorSources(
  given: string[],
  resolver: MirrorNameResolver | undefined,
): Promise<MirrorSource[]> {
  if (given.length === 0 && resolver?.defaults) given = await resolver.defaults();
  if (given.length === 0) {
    throw new UsageError("No mirror was given: use -m/--mirror PATH|URL|NAME");
  }
  const out: MirrorSource[] = [];
  for (const m of given) out.push(await resolveMirrorArg(m, resolver));
  return out;
}
