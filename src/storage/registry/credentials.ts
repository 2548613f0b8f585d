/**
 * Where registry credentials come from, first match wins:
 *
 * 1. the command line (`--oci-username` with `--oci-password-variable`, or
 *    `--oci-username-variable`),
 * 2. the mirror's configuration: `access_pair` (`id`/`id_variable` and
 *    `secret`/`secret_variable`, or `[id, secret]`) or `access_token`/`access_token_variable`,
 * 3. Docker's `config.json` (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`):
 *    `credHelpers[registry]`, then `auths[registry]` (`auth` is base64 `user:password`,
 *    `identitytoken`, `registrytoken`), then `credsStore`; a helper is the program
 *    `docker-credential-NAME get`, used when it exists on PATH,
 * 4. the environment: `SPACKLE_OCI_USERNAME` with `SPACKLE_OCI_PASSWORD`, or `SPACKLE_OCI_TOKEN`.
 *
 * Nothing found means anonymous access (a registry may still hand out anonymous tokens).
 * The source is named (for `--verbose`); secrets never are.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { delimiter, join } from "node:path";
import process from "node:process";
import { UsageError } from "../../errors.ts";
import type { CredentialsProvider, RegistryCredentials } from "./client.ts";
import { DOCKER_HUB } from "./reference.ts";

/** Settings the credentials are resolved from. */
export interface RegistryCredentialOptions {
  /** `--oci-username`. */
  username?: string;
  /** `--oci-username-variable`: the variable holding the user name. */
  usernameVariable?: string;
  /** `--oci-password-variable`: the variable holding the password. */
  passwordVariable?: string;
  /** The mirror configuration's fields in Spack's spelling (`access_pair`, `access_token`, ...). */
  mirror?: Record<string, unknown>;
  /** The configured mirror's name (named in the source). */
  mirrorName?: string;
  /** The environment (default: the process's). */
  env?: Record<string, string | undefined>;
  /** The home directory (default: the user's). */
  home?: string;
}

function nonEmpty(v: unknown): string | undefined {
  return typeof v === "string" && v !== "" ? v : undefined;
}

function fromVar(
  env: Record<string, string | undefined>,
  name: string,
  what: string,
): string {
  const v = env[name];
  if (v === undefined || v === "") {
    throw new UsageError(`The variable "${name}" named for the registry ${what} is not set`);
  }
  return v;
}

/** Docker's names for a registry host: Docker Hub is keyed by its index URL. */
function dockerKeys(registry: string): string[] {
  if (registry === DOCKER_HUB) {
    return ["https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io"];
  }
  return [registry, `https://${registry}`, `http://${registry}`, `https://${registry}/v1/`];
}

function onPath(program: string, env: Record<string, string | undefined>): string | undefined {
  for (const dir of (env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, program);
    if (existsSync(p)) return p;
  }
  return undefined;
}

/** Runs `docker-credential-NAME get` for a registry; undefined when it has nothing. */
export function credentialHelper(
  name: string,
  registry: string,
  env: Record<string, string | undefined> = process.env,
): RegistryCredentials | undefined {
  const program = `docker-credential-${name}`;
  const path = onPath(program, env);
  if (!path) return undefined;
  for (const key of dockerKeys(registry)) {
    const r = spawnSync(path, ["get"], {
      input: key,
      env: env as NodeJS.ProcessEnv,
      encoding: "utf8",
      timeout: 30_000,
    });
    if (r.status !== 0) continue;
    try {
      const doc = JSON.parse(r.stdout) as { Username?: string; Secret?: string };
      if (!doc.Secret) continue;
      const source = `the credential helper ${program}`;
      if (doc.Username === "<token>") return { token: doc.Secret, source };
      return { username: doc.Username ?? "", password: doc.Secret, source };
    } catch {
      continue;
    }
  }
  return undefined;
}

