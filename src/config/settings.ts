/**
 * spackle's own configuration file (YAML): mirrors (in Spack's `mirrors.yaml` spelling),
 * keyring, install root, jobs, CA file, proxy, network timeouts. Found at `--config FILE`, else
 * `SPACKLE_CONFIG`, else `$XDG_CONFIG_HOME/spackle/config.yaml` (`~/.config/spackle/config.yaml`).
 *
 * ```yaml
 * mirrors:
 *   site: https://cache.example.org/spack
 *   local: {url: /srv/mirror, signed: false}
 * keyring: ~/.config/spackle/keyring
 * install_root: /opt/spack
 * jobs: 8
 * ca_file: /etc/ssl/site-ca.pem
 * proxy: http://proxy.example.org:3128
 * connect_timeout: 30     # seconds to wait for a server's answer (0: no limit)
 * read_timeout: 60        # longest pause inside a download, in seconds (0: no limit)
 * spack_mirrors: true     # also read Spack's mirrors.yaml scopes (default true)
 * ```
 *
 * Environment variables win over the file: SPACKLE_ROOT, SPACKLE_KEYRING, SPACKLE_JOBS,
 * SSL_CERT_FILE, HTTPS_PROXY, SPACKLE_CONNECT_TIMEOUT, SPACKLE_READ_TIMEOUT.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { errorMessage, InvalidDataError, NotFoundError, UsageError } from "../errors.ts";
import { writeFileAtomicSync } from "../core/atomic_file.ts";
import {
  loadSpackMirrors,
  type MirrorConfig,
  mirrorsSection,
  parseYaml,
  resolveMirror,
  spackScopes,
  urlOrPathToUrl,
} from "./mirrors_yaml.ts";

type Env = Record<string, string | undefined>;

function processEnv(): Env {
  return (globalThis as { process?: { env: Env } }).process?.env ?? {};
}

/** spackle's settings, after the file and the environment. */
export interface Settings {
  /** The config file read (it may not exist). */
  path: string;
  exists: boolean;
  /** Mirrors configured in spackle's file, in file order. */
  mirrors: MirrorConfig[];
  keyring?: string;
  installRoot?: string;
  jobs?: number;
  caFile?: string;
  proxy?: string;
  /** Seconds to wait for a server's response headers (`connect_timeout`, SPACKLE_CONNECT_TIMEOUT). */
  connectTimeout?: number;
  /** Longest pause in seconds inside a body (`read_timeout`, SPACKLE_READ_TIMEOUT). */
  readTimeout?: number;
  /** Whether Spack's mirrors.yaml scopes are read too (default true). */
  spackMirrors: boolean;
}

/** The config file path: `flag`, else SPACKLE_CONFIG, else the per-user location. */
export function configPath(flag?: string, env: Env = processEnv()): string {
  if (flag) return resolve(flag);
  if (env.SPACKLE_CONFIG?.trim()) return resolve(env.SPACKLE_CONFIG);
  const base = env.XDG_CONFIG_HOME ? env.XDG_CONFIG_HOME : join(homedir(), ".config");
  return join(base, "spackle", "config.yaml");
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    if ((e as { code?: string }).code === "ENOENT") return undefined;
    throw new InvalidDataError(`Cannot read the config file "${path}": ${errorMessage(e)}`, {
      cause: e,
    });
  }
}

function str(doc: Record<string, unknown>, key: string, path: string): string | undefined {
  const v = doc[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") {
    throw new InvalidDataError(`${path}: "${key}" must be a string, not ${JSON.stringify(v)}`);
  }
  return v;
}

function expandHome(p: string | undefined, base: string): string | undefined {
  if (p === undefined) return undefined;
  if (p === "~" || p.startsWith("~/")) return join(homedir(), p.slice(1));
  return resolve(base, p);
}

/** Reads spackle's settings from `path` (see `configPath`), with the environment on top. */
export async function loadSettings(path: string, env: Env = processEnv()): Promise<Settings> {
  const text = readText(path);
  const base = dirname(path);
  let doc: Record<string, unknown> = {};
  if (text !== undefined) {
    const parsed = await parseYaml(text, `the config file "${path}"`);
    if (parsed !== null && parsed !== undefined) {
      if (typeof parsed !== "object" || Array.isArray(parsed)) {
        throw new InvalidDataError(`The config file "${path}" is not a mapping`);
      }
      doc = parsed as Record<string, unknown>;
    }
  }
  const { mirrors: raw } = mirrorsSection(doc, `"${path}"`);
  const mirrors = Object.entries(raw).map(([k, v]) =>
    resolveMirror(k.replace(/:$/, ""), v, "spackle", base)
  );
  // An empty or blank variable counts as unset (`SPACKLE_JOBS=${JOBS:-} spackle ...`). A bad
  // value in a variable is a usage error (exit 2), one in the config file invalid data.
  const fromEnv = (name: string) => (env[name]?.trim() ? env[name] : undefined);
  const bad = (envName: string, why: string) =>
    fromEnv(envName) !== undefined
      ? new UsageError(`${why} (${envName})`)
      : new InvalidDataError(`${why} (${path})`);
  let jobs: number | undefined;
  const jobsRaw = fromEnv("SPACKLE_JOBS") ?? doc.jobs;
  if (jobsRaw !== undefined && jobsRaw !== null) {
    jobs = Number(jobsRaw);
    if (!Number.isInteger(jobs) || jobs < 1) {
      throw bad(
        "SPACKLE_JOBS",
        `jobs must be a whole number above 0, not ${JSON.stringify(jobsRaw)}`,
      );
    }
  }
  const secs = (key: string, envName: string): number | undefined => {
    const raw = fromEnv(envName) ?? doc[key];
    if (raw === undefined || raw === null || raw === "") return undefined;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < 0) {
      throw bad(
        envName,
        `${key} must be a number of seconds (0 for no limit), not ${JSON.stringify(raw)}`,
      );
    }
    return n;
  };
  const connectTimeout = secs("connect_timeout", "SPACKLE_CONNECT_TIMEOUT");
  const readTimeout = secs("read_timeout", "SPACKLE_READ_TIMEOUT");
  const sm = doc.spack_mirrors;
  if (sm !== undefined && sm !== null && typeof sm !== "boolean") {
    throw new InvalidDataError(`${path}: "spack_mirrors" must be true or false`);
  }
  return {
    path,
    exists: text !== undefined,
    mirrors,
    keyring: fromEnv("SPACKLE_KEYRING") || expandHome(str(doc, "keyring", path), base),
    installRoot: fromEnv("SPACKLE_ROOT") || expandHome(str(doc, "install_root", path), base),
    jobs,
    caFile: env.SSL_CERT_FILE || expandHome(str(doc, "ca_file", path), base),
    proxy: env.HTTPS_PROXY || env.https_proxy || str(doc, "proxy", path),
    connectTimeout,
    readTimeout,
    spackMirrors: sm !== false,
  };
}

