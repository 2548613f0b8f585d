/**
 * Spack's `mirrors.yaml`: the scopes a Spack user has (a file given by flag, the user scope
 * `~/.spack`, the site scope `$SPACK_ROOT/etc/spack`, the system scope `/etc/spack`), merged as
 * Spack merges them (higher scopes win key by key; `mirrors::` replaces lower scopes), and each
 * mirror's fields resolved per direction (fetch/push) as Spack's `Mirror` does.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { homedir, tmpdir, userInfo } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { errorMessage, InvalidDataError } from "../errors.ts";

/** Connection settings for one direction (Spack's "connection dict"). */
export interface MirrorConnection {
  url: string;
  view?: string;
  /** `access_pair` as written (`id`/`id_variable`/`secret`/`secret_variable`, or `[id, secret]`). */
  access_pair?: Record<string, string> | string[];
  access_token?: string;
  access_token_variable?: string;
  profile?: string;
  endpoint_url?: string;
  region?: string;
}

/** One configured mirror, resolved. */
export interface MirrorConfig {
  name: string;
  fetch: MirrorConnection;
  push: MirrorConnection;
  binary: boolean;
  source: boolean;
  signed: boolean;
  autopush: boolean;
  /** Where it was read from: a scope name (`command_line`, `user`, `site`, `system`, `spackle`). */
  scope: string;
}

/** A scope: a name and the YAML file it reads. */
export interface Scope {
  name: string;
  path: string;
}

const SCHEMES = new Set([
  "file",
  "http",
  "https",
  "sftp",
  "ftp",
  "s3",
  "gs",
  "oci",
  "oci+http",
]);

const CONNECTION_KEYS = [
  "view",
  "access_pair",
  "access_token",
  "access_token_variable",
  "profile",
  "endpoint_url",
  "region",
] as const;

/**
 * Spack's mirrors.yaml scopes, highest precedence first: `file` (a flag), user
 * (`~/.spack/mirrors.yaml`), site (`$SPACK_ROOT/etc/spack/mirrors.yaml` when SPACK_ROOT is
 * set), system (`/etc/spack/mirrors.yaml`).
 */
export function spackScopes(
  opts: { file?: string; env?: Record<string, string | undefined>; home?: string } = {},
): Scope[] {
  const env = opts.env ?? processEnv();
  const scopes: Scope[] = [];
  if (opts.file) scopes.push({ name: "command_line", path: resolve(opts.file) });
  const userDir = env.SPACK_USER_CONFIG_PATH ?? join(opts.home ?? homedir(), ".spack");
  scopes.push({ name: "user", path: join(userDir, "mirrors.yaml") });
  if (env.SPACK_ROOT) {
    scopes.push({ name: "site", path: join(env.SPACK_ROOT, "etc", "spack", "mirrors.yaml") });
  }
  const sysDir = env.SPACK_SYSTEM_CONFIG_PATH ?? "/etc/spack";
  scopes.push({ name: "system", path: join(sysDir, "mirrors.yaml") });
  return scopes;
}

