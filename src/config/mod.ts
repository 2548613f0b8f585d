/**
 * Configuration: Spack mirrors.yaml scopes, spackle's own settings file, mirror arguments.
 *
 * @module
 */
export * from "./mirrors_yaml.ts";
export * from "./settings.ts";
export * from "./mirror_names.ts";