/**
 * Every configured mirror: spackle's own first, then Spack's scopes (`spackFile` is a
 * mirrors.yaml given by flag). A name in spackle's file hides the same name in Spack's.
 */
export async function configuredMirrors(
  settings: Settings,
  opts: { spackFile?: string; env?: Env; home?: string } = {},
): Promise<MirrorConfig[]> {
  const out = [...settings.mirrors];
  if (settings.spackMirrors || opts.spackFile) {
    const scopes = spackScopes({ file: opts.spackFile, env: opts.env, home: opts.home });
    const usable = settings.spackMirrors ? scopes : scopes.filter((s) => s.name === "command_line");
    for (const m of await loadSpackMirrors(usable)) {
      if (!out.some((o) => o.name === m.name)) out.push(m);
    }
  }
  return out;
}

/** Fields `addMirror` may set besides the URL. */
export interface MirrorFields {
  signed?: boolean;
  view?: string;
  push?: string;
  profile?: string;
  endpoint_url?: string;
  region?: string;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

async function editDoc(
  path: string,
  edit: (doc: import("yaml").Document) => void,
): Promise<void> {
  const { parseDocument } = await import("yaml");
  const text = readText(path) ?? "";
  const doc = parseDocument(text, { logLevel: "error" });
  if (doc.errors.length) {
    throw new InvalidDataError(
      `Cannot parse the config file "${path}": ${doc.errors[0].message}`,
    );
  }
  if (doc.contents === null) (doc as { contents: unknown }).contents = doc.createNode({});
  edit(doc);
  writeFileAtomicSync(path, doc.toString());
}

/**
 * Adds mirror `name` to spackle's config file at `path` (created when missing), keeping the
 * file's comments and layout. A name already there is an error unless `replace`.
 */
export async function addMirror(
  path: string,
  name: string,
  url: string,
  fields: MirrorFields = {},
  opts: { replace?: boolean; cwd?: string } = {},
): Promise<MirrorConfig> {
  if (!NAME.test(name) || name.includes("/")) {
    throw new UsageError(
      `Invalid mirror name "${name}": use letters, digits, ".", "_" and "-" (no "/")`,
    );
  }
  // Paths are stored absolute, so that the file means the same from any directory.
  const stored = urlOrPathToUrl(
    url,
    opts.cwd ?? (globalThis as { process?: { cwd(): string } })
      .process?.cwd() ??
      ".",
  );
  const entry: Record<string, unknown> = {};
  const extra = Object.entries(fields).filter(([, v]) => v !== undefined);
  let value: unknown = stored;
  if (extra.length) {
    entry.url = stored;
    for (const [k, v] of extra) {
      entry[k] = k === "push" ? urlOrPathToUrl(v as string, opts.cwd ?? ".") : v;
    }
    value = entry;
  }
  await editDoc(path, (doc) => {
    if (!opts.replace && doc.hasIn(["mirrors", name])) {
      throw new UsageError(
        `A mirror named "${name}" is already configured in "${path}" (remove it first, or use --replace)`,
      );
    }
    if (!doc.has("mirrors") || doc.get("mirrors") === null) doc.set("mirrors", doc.createNode({}));
    doc.setIn(["mirrors", name], doc.createNode(value, { flow: extra.length > 0 }));
  });
  return resolveMirror(name, value, "spackle", dirname(path));
}

/** Removes mirror `name` from spackle's config file, keeping comments. */
export async function removeMirror(path: string, name: string): Promise<void> {
  if (readText(path) === undefined) {
    throw new NotFoundError(`No mirror named "${name}": the config file "${path}" does not exist`);
  }
  await editDoc(path, (doc) => {
    if (!doc.hasIn(["mirrors", name])) {
      throw new NotFoundError(`No mirror named "${name}" in "${path}"`);
    }
    doc.deleteIn(["mirrors", name]);
  });
}
