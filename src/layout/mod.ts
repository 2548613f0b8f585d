/**
 * Build-cache layouts: media types, manifests, detection, v2 and v3 readers, the v3 writer.
 *
 * @module
 */
export type * from "./types.ts";
