/**
 * The spec model: parsing Spack spec JSON (formats 1 to 5) and the DAG hash.
 *
 * @module
 */
export type * from "./types.ts";
export * from "./parse.ts";
export * from "./schema.ts";
export * from "./dag_hash.ts";
export * from "./traverse.ts";