/** Credentials for `registry` from a Docker config file, or undefined. */
export function dockerConfigCredentials(
  registry: string,
  opts: { env?: Record<string, string | undefined>; home?: string } = {},
): RegistryCredentials | undefined {
  const env = opts.env ?? process.env;
  const dir = nonEmpty(env.DOCKER_CONFIG) ?? join(opts.home ?? homedir(), ".docker");
  const file = join(dir, "config.json");
  if (!existsSync(file)) return undefined;
  let doc: {
    auths?: Record<
      string,
      {
        auth?: string;
        username?: string;
        password?: string;
        identitytoken?: string;
        registrytoken?: string;
      }
    >;
    credHelpers?: Record<string, string>;
    credsStore?: string;
  };
  try {
    doc = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new UsageError(`Cannot read the Docker config "${file}": ${(e as Error).message}`, {
      cause: e,
    });
  }
  const keys = dockerKeys(registry);
  for (const k of keys) {
    const helper = doc.credHelpers?.[k];
    if (helper) {
      const c = credentialHelper(helper, registry, env);
      if (c) return c;
    }
  }
  for (const k of keys) {
    const a = doc.auths?.[k];
    if (!a) continue;
    const source = `${file} (auths "${k}")`;
    if (a.registrytoken) return { token: a.registrytoken, source };
    if (a.auth) {
      let text: string;
      try {
        text = atob(a.auth);
      } catch {
        throw new UsageError(`Invalid "auth" for "${k}" in "${file}": not base64`);
      }
      const i = text.indexOf(":");
      if (i < 0) throw new UsageError(`Invalid "auth" for "${k}" in "${file}": no "user:password"`);
      return { username: text.slice(0, i), password: text.slice(i + 1), source };
    }
    if (a.identitytoken) return { username: "<token>", password: a.identitytoken, source };
    if (a.username !== undefined && a.password !== undefined) {
      return { username: a.username, password: a.password, source };
    }
  }
  if (doc.credsStore) return credentialHelper(doc.credsStore, registry, env);
  return undefined;
}

/** Resolves credentials for a registry host in the documented order. */
export function resolveRegistryCredentials(
  registry: string,
  opts: RegistryCredentialOptions = {},
): RegistryCredentials | undefined {
  const env = opts.env ?? process.env;
  if (opts.username !== undefined || opts.usernameVariable || opts.passwordVariable) {
    const username = opts.username ??
      (opts.usernameVariable ? fromVar(env, opts.usernameVariable, "user name") : undefined);
    if (username === undefined) {
      throw new UsageError(
        "--oci-password-variable needs a user name: add --oci-username or --oci-username-variable",
      );
    }
    if (!opts.passwordVariable) {
      throw new UsageError(
        "--oci-username needs a password: name its variable with --oci-password-variable",
      );
    }
    const password = fromVar(env, opts.passwordVariable, "password");
    return {
      username,
      password,
      source: `the command line (--oci-username${
        opts.usernameVariable ? "-variable " + opts.usernameVariable : ""
      }, --oci-password-variable ${opts.passwordVariable})`,
    };
  }
  const m = opts.mirror ?? {};
  const of = opts.mirrorName ? ` of mirror "${opts.mirrorName}"` : "";
  const pair = (m.access_pair ?? m.accessPair) as unknown;
  if (pair !== undefined && pair !== null) {
    let id: string | undefined, secret: string | undefined;
    if (Array.isArray(pair)) {
      id = nonEmpty(pair[0]);
      secret = nonEmpty(pair[1]);
    } else if (typeof pair === "object") {
      const p = pair as Record<string, unknown>;
      const idVar = nonEmpty(p.id_variable);
      const secretVar = nonEmpty(p.secret_variable);
      id = nonEmpty(p.id) ?? (idVar ? fromVar(env, idVar, "user name (access_pair)") : undefined);
      secret = nonEmpty(p.secret) ??
        (secretVar ? fromVar(env, secretVar, "password (access_pair)") : undefined);
    }
    if (id !== undefined || secret !== undefined) {
      if (id === undefined || secret === undefined) {
        throw new UsageError(
          `The access_pair${of} gives ${
            id !== undefined ? "a user but no secret" : "a secret but no user"
          }`,
        );
      }
      return { username: id, password: secret, source: `the access_pair${of}` };
    }
  }
  const token = nonEmpty(m.access_token) ??
    (nonEmpty(m.access_token_variable)
      ? fromVar(env, m.access_token_variable as string, "token (access_token_variable)")
      : undefined);
  if (token) return { token, source: `the access_token${of}` };
  const docker = dockerConfigCredentials(registry, { env, home: opts.home });
  if (docker) return docker;
  if (nonEmpty(env.SPACKLE_OCI_USERNAME) !== undefined) {
    const password = nonEmpty(env.SPACKLE_OCI_PASSWORD);
    if (password === undefined) {
      throw new UsageError("SPACKLE_OCI_USERNAME is set but SPACKLE_OCI_PASSWORD is not");
    }
    return {
      username: env.SPACKLE_OCI_USERNAME!,
      password,
      source: "the environment (SPACKLE_OCI_USERNAME, SPACKLE_OCI_PASSWORD)",
    };
  }
  if (nonEmpty(env.SPACKLE_OCI_TOKEN)) {
    return { token: env.SPACKLE_OCI_TOKEN!, source: "the environment (SPACKLE_OCI_TOKEN)" };
  }
  return undefined;
}

/** A provider for RegistryClient resolving in the documented order. */
export function registryCredentials(opts: RegistryCredentialOptions = {}): CredentialsProvider {
  return (registry) => resolveRegistryCredentials(registry, opts);
}
