/**
 * OCI mirror URLs (`oci://HOST[:PORT]/REPO`, `oci+http://...` for plain HTTP) and image
 * references, with Docker Hub's naming rules as Spack applies them: no registry host means
 * Docker Hub (`index.docker.io`, served at `registry-1.docker.io`), a one-component name gets
 * `library/`, a first component without a dot, a colon or "localhost" is part of the name,
 * and names are lower-cased. Tags are `[\w][\w.-]{0,127}`.
 *
 * @module
 */
import { UsageError } from "../../errors.ts";

/** Where a repository lives. */
export interface RepositoryRef {
  /** "https" for oci://, "http" for oci+http://. */
  scheme: "https" | "http";
  /** The registry as named (`ghcr.io`, `127.0.0.1:5000`, `index.docker.io`). */
  domain: string;
  /** The repository name (`org/cache`), lower-cased. */
  name: string;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN =
  /^(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?$/;

/** Docker Hub's registry as image names spell it. */
export const DOCKER_HUB = "index.docker.io";

/** True for `oci://` and `oci+http://` URLs. */
export function isOciUrl(url: string | URL): boolean {
  const s = typeof url === "string" ? url : url.href;
  return /^oci(\+http)?:\/\//i.test(s);
}

/**
 * Parses an oci:// or oci+http:// URL into a repository reference (a trailing "/" and a
 * `:tag` are not allowed: a mirror is a whole repository). UsageError when malformed.
 */
export function parseOciUrl(url: string | URL): RepositoryRef {
  const s = (typeof url === "string" ? url : url.href).trim();
  const m = /^(oci|oci\+http):\/\/(.*)$/i.exec(s);
  if (!m) throw new UsageError(`Invalid OCI URL "${s}": use oci://HOST[:PORT]/REPO`);
  const scheme = m[1].toLowerCase() === "oci" ? "https" : "http";
  const rest = m[2].replace(/\/+$/, "");
  if (rest === "") throw new UsageError(`Invalid OCI URL "${s}": no repository named`);
  if (rest.includes("@") || /[?#]/.test(rest)) {
    throw new UsageError(
      `Invalid OCI URL "${s}": a mirror is a repository, without a tag, digest or query`,
    );
  }
  const parts = rest.split("/");
  let domain: string;
  let path: string[];
  const first = parts[0];
  if (
    parts.length > 1 &&
    (first.includes(".") || first.includes(":") || first === "localhost" ||
      first !== first.toLowerCase())
  ) {
    domain = first;
    path = parts.slice(1);
  } else {
    domain = DOCKER_HUB;
    path = parts.length === 1 ? ["library", ...parts] : parts;
  }
  if (!DOMAIN.test(domain)) {
    throw new UsageError(`Invalid OCI URL "${s}": bad registry "${domain}"`);
  }
  const last = path.at(-1)!;
  if (/:[\w][\w.-]*$/.test(last)) {
    throw new UsageError(
      `Invalid OCI URL "${s}": a mirror is a repository, without a tag ("${last}")`,
    );
  }
  const name = path.join("/").toLowerCase();
  for (const c of name.split("/")) {
    if (!COMPONENT.test(c)) {
      throw new UsageError(
        `Invalid OCI URL "${s}": "${c}" is not a valid repository name component (lowercase letters, digits and . _ - separators)`,
      );
    }
  }
  if (domain === "docker.io" || domain === "registry-1.docker.io") domain = DOCKER_HUB;
  return { scheme, domain, name };
}

/** The URL of a repository reference (`oci://domain/name` or `oci+http://...`). */
export function ociUrl(ref: RepositoryRef): string {
  return `${ref.scheme === "https" ? "oci" : "oci+http"}://${ref.domain}/${ref.name}`;
}

/** The HTTP base of the registry API (`https://host/v2/`); Docker Hub is registry-1.docker.io. */
export function apiBase(ref: RepositoryRef): URL {
  const host = ref.domain === DOCKER_HUB ? "registry-1.docker.io" : ref.domain;
  return new URL(`${ref.scheme}://${host}/v2/`);
}

/** Spack's tag rule: characters outside `[\w.-]` become "_", over 128 keep 64 + 64. */
export function ensureValidTag(tag: string): string {
  const s = tag.replace(/[^\w.-]/g, "_");
  return s.length > 128 ? s.slice(0, 64) + s.slice(-64) : s;
}

/** True when `tag` is a valid OCI tag. */
export function isValidTag(tag: string): boolean {
  return /^[\w][\w.-]{0,127}$/.test(tag);
}

/** An image: a repository and a tag or digest (`ubuntu:24.04`, `ghcr.io/o/i@sha256:...`). */
export interface ImageRef extends RepositoryRef {
  /** The tag, or the digest (`sha256:...`) when one was given. */
  reference: string;
}

/**
 * Parses an image reference as Docker (and Spack's `--base-image`) does: `[HOST/]NAME[:TAG][@DIGEST]`,
 * the tag `latest` when none is given, Docker Hub rules for the host; an `oci://` or
 * `oci+http://` prefix is accepted (the latter for plain-HTTP registries).
 */
export function parseImageRef(text: string): ImageRef {
  let s = text.trim();
  let scheme: "https" | "http" = "https";
  const m = /^(oci|oci\+http):\/\//i.exec(s);
  if (m) {
    scheme = m[1].toLowerCase() === "oci" ? "https" : "http";
    s = s.slice(m[0].length);
  }
  let reference = "latest";
  const at = s.indexOf("@");
  if (at >= 0) {
    reference = s.slice(at + 1);
    s = s.slice(0, at);
    if (!/^sha256:[0-9a-f]{64}$/.test(reference)) {
      throw new UsageError(`Invalid image "${text}": the digest must be sha256:<64 hex digits>`);
    }
  }
  const slash = s.lastIndexOf("/");
  const colon = s.lastIndexOf(":");
  if (colon > slash) {
    const tag = s.slice(colon + 1);
    s = s.slice(0, colon);
    if (at < 0) reference = tag;
    if (!isValidTag(tag)) throw new UsageError(`Invalid image "${text}": bad tag "${tag}"`);
  }
  const repo = parseOciUrl(`${scheme === "https" ? "oci" : "oci+http"}://${s}`);
  return { ...repo, reference };
}
