/**
 * The build-cache index (Spack DB JSON): parse, query, write.
 *
 * @module
 */
export * from "./db.ts";
export * from "./writer.ts";
export * from "./query.ts";
export * from "./sort.ts";
export * from "./lockfile.ts";
export * from "./install_db.ts";
