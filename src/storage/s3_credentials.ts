/**
 * Where an s3:// mirror is and who we are there: endpoint, region, addressing style and
 * credentials, resolved the way the AWS tools do (first match wins):
 *
 * - endpoint: option (`endpoint_url`), `S3_ENDPOINT_URL`, `AWS_ENDPOINT_URL_S3`,
 *   `AWS_ENDPOINT_URL`, the profile's `endpoint_url`; none means AWS itself. A scheme-less
 *   endpoint gets https.
 * - region: option, `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's `region`, else us-east-1.
 * - addressing: option, else path-style for a custom endpoint and virtual-hosted for AWS
 *   (path-style there too for bucket names with dots, which break TLS host names).
 * - credentials: options (`access_pair` id/secret or `id_variable`/`secret_variable`, or an
 *   explicit `profile`), the environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
 *   `AWS_SESSION_TOKEN`), the shared files (`AWS_PROFILE`, `AWS_SHARED_CREDENTIALS_FILE`,
 *   `AWS_CONFIG_FILE`, `~/.aws/credentials`, `~/.aws/config`), else anonymous.
 *
 * `describe()` says which source was used, never the secret.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { UsageError } from "../errors.ts";

/** An access pair as in Spack's mirror configuration (`access_pair:`). */
export interface S3AccessPair {
  id?: string;
  secret?: string;
  /** Name of an environment variable holding the key id. */
  id_variable?: string;
  /** Name of an environment variable holding the secret. */
  secret_variable?: string;
}

/** Settings of an s3:// mirror, from flags or mirror configuration. */
export interface S3CredentialOptions {
  /** The S3 endpoint (`endpoint_url` in Spack's mirror configuration). */
  endpoint?: string;
  region?: string;
  /** A profile of the shared AWS files. */
  profile?: string;
  /** Key id and secret, given directly or through the names of environment variables. */
  accessPair?: S3AccessPair;
  /** A session token (`access_token` in Spack's mirror configuration). */
  sessionToken?: string;
  /** Name of an environment variable holding the session token (`access_token_variable`). */
  sessionTokenVariable?: string;
  /** "path" (`https://host/bucket/key`) or "virtual" (`https://bucket.host/key`). */
  addressing?: "path" | "virtual";
  /** Send unsigned requests even when credentials could be found. */
  anonymous?: boolean;
  /** The environment to read. Default: the process's. */
  env?: Record<string, string | undefined>;
  /** The home directory holding `.aws/`. Default: `HOME` or the user's home. */
  home?: string;
  /**
   * Where the options above came from, for `describe()` (for example `--s3-region` or
   * `mirror "site" in spackle.yaml`); default "the ... option".
   */
  origin?: { endpoint?: string; region?: string; profile?: string; accessPair?: string };
}

/** Credentials that sign requests. */
export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** The resolved settings of an s3:// mirror. */
export interface S3Settings {
  /** The custom endpoint, or undefined for AWS. */
  endpoint?: URL;
  /** Where the endpoint came from. */
  endpointSource?: string;
  region: string;
  regionSource: string;
  pathStyle: boolean;
  /** Undefined for anonymous access. */
  credentials?: S3Credentials;
  /** Where the credentials came from ("anonymous" when there are none). */
  credentialSource: string;
  /** One line for `--verbose`: endpoint, region, addressing and the credential source. */
  describe(): string;
}

function nonEmpty(v: unknown): string | undefined {
  if (typeof v !== "string") return undefined;
  const t = v.trim();
  return t === "" ? undefined : t;
}

/**
 * Options from a mirror configuration entry or flags, accepting Spack's spelling
 * (`endpoint_url`, `access_pair`, `access_token`, `profile`) as well as the camelCase one.
 */
