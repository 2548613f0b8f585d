/**
 * Push: installed prefixes packed into Spack tarballs and written to v3 build caches, and the
 * index rebuilt from a mirror's spec manifests.
 *
 * @module
 */
export {
  type BuildinfoMeta,
  prefixesToRelocate,
  type RelocationLists,
  serializeBuildinfo,
} from "./buildinfo.ts";
export { classify, type FileKind, isBinaryMagic, isLatin1Text, PrefixMatcher } from "./scan.ts";
export {
  deflateFor,
  levelFor,
  type PackedFile,
  type PackOptions,
  packPrefix,
  type PackResult,
  packToFile,
  parallelGzipStream,
  prefixEntries,
  repeatShare,
} from "./pack.ts";
export {
  buildinfoMeta,
  dbSource,
  type InstalledPrefix,
  type InstalledSource,
  openDbSource,
  prefixSource,
  type PushedSpec,
  type PushOptions,
  pushSpecs,
  specsToPush,
  unpaddedRoot,
} from "./push.ts";
export { buildIndexText, updateIndex, type UpdateIndexResult } from "./update_index.ts";
