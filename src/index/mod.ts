/**
 * The build-cache index (Spack DB JSON): parse, query, write.
 *
 * @module
 */
export * from "./index.ts";
export * from "./query.ts";
export * from "./writer.ts";