export function s3OptionsFrom(raw: Record<string, unknown>): S3CredentialOptions {
  const out: S3CredentialOptions = {};
  const endpoint = nonEmpty(raw.endpoint) ?? nonEmpty(raw.endpoint_url) ??
    nonEmpty(raw.endpointUrl);
  if (endpoint) out.endpoint = endpoint;
  const region = nonEmpty(raw.region);
  if (region) out.region = region;
  const profile = nonEmpty(raw.profile);
  if (profile) out.profile = profile;
  const token = nonEmpty(raw.sessionToken) ?? nonEmpty(raw.access_token) ??
    nonEmpty(raw.session_token);
  if (token) out.sessionToken = token;
  const tokenVar = nonEmpty(raw.sessionTokenVariable) ?? nonEmpty(raw.access_token_variable);
  if (tokenVar) out.sessionTokenVariable = tokenVar;
  const pair = (raw.accessPair ?? raw.access_pair) as unknown;
  if (Array.isArray(pair)) {
    // Spack's older form: access_pair: [id, secret]
    out.accessPair = { id: nonEmpty(pair[0]), secret: nonEmpty(pair[1]) };
  } else if (pair && typeof pair === "object") {
    const p = pair as Record<string, unknown>;
    out.accessPair = {
      id: nonEmpty(p.id),
      secret: nonEmpty(p.secret),
      id_variable: nonEmpty(p.id_variable) ?? nonEmpty(p.idVariable),
      secret_variable: nonEmpty(p.secret_variable) ?? nonEmpty(p.secretVariable),
    };
  }
  const addressing = raw.addressing ??
    (raw.pathStyle === true || raw.path_style === true ? "path" : undefined);
  if (addressing === "path" || addressing === "virtual") out.addressing = addressing;
  else if (addressing !== undefined) {
    throw new UsageError(`Invalid S3 addressing "${addressing}": use "path" or "virtual"`);
  }
  if (raw.anonymous === true) out.anonymous = true;
  if (raw.env && typeof raw.env === "object") {
    out.env = raw.env as Record<string, string | undefined>;
  }
  if (typeof raw.home === "string") out.home = raw.home;
  if (raw.origin && typeof raw.origin === "object") {
    out.origin = raw.origin as S3CredentialOptions["origin"];
  }
  return out;
}

