/**
 * Configuration: Spack mirrors.yaml scopes and spackle's own settings file.
 *
 * @module
 */
export * from "./mirrors_yaml.ts";
export * from "./settings.ts";
