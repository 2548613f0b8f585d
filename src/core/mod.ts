/**
 * The streaming core: sha256, gzip, tar, and stream helpers.
 *
 * @module
 */
export * from "./base32.ts";
export * from "./digest.ts";
export * from "./gzip.ts";
export * from "./json.ts";
export * from "./streams.ts";
export * from "./tar.ts";