/** Sections of an INI file (AWS shared files): section name -> key -> value. */
export function parseIni(text: string): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>();
  let cur: Map<string, string> | undefined;
  let lastKey: string | undefined;
  for (const raw of text.split(/\r?\n/)) {
    if (/^\s*([#;].*)?$/.test(raw)) continue;
    const sec = /^\s*\[\s*([^\]]*?)\s*\]\s*$/.exec(raw);
    if (sec) {
      cur = out.get(sec[1]) ?? new Map();
      out.set(sec[1], cur);
      lastKey = undefined;
      continue;
    }
    if (!cur) continue;
    // Indented lines continue a nested value (`s3 =` followed by `  endpoint_url = ...`).
    if (/^\s/.test(raw) && lastKey !== undefined) {
      const kv = /^\s*([^=]+?)\s*=\s*(.*?)\s*$/.exec(raw);
      if (kv) cur.set(`${lastKey}.${kv[1].toLowerCase()}`, kv[2]);
      continue;
    }
    const kv = /^\s*([^=]+?)\s*=\s*(.*?)\s*$/.exec(raw);
    if (kv) {
      lastKey = kv[1].toLowerCase();
      cur.set(lastKey, kv[2].replace(/\s+[#;].*$/, ""));
    }
  }
  return out;
}

interface SharedProfile {
  values: Map<string, string>;
  credentialsFile?: string;
  configFile?: string;
}

function readIni(file: string): Map<string, Map<string, string>> | undefined {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new UsageError(`Cannot read the AWS file "${file}": ${(e as Error).message}`, {
      cause: e,
    });
  }
  return parseIni(text);
}

/** A profile merged from the credentials file (first) and the config file. */
function loadProfile(
  name: string,
  env: Record<string, string | undefined>,
  home: string,
): SharedProfile | undefined {
  const credFile = nonEmpty(env.AWS_SHARED_CREDENTIALS_FILE) ?? join(home, ".aws", "credentials");
  const confFile = nonEmpty(env.AWS_CONFIG_FILE) ?? join(home, ".aws", "config");
  const cred = readIni(credFile)?.get(name);
  const conf = readIni(confFile)?.get(name === "default" ? "default" : `profile ${name}`) ??
    (name === "default" ? undefined : readIni(confFile)?.get(name));
  if (!cred && !conf) return undefined;
  const values = new Map<string, string>(conf ?? []);
  for (const [k, v] of cred ?? []) values.set(k, v);
  return {
    values,
    credentialsFile: cred ? credFile : undefined,
    configFile: conf ? confFile : undefined,
  };
}

function profileCredentials(p: SharedProfile): S3Credentials | undefined {
  const id = nonEmpty(p.values.get("aws_access_key_id"));
  const secret = nonEmpty(p.values.get("aws_secret_access_key"));
  if (!id && !secret) return undefined;
  return {
    accessKeyId: id ?? "",
    secretAccessKey: secret ?? "",
    sessionToken: nonEmpty(p.values.get("aws_session_token")),
  };
}

function profileFiles(p: SharedProfile): string {
  return [p.credentialsFile, p.configFile].filter(Boolean).map((f) => `"${f}"`).join(" and ");
}

/** The key id with all but its last 4 characters masked. */
export function maskKeyId(id: string): string {
  return id.length <= 4 ? "****" : `${"*".repeat(Math.min(id.length - 4, 16))}${id.slice(-4)}`;
}

function endpointUrl(value: string, source: string): URL {
  const v = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `https://${value}`;
  let u: URL;
  try {
    u = new URL(v);
  } catch (e) {
    throw new UsageError(`Invalid S3 endpoint "${value}" (from ${source})`, { cause: e });
  }
  if (u.protocol !== "https:" && u.protocol !== "http:") {
    throw new UsageError(
      `Invalid S3 endpoint "${value}" (from ${source}): the scheme must be http or https`,
    );
  }
  if (!u.pathname.endsWith("/")) u.pathname += "/";
  u.search = "";
  u.hash = "";
  return u;
}

/** The shared-files profile to read: its name, where the name came from, loaded on demand. */
interface ProfileRef {
  name: string;
  /** The option's origin or AWS_PROFILE; "" for the implicit "default". */
  source: string;
  /** Named by the options (not by AWS_PROFILE). */
  explicit: boolean;
  /** The profile (read once), undefined when neither file has it; throws for a named one. */
  get(): SharedProfile | undefined;
}

function profileRef(
  opts: S3CredentialOptions,
  env: Record<string, string | undefined>,
  home: string,
): ProfileRef {
  const explicitProfile = nonEmpty(opts.profile);
  const name = explicitProfile ?? nonEmpty(env.AWS_PROFILE) ?? "default";
  const source = explicitProfile
    ? opts.origin?.profile ?? "the profile option"
    : env.AWS_PROFILE
    ? "AWS_PROFILE"
    : "";
  let cache: SharedProfile | undefined | null = null;
  const get = (): SharedProfile | undefined => {
    if (cache === null) {
      cache = loadProfile(name, env, home);
      if (!cache && source) {
        throw new UsageError(
          `The AWS profile "${name}" (from ${source}) is in neither the ` +
            `credentials nor the config file`,
        );
      }
    }
    return cache;
  };
  return { name, source, explicit: !!explicitProfile, get };
}

/** The first value set among `candidates` ([value, where it came from]). */
function firstSet(candidates: [string | undefined, string][]): [string, string] | undefined {
  for (const [v, src] of candidates) {
    const t = nonEmpty(v);
    if (t) return [t, src];
  }
  return undefined;
}

/** The custom endpoint (undefined for AWS) and where it came from. */
function resolveEndpoint(
  opts: S3CredentialOptions,
  env: Record<string, string | undefined>,
  profile: ProfileRef,
): { endpoint?: URL; endpointSource?: string } {
  const set = firstSet([
    [opts.endpoint, opts.origin?.endpoint ?? "the endpoint option"],
    [env.S3_ENDPOINT_URL, "S3_ENDPOINT_URL"],
    [env.AWS_ENDPOINT_URL_S3, "AWS_ENDPOINT_URL_S3"],
    [env.AWS_ENDPOINT_URL, "AWS_ENDPOINT_URL"],
  ]);
  if (set) return { endpoint: endpointUrl(set[0], set[1]), endpointSource: set[1] };
  const p = profile.get();
  const v = nonEmpty(p?.values.get("s3.endpoint_url")) ?? nonEmpty(p?.values.get("endpoint_url"));
  if (!v) return {};
  const endpointSource = `profile "${profile.name}"`;
  return { endpoint: endpointUrl(v, endpointSource), endpointSource };
}

/** The region and where it came from (us-east-1 by default). */
function resolveRegion(
  opts: S3CredentialOptions,
  env: Record<string, string | undefined>,
  profile: ProfileRef,
): { region: string; regionSource: string } {
  const set = firstSet([
    [opts.region, opts.origin?.region ?? "the region option"],
    [env.AWS_REGION, "AWS_REGION"],
    [env.AWS_DEFAULT_REGION, "AWS_DEFAULT_REGION"],
  ]);
  if (set) return { region: set[0], regionSource: set[1] };
  const v = nonEmpty(profile.get()?.values.get("region"));
  if (v) return { region: v, regionSource: `profile "${profile.name}"` };
  return { region: "us-east-1", regionSource: "default" };
}

/** Credentials and where they came from. */
interface FoundCredentials {
  credentials: S3Credentials;
  source: string;
}

/** The credentials of the options' access pair (and session token), if it gives any. */
function credentialsFromOptions(
  opts: S3CredentialOptions,
  env: Record<string, string | undefined>,
): FoundCredentials | undefined {
  const pair = opts.accessPair;
  if (!pair) return undefined;
  const get = (value: string | undefined, variable: string | undefined, what: string) => {
    if (value) return value;
    if (variable) {
      const v = nonEmpty(env[variable]);
      if (!v) {
        throw new UsageError(
          `The S3 ${what} variable "${variable}" named in access_pair is not set`,
        );
      }
      return v;
    }
    return undefined;
  };
  const id = get(pair.id, pair.id_variable, "key id");
  const secret = get(pair.secret, pair.secret_variable, "secret");
  if (!id && !secret) return undefined;
  if (!id || !secret) {
    throw new UsageError(
      `The S3 access_pair gives ${id ? "a key id but no secret" : "a secret but no key id"}`,
    );
  }
  let sessionToken = opts.sessionToken;
  if (opts.sessionTokenVariable) {
    sessionToken = nonEmpty(env[opts.sessionTokenVariable]);
    if (!sessionToken) {
      throw new UsageError(
        `The S3 session token variable "${opts.sessionTokenVariable}" named in ` +
          "access_token_variable is not set",
      );
    }
  }
  const vars = [
    pair.id_variable && !pair.id ? pair.id_variable : "",
    pair.secret_variable && !pair.secret ? pair.secret_variable : "",
  ]
    .filter(Boolean);
  const of = opts.origin?.accessPair ? ` of ${opts.origin.accessPair}` : "";
  return {
    credentials: { accessKeyId: id, secretAccessKey: secret, sessionToken },
    source: vars.length ? `access_pair${of} (variables ${vars.join(", ")})` : `access_pair${of}`,
  };
}

/**
 * The credentials of the profile, if it has any; with `label` (where the profile was named)
 * a profile without them is an error.
 */
function credentialsFromProfile(
  profile: ProfileRef,
  label: string,
): FoundCredentials | undefined {
  const p = profile.get();
  if (!p) return undefined;
  const c = profileCredentials(p);
  if (!c) {
    if (label) {
      throw new UsageError(
        `The AWS profile "${profile.name}" (from ${label}) has no aws_access_key_id and ` +
          `aws_secret_access_key in ${profileFiles(p)}`,
      );
    }
    return undefined;
  }
  if (!c.accessKeyId || !c.secretAccessKey) {
    throw new UsageError(
      `The AWS profile "${profile.name}" in ${profileFiles(p)} has ` +
        (c.accessKeyId
          ? "aws_access_key_id but no aws_secret_access_key"
          : "aws_secret_access_key but no aws_access_key_id"),
    );
  }
  return { credentials: c, source: `profile "${profile.name}" in ${profileFiles(p)}` };
}

/** The credentials of AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN. */
function credentialsFromEnv(env: Record<string, string | undefined>): FoundCredentials | undefined {
  const id = nonEmpty(env.AWS_ACCESS_KEY_ID);
  const secret = nonEmpty(env.AWS_SECRET_ACCESS_KEY);
  if (!id && !secret) return undefined;
  if (!id || !secret) {
    throw new UsageError(
      id
        ? "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not"
        : "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not",
    );
  }
  const sessionToken = nonEmpty(env.AWS_SESSION_TOKEN);
  return {
    credentials: { accessKeyId: id, secretAccessKey: secret, sessionToken },
    source: "environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY" +
      (sessionToken ? ", AWS_SESSION_TOKEN)" : ")"),
  };
}

/**
 * The first credentials of: the options' access pair, the profile the options name, the
 * environment, the profile of AWS_PROFILE or "default".
 */
function findCredentials(
  opts: S3CredentialOptions,
  env: Record<string, string | undefined>,
  profile: ProfileRef,
): FoundCredentials | undefined {
  return credentialsFromOptions(opts, env) ??
    (profile.explicit ? credentialsFromProfile(profile, "the profile option") : undefined) ??
    credentialsFromEnv(env) ??
    credentialsFromProfile(profile, profile.source);
}

/**
 * Resolves endpoint, region, addressing and credentials for a bucket. Throws UsageError when
 * a named profile or variable is missing, or only half of a key pair is given.
 */
export function resolveS3Settings(opts: S3CredentialOptions = {}, bucket = ""): S3Settings {
  const env = opts.env ?? process.env;
  const home = opts.home ?? nonEmpty(env.HOME) ?? homedir();
  const profile = profileRef(opts, env, home);
  const { endpoint, endpointSource } = resolveEndpoint(opts, env, profile);
  const { region, regionSource } = resolveRegion(opts, env, profile);
  const pathStyle = opts.addressing
    ? opts.addressing === "path"
    : endpoint !== undefined || bucket.includes(".");
  const found = opts.anonymous ? undefined : findCredentials(opts, env, profile);
  const credentials = found?.credentials;
  const credentialSource = found?.source ?? "anonymous";

  const settings: S3Settings = {
    endpoint,
    endpointSource,
    region,
    regionSource,
    pathStyle,
    credentials,
    credentialSource,
    describe() {
      const where = endpoint ? `endpoint ${endpoint.href} (from ${endpointSource})` : "AWS S3";
      const who = credentials
        ? `key id ${maskKeyId(credentials.accessKeyId)} from ${credentialSource}` +
          (credentials.sessionToken ? " with a session token" : "")
        : opts.anonymous
        ? "anonymous (as asked)"
        : "anonymous (no credentials found)";
      return `S3: ${where}, region ${settings.region} (${settings.regionSource}), ` +
        `${pathStyle ? "path-style" : "virtual-hosted"} addressing, credentials: ${who}`;
    },
  };
  return settings;
}
