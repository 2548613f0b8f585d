/**
 * Paths of a v2 (`build_cache/`) build cache, relative to the mirror root (FORMAT.md 2.1, 2.2).
 *
 * @module
 */
import { politeFilename } from "../paths.ts";

/** The v2 directory. */
export const V2_DIR = "build_cache/";
/** The v2 index (a Spack database file). */
export const V2_INDEX = "build_cache/index.json";
/** sha256 hex of the v2 index. */
export const V2_INDEX_HASH = "build_cache/index.json.hash";
/** The v2 key index. */
export const V2_KEY_INDEX = "build_cache/_pgp/index.json";

/** The published key of a fingerprint. */
export function v2KeyPath(fingerprint: string): string {
  return `build_cache/_pgp/${fingerprint}.pub`;
}

/** What names a v2 entry. */
export interface V2Names {
  /** `platform-os-target`. */
  arch: string;
  /** Compiler name, `none` when the spec has none. */
  compilerName: string;
  /** Compiler version, `none` when the spec has none. */
  compilerVersion: string;
  name: string;
  version: string;
  hash: string;
}

/** `<arch>-<compiler>-<compiler version>-<name>-<version>-<hash>`, sanitised. */
export function v2Stem(n: V2Names): string {
  return politeFilename(
    `${n.arch}-${n.compilerName}-${n.compilerVersion}-${n.name}-${n.version}-${n.hash}`,
  );
}

/** The spec file path (`.spec.json.sig` when signed, else `.spec.json`). */
export function v2SpecPath(n: V2Names, signed: boolean): string {
  return `${V2_DIR}${v2Stem(n)}.spec.json${signed ? ".sig" : ""}`;
}

/** The `.spack` tarball path. */
export function v2TarballPath(n: V2Names): string {
  const dir = [n.arch, `${n.compilerName}-${n.compilerVersion}`, `${n.name}-${n.version}`]
    .map(politeFilename).join("/");
  return `${V2_DIR}${dir}/${v2Stem(n)}.spack`;
}

/** The kind and hash of a metadata file directly in `build_cache/`, or undefined. */
export function parseV2SpecPath(
  path: string,
): { hash: string; kind: "json" | "sig" | "yaml"; stem: string } | undefined {
  const m = /^build_cache\/([^/]+-([a-z2-7]{32}))\.spec\.(json\.sig|json|yaml)$/.exec(path);
  if (!m) return undefined;
  return { stem: m[1], hash: m[2], kind: m[3] === "json.sig" ? "sig" : m[3] as "json" | "yaml" };
}
