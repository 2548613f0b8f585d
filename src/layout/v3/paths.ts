/**
 * Paths of a v3 (content-addressed) build cache, relative to the mirror root (FORMAT.md 3.1).
 *
 * @module
 */
import { InvalidDataError } from "../../errors.ts";
import { politeFilename } from "../paths.ts";

/** The directory of the v3 metadata (`layout.json` and manifests). */
export const V3_DIR = "v3/";
/** `v3/layout.json`: its presence marks a v3 mirror. */
export const V3_LAYOUT_JSON = "v3/layout.json";
/** The bytes Spack writes into `v3/layout.json`. */
export const V3_LAYOUT_JSON_TEXT = '{"signing": "gpg"}';
/** Directory of every manifest (spec, key and index manifests). */
export const V3_MANIFEST_DIR = "v3/manifests/";
/** The name ending of every manifest. */
export const V3_MANIFEST_SUFFIX = ".manifest.json";
/** The name ending of spec manifests. */
export const V3_SPEC_MANIFEST_SUFFIX = ".spec.manifest.json";
/** Directory of blobs (`blobs/<algorithm>/<xx>/<checksum>`). */
export const V3_BLOB_DIR = "blobs/";
/** Directory of spec manifests. */
export const V3_SPEC_DIR = "v3/manifests/spec/";
/** Directory of key manifests. */
export const V3_KEY_DIR = "v3/manifests/key/";
/** The key index manifest. */
export const V3_KEY_INDEX_MANIFEST = "v3/manifests/key/keys.manifest.json";

/** The index manifest: the main one, or that of a named index view. */
export function v3IndexManifestPath(view?: string): string {
  if (view !== undefined && !/^[A-Za-z0-9_.+-]+$/.test(view)) {
    throw new InvalidDataError(`Invalid index view name "${view}"`);
  }
  return view
    ? `v3/manifests/index/${view}/index.manifest.json`
    : "v3/manifests/index/index.manifest.json";
}

/** The spec manifest of `name@version/hash`. */
export function v3SpecManifestPath(name: string, version: string, hash: string): string {
  return `${V3_SPEC_DIR}${name}/${politeFilename(`${name}-${version}-${hash}`)}.spec.manifest.json`;
}

/** The key manifest of a fingerprint (40 uppercase hex). */
export function v3KeyManifestPath(fingerprint: string): string {
  return `${V3_KEY_DIR}${fingerprint}.key.manifest.json`;
}

/** The blob path of a checksum: `blobs/<algorithm>/<first two chars>/<checksum>`. */
export function v3BlobPath(checksum: string, algorithm = "sha256"): string {
  if (!/^[0-9a-f]{64}$/.test(checksum)) {
    throw new InvalidDataError(`Invalid blob checksum "${checksum}": not lowercase sha256 hex`);
  }
  return `blobs/${algorithm}/${checksum.slice(0, 2)}/${checksum}`;
}

/**
 * Name, version and hash from a spec manifest path (`v3/manifests/spec/<name>/<name>-<version>-
 * <hash>.spec.manifest.json`), or undefined when the path is not one. The version is the
 * sanitised one of the file name.
 */
export function parseV3SpecManifestPath(
  path: string,
): { name: string; version: string; hash: string } | undefined {
  const m = /^v3\/manifests\/spec\/([^/]+)\/([^/]+)\.spec\.manifest\.json$/.exec(path);
  if (!m) return undefined;
  const [, name, base] = m;
  const stem = base;
  const dash = stem.lastIndexOf("-");
  if (dash < 0 || !stem.startsWith(politeFilename(name) + "-")) return undefined;
  const hash = stem.slice(dash + 1);
  const version = stem.slice(politeFilename(name).length + 1, dash);
  if (!/^[a-z2-7]{32}$/.test(hash) || !version) return undefined;
  return { name, version, hash };
}

/** The fingerprint of a key manifest path, or undefined. */
export function parseV3KeyManifestPath(path: string): string | undefined {
  const m = /^v3\/manifests\/key\/([0-9A-Fa-f]{16,40})\.key\.manifest\.json$/.exec(path);
  return m?.[1];
}
