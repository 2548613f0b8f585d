/**
 * The build-cache index (Spack DB JSON): parse, query, write.
 *
 * @module
 */
export * from "./db.ts";
export * from "./writer.ts";
export {
  archOfNode,
  INDEX_VERSIONS,
  parseIndexJson,
  SpackIndex,
  specFormatOfDbVersion,
} from "./index.ts";
export * from "./query.ts";
