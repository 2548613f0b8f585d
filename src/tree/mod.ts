/**
 * Operations on an install tree: find, uninstall, gc, load, views.
 *
 * @module
 */
export {
  type DbRecord,
  installDbPath,
  type InstallTree,
  openInstallTree,
  type TreeRecord,
  updateInstallDb,
} from "./db_access.ts";
export {
  findInstalled,
  type FoundSpec,
  planUninstall,
  resolveInstalled,
  uninstall,
  type UninstallPlan,
  unusedSpecs,
} from "./manage.ts";
export {
  applyModifications,
  inspectPrefix,
  LOADED_HASHES_VAR,
  loadModifications,
  type PathMod,
  PREFIX_INSPECTIONS,
  runClosure,
  type Shell,
  shellCode,
  viewModifications,
} from "./load.ts";
export {
  addToView,
  type LinkType,
  removeFromView,
  type ViewAddResult,
  viewClosure,
  type ViewSpec,
  viewSpecs,
} from "./view.ts";
