/**
 * Storage: the Store contract and its backends.
 *
 * @module
 */
export type * from "./store.ts";
export { canPlaceFiles, isWritable } from "./store.ts";
export { MemoryStore } from "./memory.ts";
export { FileStore } from "./file.ts";
export {
  bypassesProxy,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_READ_TIMEOUT_MS,
  type HttpOptions,
  loadCaCerts,
  makeFetch,
  proxyFor,
  redact,
  retryAfterMs,
  statusError,
} from "./http_client.ts";
export {
  backoffDelay,
  isTemporary,
  retryMessage,
  type RetryOptions,
  retryStore,
  withRetry,
} from "./retry.ts";
export { type ReopenedBody, type ResumeOptions, resumingBody } from "./resume.ts";
export { HttpsStore, type HttpsStoreOptions } from "./http_store.ts";
export { checkStorePath } from "./path.ts";
export { openStore, type OpenStoreOptions, storeUrl } from "./open.ts";
export { BUNDLE_MARKER, type BundleItem, BundleStore, writeBundle } from "./bundle.ts";
export { encodeKey, openS3Store, type S3NetOptions, type S3Options, S3Store } from "./s3.ts";
export {
  maskKeyId,
  resolveS3Settings,
  type S3AccessPair,
  type S3CredentialOptions,
  type S3Credentials,
  s3OptionsFrom,
  type S3Settings,
} from "./s3_credentials.ts";
export {
  type ClientStats,
  type CredentialsProvider,
  type FetchedManifest,
  RegistryClient,
  type RegistryClientOptions,
  type RegistryCredentials,
  type UploadResult,
} from "./registry/client.ts";
export {
  apiBase,
  DOCKER_HUB,
  ensureValidTag,
  type ImageRef,
  isOciUrl,
  ociUrl,
  parseImageRef,
  parseOciUrl,
  type RepositoryRef,
} from "./registry/reference.ts";
export { blobPathOf, isRegistryStore, RegistryStore } from "./registry/store.ts";
export {
  type RegistryCredentialOptions,
  registryCredentials,
  resolveRegistryCredentials,
} from "./registry/credentials.ts";