function processEnv(): Record<string, string | undefined> {
  return (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env ??
    {};
}

/** Spack's `_url_or_path_to_url`: URLs verbatim, paths made absolute (against `baseDir`). */
export function urlOrPathToUrl(
  value: string,
  baseDir: string,
  env: Record<string, string | undefined> = processEnv(),
): string {
  const m = /^([a-z][a-z0-9+.-]*):/i.exec(value);
  if (m && SCHEMES.has(m[1].toLowerCase())) return value;
  // Spack's config variables first ($spack, $user, $tempdir; any case), then environment variables.
  const config: Record<string, () => string | undefined> = {
    spack: () => env.SPACK_ROOT,
    user: () => env.USER ?? env.LOGNAME ?? userInfo().username,
    tempdir: () => tmpdir(),
  };
  let p = value.replace(/\$\{(\w+)\}|\$(\w+)\b/g, (all, a?: string, b?: string) => {
    const v = (a ?? b)!;
    return config[v.toLowerCase()]?.() ?? env[v] ?? all;
  });
  if (p === "~" || p.startsWith("~/")) p = join(homedir(), p.slice(1));
  if (!isAbsolute(p)) p = resolve(baseDir, p);
  return pathToFileURL(p).href;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Merges `low` under `high` as Spack merges config dicts (recursively, `high` wins). */
function merge(high: unknown, low: unknown): unknown {
  if (!isObject(high) || !isObject(low)) return high === undefined ? low : high;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(high)) {
    const key = k.endsWith(":") ? k.slice(0, -1) : k;
    out[key] = k.endsWith(":") ? v : merge(v, low[key]);
  }
  for (const [k, v] of Object.entries(low)) {
    const key = k.endsWith(":") ? k.slice(0, -1) : k;
    if (!(key in out)) out[key] = v;
  }
  return out;
}

/** A parsed YAML document's `mirrors` section, and whether it replaces lower scopes. */
export function mirrorsSection(
  doc: unknown,
  label: string,
): { mirrors: Record<string, unknown>; replace: boolean } {
  if (doc === null || doc === undefined) return { mirrors: {}, replace: false };
  if (!isObject(doc)) throw new InvalidDataError(`${label}: the document is not a mapping`);
  // `mirrors::` (YAML reads the key as "mirrors:") replaces lower scopes.
  const replace = "mirrors:" in doc;
  const raw = replace ? doc["mirrors:"] : doc.mirrors;
  if (raw === undefined || raw === null) return { mirrors: {}, replace };
  if (!isObject(raw)) {
    throw new InvalidDataError(`${label}: "mirrors" is not a mapping of names to mirrors`);
  }
  return { mirrors: raw, replace };
}

/**
 * Resolves one raw mirror entry (a string or a dict) as Spack's `Mirror` does: the URL per
 * direction is `entry[d]` (string) or `entry[d].url`, else `url`; other connection fields come
 * from `entry[d]` when it has them, else the top level. Relative paths resolve against `baseDir`.
 */
export function resolveMirror(
  name: string,
  entry: unknown,
  scope: string,
  baseDir: string,
): MirrorConfig {
  if (typeof entry === "string") {
    const url = urlOrPathToUrl(entry, baseDir);
    return {
      name,
      scope,
      fetch: { url },
      push: { url },
      binary: true,
      source: true,
      // As in Spack, an OCI mirror is never signed.
      signed: !/^oci(\+http)?:/.test(url),
      autopush: false,
    };
  }
  if (!isObject(entry)) {
    throw new InvalidDataError(
      `Mirror "${name}" (${scope} scope) is neither a URL nor a mapping: ${JSON.stringify(entry)}`,
    );
  }
  const conn = (d: "fetch" | "push"): MirrorConnection => {
    const sub = entry[d];
    let url: unknown;
    if (typeof sub === "string") url = sub;
    else if (isObject(sub) && typeof sub.url === "string") url = sub.url;
    else url = entry.url;
    if (typeof url !== "string" || url === "") {
      throw new InvalidDataError(
        `Mirror "${name}" (${scope} scope) has no URL configured for ${d}`,
      );
    }
    const c: MirrorConnection = { url: urlOrPathToUrl(url, baseDir) };
    for (const k of CONNECTION_KEYS) {
      const v = isObject(sub) && k in sub ? sub[k] : entry[k];
      if (v !== undefined && v !== null) (c as unknown as Record<string, unknown>)[k] = v;
    }
    return c;
  };
  const bool = (k: string, dflt: boolean): boolean => {
    const v = entry[k];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== "boolean") {
      throw new InvalidDataError(
        `Mirror "${name}" (${scope} scope): "${k}" must be true or false, not ${JSON.stringify(v)}`,
      );
    }
    return v;
  };
  const fetch = conn("fetch");
  const oci = /^oci(\+http)?:/.test(fetch.url);
  return {
    name,
    scope,
    fetch,
    push: conn("push"),
    binary: bool("binary", true),
    source: bool("source", true),
    signed: oci ? false : bool("signed", true),
    autopush: bool("autopush", false),
  };
}

/** Parses YAML text with the `yaml` package (loaded on first use). */
export async function parseYaml(text: string, label: string): Promise<unknown> {
  const { parse } = await import("yaml");
  try {
    // Warnings (an unknown tag, say) are not printed as raw library output: the value is read
    // as YAML's core schema resolves it.
    return parse(text, { logLevel: "error" });
  } catch (e) {
    throw new InvalidDataError(`Cannot parse ${label}: ${errorMessage(e)}`, { cause: e });
  }
}

function readIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    if ((e as { code?: string }).code === "ENOENT" || (e as { code?: string }).code === "ENOTDIR") {
      return undefined;
    }
    throw new InvalidDataError(`Cannot read "${path}": ${errorMessage(e)}`, { cause: e });
  }
}

/**
 * Reads and merges the mirrors of `scopes` (highest first), as Spack would see them. Missing
 * files are skipped; a given file (`command_line`) that is missing is an error. Only mirrors
 * with `binary: true` are returned unless `all`.
 */
export async function loadSpackMirrors(
  scopes: Scope[],
  opts: { all?: boolean } = {},
): Promise<MirrorConfig[]> {
  const found: { scope: Scope; mirrors: Record<string, unknown>; replace: boolean }[] = [];
  for (const scope of scopes) {
    const text = readIfExists(scope.path);
    if (text === undefined) {
      if (scope.name === "command_line") {
        throw new InvalidDataError(`The mirrors file "${scope.path}" does not exist`);
      }
      continue;
    }
    const doc = await parseYaml(text, `"${scope.path}"`);
    found.push({ scope, ...mirrorsSection(doc, `"${scope.path}"`) });
  }
  // Lowest first, so that each higher scope merges over what is below it.
  let merged: Record<string, unknown> = {};
  const origin = new Map<string, Scope>();
  for (const f of [...found].reverse()) {
    if (f.replace) {
      merged = {};
      origin.clear();
    }
    for (const [k, v] of Object.entries(f.mirrors)) {
      const key = k.endsWith(":") ? k.slice(0, -1) : k;
      merged[key] = k.endsWith(":") ? v : merge(v, merged[key]);
      origin.set(key, f.scope);
    }
  }
  // Spack lists higher scopes' mirrors first.
  const order: string[] = [];
  for (const f of found) {
    for (const k of Object.keys(f.mirrors)) {
      const key = k.endsWith(":") ? k.slice(0, -1) : k;
      if (key in merged && !order.includes(key)) order.push(key);
    }
  }
  const out: MirrorConfig[] = [];
  for (const name of order) {
    const scope = origin.get(name)!;
    const m = resolveMirror(name, merged[name], scope.name, dirname(scope.path));
    if (opts.all || m.binary) out.push(m);
  }
  return out;
}
