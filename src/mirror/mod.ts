/**
 * Whole-mirror operations: migrate, sync, verify, bundle, prune, download; trusted keys.
 *
 * @module
 */
export {
  type Finding,
  type FindingKind,
  VERIFY_FLAGS,
  verifyMirror,
  type VerifyOptions,
  type VerifyReport,
} from "./verify.ts";
export {
  copyTrust,
  type PublishedKey,
  publishedKeys,
  type TrustedKeys,
  trustedVerifier,
} from "./trust_policy.ts";
export { verifierFromKeys } from "./trusted_keys.ts";
export {
  type DownloadedFile,
  type DownloadedSpec,
  type DownloadOptions,
  type DownloadPlan,
  type DownloadResult,
  downloadSpecs,
  specsToDownload,
} from "./download.ts";
export { migrate, type MigratedSpec, type MigrateOptions, type MigrateResult } from "./migrate.ts";
export {
  type SyncedEntry,
  type SyncEvent,
  syncMirror,
  type SyncOptions,
  type SyncResult,
} from "./sync.ts";
export {
  parseKeepFile,
  type PruneItem,
  pruneMirror,
  type PruneOptions,
  type PruneProgress,
  type PruneResult,
} from "./prune.ts";
export { type BundleEvent, bundleMirror, type BundleOptions, type BundleResult } from "./bundle.ts";
export {
  type LockCheckOptions,
  lockMissingError,
  missingLockSpecs,
  type RefLookup,
  requireLockSpecs,
} from "./lockfile.ts";
export { needsEntrySync, syncEntries } from "./oci_sync.ts";
export { verifyOciMirror } from "./oci_verify.ts";
