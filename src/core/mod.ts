/**
 * The streaming core: sha256, gzip, tar, stream helpers, memory pacing, and owners of working
 * directories (pid.ts).
 *
 * @module
 */
export * from "./atomic_file.ts";
export * from "./base32.ts";
export * from "./digest.ts";
export * from "./gzip.ts";
export * from "./json.ts";
export * from "./pool.ts";
export * from "./memory_pacer.ts";
export * from "./pid.ts";
export * from "./posix_lock.ts";
export * from "./streams.ts";
export * from "./tar.ts";
