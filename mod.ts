/**
 * spackle: a library and CLI for Spack binary build caches.
 *
 * A tour, from the bottom up (each level imports only from the ones above it); the exports below
 * follow it, one group per level:
 * - errors and version: `SpackleError` and its kinds, `VERSION`, `selfCheck`.
 * - `src/core`: sha256, gzip and tar as streams (`digestStream`, `verifyStream`, `gunzipStream`,
 *   `gzipStream`, `readTar`, `writeTar`), Python-compatible JSON (`pyJsonDumps`).
 * - `src/spec`: the spec model, Spack's spec JSON formats 1 to 5, the DAG hash.
 * - `src/sign`: clear signatures, OpenPGP verify and sign, the keyring of trusted keys.
 * - `src/storage`: the `Store` contract and its backends (`openStore`: file, https, s3, memory,
 *   bundle).
 * - `src/config`: Spack's mirrors.yaml and spackle's own settings.
 * - `src/index`: the build-cache index (Spack's DB JSON) and spec queries.
 * - `src/layout`: v2 and v3 readers, the v3 writer, `openMirror`.
 * - `src/install`, `src/push`: prefixes to and from build-cache entries.
 * - `src/tree`: an install tree's specs (find, uninstall, gc), `load` and views.
 * - `src/mirror`: whole-mirror operations (migrate, verify, sync, bundle, prune).
 * - `src/web`: dependency graphs, the static report and the local web UI.
 *
 * Everything else under `src/` is internal and may change without notice.
 *
 * @example Hash a text
 * ```ts
 * import { sha256Hex } from "./mod.ts";
 * sha256Hex("abc"); // "ba7816bf..."
 * ```
 *
 * @module
 */

// ---- errors and version ------------------------------------------------------------------------
export {
  type ErrorCode,
  errorCode,
  errorMessage,
  IntegrityError,
  InvalidDataError,
  NotFoundError,
  SignatureError,
  SpackleError,
  TransportError,
  UnsupportedError,
  UsageError,
} from "./src/errors.ts";
export { COMMIT, TARGET, VERSION } from "./src/version.ts";
export { type CheckResult, selfCheck } from "./src/selfcheck.ts";

// ---- core: digests, gzip, tar, streams, Python-compatible JSON ---------------------------------
export {
  type Digest,
  digestFile,
  type DigestResult,
  digestStream,
  sha256Hex,
  verifyStream,
} from "./src/core/digest.ts";
export { gunzipBytes, gunzipStream, gzipBytes, gzipStream, isGzip } from "./src/core/gzip.ts";
export {
  readTar,
  type TarEntry,
  type TarEntryType,
  type TarHeader,
  type TarWriteEntry,
  writeTar,
} from "./src/core/tar.ts";
export {
  collect,
  collectText,
  drain,
  streamOf,
  toNodeStream,
  toWebStream,
} from "./src/core/streams.ts";
export { PyFloat, pyJsonDumps, type PyJsonOptions } from "./src/core/json.ts";
// Bounds the peak memory of long streaming jobs under Bun (the CLI paces its large outputs with it).
export {
  delayOptimizingJit,
  MemoryPacer,
  type MemoryPacerOptions,
} from "./src/core/memory_pacer.ts";

// ---- spec: the spec model and the DAG hash -----------------------------------------------------
export type { DepType, SpecArch, SpecDag, SpecDependency, SpecNode } from "./src/spec/types.ts";
export { type ClosureOptions, parseSpecJson, runtimeClosure } from "./src/spec/parse.ts";
export { checkDagHash, dagHash, type DagHashCheck, type DagHashRule } from "./src/spec/dag_hash.ts";
export { specsToRelocate } from "./src/spec/traverse.ts";

