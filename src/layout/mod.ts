/**
 * Build-cache layouts: media types, manifests, detection, v2 and v3 readers, the v3 writer.
 *
 * @module
 */
export type * from "./types.ts";
export * from "./media_types.ts";
export * from "./manifest.ts";
export * from "./clearsign.ts";
export { isDagHash, politeFilename } from "./paths.ts";
export * from "./v3/paths.ts";
export * from "./v2/paths.ts";
export { V3Reader, type V3ReaderOptions } from "./v3/reader.ts";
