/**
 * Whole-mirror operations: migrate, sync, verify, bundle, prune.
 *
 * @module
 */
export {};
