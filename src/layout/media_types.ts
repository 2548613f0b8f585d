/**
 * The media types Spack writes into v3 manifests (FORMAT.md 3.4). Records are selected by
 * exact match on the media type.
 *
 * @module
 */

/** Media types of v3 manifest records. */
export const MEDIA_TYPES = {
  /** A package tarball (gzip-compressed tar of the install prefix). */
  tarball: "application/vnd.spack.install.v2.tar+gzip",
  /** Spec metadata, spec-file format 5 (gzip-compressed JSON). */
  spec: "application/vnd.spack.spec.v5+json",
  /** The buildcache index (Spack database version 8, uncompressed JSON). */
  index: "application/vnd.spack.db.v8+json",
  /** An armored public key. */
  key: "application/pgp-keys",
  /** The key index `{"keys":{"<FPR>":{}}}`. */
  keyIndex: "application/vnd.spack.keyindex.v1+json",
} as const;

/** One of the media types spackle knows. */
export type MediaType = typeof MEDIA_TYPES[keyof typeof MEDIA_TYPES];

/** True for spec media types of any spec-file version (`application/vnd.spack.spec.vN+json`). */
export function isSpecMediaType(t: string): boolean {
  return /^application\/vnd\.spack\.spec\.v\d+\+json$/.test(t);
}

/** True for index media types of any database version (`application/vnd.spack.db.vN+json`). */
export function isIndexMediaType(t: string): boolean {
  return /^application\/vnd\.spack\.db\.v\d+\+json$/.test(t);
}
