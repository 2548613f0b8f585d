/**
 * spackle: a library and CLI for Spack binary build caches.
 *
 * A tour:
 * - `src/core`: sha256, gzip and tar as streams (`digestStream`, `verifyStream`, `gunzipStream`,
 *   `gzipStream`, `readTar`, `writeTar`).
 * - `src/storage`: the `Store` contract and its backends (`openStore`).
 *
 * @example
 * ```ts
 * import { sha256Hex } from "./mod.ts";
 * sha256Hex("abc"); // "ba7816bf..."
 * ```
 *
 * @module
 */
export * from "./src/errors.ts";
export * from "./src/core/mod.ts";
export * from "./src/version.ts";
export * from "./src/selfcheck.ts";
export type * from "./src/storage/store.ts";
export { MemoryStore } from "./src/storage/memory.ts";
