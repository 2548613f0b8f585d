/**
 * Install: extract into staging without escapes, relocate, rename into place.
 *
 * @module
 */
export { type ExtractResult, extractTarball, type PrefixEntryType } from "./extract.ts";
export {
  applyRelocation,
  type Buildinfo,
  parseBuildinfo,
  planRelocation,
  prefixMap,
  relocatePrefix,
  type RelocationPlan,
} from "./relocate.ts";
export { type ElfInfo, parseElf } from "./relocate_elf.ts";
export { BinaryReplacer, type PrefixPairs, TextReplacer } from "./relocate_text.ts";
export {
  DEFAULT_PROJECTION,
  type InstalledSpec,
  type InstallOptions,
  type InstallProgress,
  type InstallResult,
  type InstallSource,
  installSpecs,
  projectPrefix,
} from "./install.ts";
export {
  checkTarget,
  type HostTarget,
  hostTarget,
  type TargetCheck,
  targetFamily,
  type TargetProblem,
} from "./target.ts";
