/**
 * spackle: a library and CLI for Spack binary build caches.
 *
 * A tour, from the bottom up (each level imports only from the ones above it):
 * - `src/core`: sha256, gzip and tar as streams (`digestStream`, `verifyStream`, `gunzipStream`,
 *   `gzipStream`, `readTar`, `writeTar`).
 * - `src/spec`: the spec model, Spack's spec JSON formats 1 to 5, the DAG hash.
 * - `src/sign`: clear signatures, OpenPGP verify and sign, the keyring of trusted keys.
 * - `src/storage`: the `Store` contract and its backends (`openStore`: file, https, s3, memory).
 * - `src/config`: Spack's mirrors.yaml and spackle's own settings.
 * - `src/index`: the build-cache index (Spack's DB JSON).
 * - `src/layout`: v2 and v3 readers, the v3 writer, `openMirror`.
 * - `src/install`, `src/push`: prefixes to and from build-cache entries.
 * - `src/mirror`: whole-mirror operations (migrate, verify, sync, bundle, prune).
 * - `src/web`: dependency graphs, the static report and the local web UI.
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
export * from "./src/spec/mod.ts";
export * from "./src/sign/mod.ts";
export * from "./src/storage/mod.ts";
export * from "./src/config/mod.ts";
export * from "./src/index/mod.ts";
export * from "./src/layout/mod.ts";
export * from "./src/install/mod.ts";
export * from "./src/push/mod.ts";
export * from "./src/mirror/mod.ts";
export * from "./src/web/mod.ts";