// ---- sign: clear signatures, verifying, signing, keys ------------------------------------------
export type { Signer, Verifier } from "./src/sign/types.ts";
export { type ClearsignedParts, isClearsigned, splitClearsigned } from "./src/sign/clearsign.ts";
export {
  defaultKeyringDir,
  type KeyInfo,
  keyInfo,
  Keyring,
  normaliseFingerprint,
  readArmoredKeys,
  writeNewFile,
} from "./src/sign/keyring.ts";
export {
  KeyringVerifier,
  keyringVerifier,
  type KeyringVerifierOptions,
} from "./src/sign/verify.ts";
export {
  needsPassphrase,
  PASSPHRASE_ENV,
  signerFromArmored,
  signerFromKeyring,
} from "./src/sign/sign.ts";
export {
  type CreatedKey,
  createKey,
  type CreateKeyOptions,
  type KeyType,
} from "./src/sign/keygen.ts";

// ---- storage: the Store contract and its backends ----------------------------------------------
export {
  canPlaceFiles,
  type CopyFromOptions,
  isWritable,
  type ListedObject,
  type ReadStore,
  type Store,
  type StoreCallOptions,
  type StoreReadOptions,
  type StoreStat,
  type WriteOptions,
} from "./src/storage/store.ts";
export { openStore, type OpenStoreOptions, storeUrl } from "./src/storage/open.ts";
export { MemoryStore } from "./src/storage/memory.ts";
export { FileStore } from "./src/storage/file.ts";
export { HttpsStore, type HttpsStoreOptions } from "./src/storage/http_store.ts";
export { openS3Store, type S3Options, S3Store } from "./src/storage/s3.ts";
export { type BundleItem, BundleStore, writeBundle } from "./src/storage/bundle.ts";
export { retryMessage, type RetryOptions, retryStore } from "./src/storage/retry.ts";
export { isRegistryStore } from "./src/storage/registry/store.ts";
export { type ImageRef, ociUrl, parseImageRef } from "./src/storage/registry/reference.ts";

// ---- config: Spack's mirrors.yaml, spackle's settings ------------------------------------------
export {
  loadSpackMirrors,
  type MirrorConfig,
  type MirrorConnection,
  resolveMirror,
  type Scope,
  spackScopes,
} from "./src/config/mirrors_yaml.ts";
export {
  addMirror,
  configPath,
  configuredMirrors,
  loadSettings,
  type MirrorFields,
  removeMirror,
  type Settings,
} from "./src/config/settings.ts";
export {
  type ConfigFlags,
  configuredMirrorResolver,
  loadConfiguredMirrors,
  type MirrorNameResolver,
  type MirrorSource,
  mirrorSources,
  type ResolvedMirror,
  resolveMirrorArg,
} from "./src/config/mirror_names.ts";

// ---- index: Spack's database JSON and spec queries ---------------------------------------------
export {
  type IndexDb,
  type IndexQuery,
  type IndexRecord,
  parseIndexDb,
  validateIndexDb,
} from "./src/index/db.ts";
export {
  buildcacheRecords,
  buildIndexJson,
  type BuildIndexOptions,
  type IndexWriteRecord,
} from "./src/index/writer.ts";
export {
  compareVersions,
  filterRecords,
  matchesAnyQuery,
  matchesQuery,
  parseQuery,
  parseSpecQuery,
  type QueryableRecord,
  type RecordQuery,
  versionSatisfies,
} from "./src/index/query.ts";
export { type SortableRecord, sortRecords } from "./src/index/sort.ts";

// ---- layout: build-cache layouts, readers and writer -------------------------------------------
export type {
  CacheReader,
  Descriptor,
  Entry,
  EntryRef,
  ReadOptions,
  TarballSource,
} from "./src/layout/types.ts";
export { MEDIA_TYPES, type MediaType } from "./src/layout/media_types.ts";
export {
  type Manifest,
  type ManifestRecord,
  parseManifest,
  serializeManifest,
} from "./src/layout/manifest.ts";
export { isDagHash } from "./src/layout/paths.ts";
export {
  parseV3SpecManifestPath,
  v3BlobPath,
  v3IndexManifestPath,
  v3SpecManifestPath,
} from "./src/layout/v3/paths.ts";
export { v2SpecPath, v2TarballPath } from "./src/layout/v2/paths.ts";
export { V2Reader, type V2ReaderOptions } from "./src/layout/v2/reader.ts";
export { V3Reader, type V3ReaderOptions } from "./src/layout/v3/reader.ts";
export { type V3PushOptions, type V3PushResult, V3Writer } from "./src/layout/v3/writer.ts";
export { type OciPushOptions, type OciPushResult, OciWriter } from "./src/layout/oci/writer.ts";
export { detectLayout, type LayoutInfo } from "./src/layout/detect.ts";
export {
  type Mirror,
  type MirrorLike,
  type MirrorSet,
  openMirror,
  type OpenMirrorOptions,
  openMirrors,
} from "./src/layout/open.ts";
export {
  type Lockfile,
  LOCKFILE_VERSIONS,
  lockfileClosure,
  lockfileSpecs,
  type LockRoot,
  parseLockfile,
} from "./src/index/lockfile.ts";

