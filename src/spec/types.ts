/**
 * The spec model: one shape for every spec JSON format (1 to 5). Wire types (`*Json`) keep
 * Spack's spelling and are mapped to these in exactly one place (`spec/parse.ts`).
 *
 * @module
 */

/** Dependency types Spack records on an edge. */
export type DepType = "build" | "link" | "run" | "test";

/** One edge of the DAG. */
export interface SpecDependency {
  name: string;
  /** The dependency's DAG hash (32 base32 characters). */
  hash: string;
  depTypes: DepType[];
  virtuals: string[];
}

/** The architecture triple. */
export interface SpecArch {
  platform: string;
  platformOs: string;
  /** The target name (a string, or the `name` of Spack's target dict). */
  target: string;
}

/** One concrete node. */
export interface SpecNode {
  name: string;
  version: string;
  /** The stored DAG hash: the identity Spack uses (never recomputed on read). */
  hash: string;
  arch?: SpecArch;
  /** Compiler as a node attribute (spec formats <= 4): `gcc@12.2.0`. */
  compiler?: { name: string; version: string };
  namespace?: string;
  /** Set for externals (never pushed, never installed). */
  external?: { path?: string; module?: string | null };
  dependencies: SpecDependency[];
  /** The node dict exactly as read, key order kept (the DAG hash is computed from it). */
  raw: Record<string, unknown>;
}

/** A whole spec file: the root node plus every node it reaches. */
export interface SpecDag {
  /** Hash of the root node (the first node of the file). */
  root: string;
  /** Every node by hash, in file order. */
  nodes: Map<string, SpecNode>;
  /** `_meta.version` of the file (1 to 5). */
  formatVersion: number;
  /** `buildcache_layout_version` when the file carries one. */
  buildcacheLayoutVersion?: number;
  /** The parsed JSON document exactly as read. */
  raw: Record<string, unknown>;
}
