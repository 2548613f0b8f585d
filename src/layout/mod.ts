/**
 * Build-cache layouts: media types, manifests, detection, v2 and v3 readers, the v3 writer.
 *
 * @module
 */
export type * from "./types.ts";
export * from "./media_types.ts";
export * from "./manifest.ts";
export { CLEARSIGN_HEAD } from "./signed_metadata.ts";
export { isDagHash, politeFilename } from "./paths.ts";
export * from "./v3/paths.ts";
export * from "./v2/paths.ts";
export { V3Reader, type V3ReaderOptions } from "./v3/reader.ts";
export {
  LEGACY_NESTED_REASON,
  LEGACY_YAML_REASON,
  V2Reader,
  type V2ReaderOptions,
} from "./v2/reader.ts";
export { detectLayout, type LayoutInfo } from "./detect.ts";
export { checkSubstitution } from "./substitution.ts";
export { signatureWarning } from "./_read.ts";
export {
  type Mirror,
  type MirrorLike,
  type MirrorSet,
  openMirror,
  type OpenMirrorOptions,
  openMirrors,
  pickOne,
  RUNTIME_DEP_TYPES,
} from "./open.ts";
export { specBlobText, type V3PushOptions, type V3PushResult, V3Writer } from "./v3/writer.ts";
export { isSpecTag, OCI_INDEX_TAG, OciReader, ociSpecTag, parseSpecTag } from "./oci/reader.ts";
export { OCI_MEDIA, type OciPushResult, type OciTarballSource, OciWriter } from "./oci/writer.ts";