// ---- install and push: prefixes from and to build-cache entries --------------------------------
export {
  DEFAULT_PROJECTION,
  type InstalledSpec,
  type InstallOptions,
  type InstallProgress,
  type InstallResult,
  type InstallSource,
  installSpecs,
  projectPrefix,
} from "./src/install/install.ts";
export {
  dbSource,
  type InstalledPrefix,
  type InstalledSource,
  openDbSource,
  prefixSource,
  type PushedSpec,
  type PushOptions,
  pushSpecs,
  specsToPush,
} from "./src/push/push.ts";
export { updateIndex, type UpdateIndexResult } from "./src/push/update_index.ts";

// ---- tree: an install tree's specs, load and views --------------------------------------------
export {
  addToView,
  applyModifications,
  findInstalled,
  type FoundSpec,
  type InstallTree,
  type LinkType,
  LOADED_HASHES_VAR,
  loadModifications,
  openInstallTree,
  type PathMod,
  planUninstall,
  removeFromView,
  resolveInstalled,
  type Shell,
  shellCode,
  uninstall,
  type UninstallPlan,
  unusedSpecs,
  viewClosure,
  viewModifications,
} from "./src/tree/mod.ts";
export { found as foundSpec } from "./src/tree/manage.ts";

// ---- mirror: whole-mirror operations -----------------------------------------------------------
export {
  type Finding,
  type FindingKind,
  VERIFY_FLAGS,
  verifyMirror,
  type VerifyOptions,
  type VerifyReport,
} from "./src/mirror/verify.ts";
export {
  copyTrust,
  type PublishedKey,
  publishedKeys,
  type TrustedKeys,
  trustedVerifier,
} from "./src/mirror/trust_policy.ts";
export { verifierFromKeys } from "./src/mirror/trusted_keys.ts";
export {
  type DownloadedFile,
  type DownloadedSpec,
  type DownloadOptions,
  type DownloadPlan,
  type DownloadResult,
  downloadSpecs,
  specsToDownload,
} from "./src/mirror/download.ts";
export {
  migrate,
  type MigratedSpec,
  type MigrateOptions,
  type MigrateResult,
} from "./src/mirror/migrate.ts";
export {
  type SyncedEntry,
  type SyncEvent,
  syncMirror,
  type SyncOptions,
  type SyncResult,
} from "./src/mirror/sync.ts";
export {
  parseKeepFile,
  type PruneItem,
  pruneMirror,
  type PruneOptions,
  type PruneProgress,
  type PruneResult,
} from "./src/mirror/prune.ts";
export {
  type BundleEvent,
  bundleMirror,
  type BundleOptions,
  type BundleResult,
} from "./src/mirror/bundle.ts";
export {
  type LockCheckOptions,
  missingLockSpecs,
  requireLockSpecs,
} from "./src/mirror/lockfile.ts";

// ---- web: dependency graphs, the static report, the local web UI -------------------------------
export {
  type Graph,
  type GraphEdge,
  type GraphNode,
  type GraphOptions,
  layoutGraph,
  specGraph,
  toDot,
  toMermaid,
  toSvg,
} from "./src/web/graph.ts";
export { type CollectOptions, collectSite, type SiteData, type SiteSpec } from "./src/web/site.ts";
export { type ReportResult, writeReportDir, writeReportStore } from "./src/web/report.ts";
export { browserScript } from "./src/web/site.ts";
export { type RunningServer, type ServeOptions, serveSite } from "./src/web/serve.ts";
