/**
 * The streaming core: sha256, gzip, tar, stream helpers, and memory pacing.
 *
 * @module
 */
export * from "./base32.ts";
export * from "./digest.ts";
export * from "./gzip.ts";
export * from "./json.ts";
export * from "./memory.ts";
export * from "./streams.ts";
export * from "./tar.ts";
