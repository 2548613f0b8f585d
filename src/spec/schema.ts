/**
 * Wire schemas (zod) of Spack spec JSON, formats 1 to 5, in Spack's own spelling. They are
 * lenient: unknown keys pass through, and the mapped model keeps each node dict as read (key
 * order included), because the DAG hash is computed from it.
 *
 * @module
 */
import { z } from "zod";

/** A target: a plain name (generic targets) or archspec's dict. */
export const TargetJson = z.union([
  z.string(),
  z.looseObject({ name: z.string() }),
]);
/** A target as written. */
export type TargetJson = z.infer<typeof TargetJson>;

/** `arch`: platform, OS and target. */
export const ArchJson = z.looseObject({
  platform: z.string().nullable().optional(),
  platform_os: z.string().nullable().optional(),
  target: TargetJson.nullable().optional(),
});
/** An arch dict as written. */
export type ArchJson = z.infer<typeof ArchJson>;

/** The compiler attribute of formats 1 to 4: `{"name": "gcc", "version": "12.2.0"}`. */
export const CompilerJson = z.looseObject({
  name: z.string(),
  version: z.union([z.string(), z.number()]).optional(),
});
/** A compiler attribute as written. */
export type CompilerJson = z.infer<typeof CompilerJson>;

/** Dependency types: a list, or (very old files) a single string. */
export const DepTypesJson = z.union([z.string(), z.array(z.string())]);

/** A dependency edge in formats 2 to 5 (list form). */
export const DependencyEdgeJson = z.looseObject({
  name: z.string(),
  hash: z.string().optional(),
  full_hash: z.string().optional(),
  build_hash: z.string().optional(),
  package_hash: z.string().optional(),
  /** Formats 2 and 3. */
  type: DepTypesJson.optional(),
  /** Formats 4 and 5. */
  parameters: z.looseObject({
    deptypes: DepTypesJson.optional(),
    virtuals: z.array(z.string()).optional(),
    direct: z.boolean().optional(),
  }).optional(),
});
/** A dependency edge as written. */
export type DependencyEdgeJson = z.infer<typeof DependencyEdgeJson>;

/** A dependency entry of format 1's dict form (`{"<name>": {"hash": ..., "type": [...]}}`). */
export const DependencyDictEntryJson = z.looseObject({
  hash: z.string().optional(),
  full_hash: z.string().optional(),
  build_hash: z.string().optional(),
  type: DepTypesJson.optional(),
});

/** `dependencies`: a list of edges (formats 2 to 5) or a dict by name (format 1). */
export const DependenciesJson = z.union([
  z.array(DependencyEdgeJson),
  z.record(z.string(), DependencyDictEntryJson),
]);

/** `external`: where the package lives outside Spack. */
export const ExternalJson = z.looseObject({
  path: z.string().nullable().optional(),
  module: z.union([z.string(), z.array(z.string())]).nullable().optional(),
  extra_attributes: z.record(z.string(), z.unknown()).optional(),
});

/** The fields every node form shares (the name is outside the dict in format 1). */
const nodeFields = {
  version: z.union([z.string(), z.number()]).optional(),
  arch: ArchJson.nullable().optional(),
  compiler: CompilerJson.nullable().optional(),
  namespace: z.string().nullable().optional(),
  parameters: z.record(z.string(), z.unknown()).optional(),
  external: ExternalJson.nullable().optional(),
  package_hash: z.string().optional(),
  hash: z.string().optional(),
  full_hash: z.string().optional(),
  build_hash: z.string().optional(),
  dependencies: DependenciesJson.optional(),
  annotations: z.looseObject({
    original_specfile_version: z.number().optional(),
    compiler: z.string().optional(),
  }).optional(),
  build_spec: z.looseObject({ name: z.string(), hash: z.string() }).optional(),
};

/** One node dict of formats 2 to 5 (and an index record's `spec`). */
export const NodeJson = z.looseObject({ name: z.string(), ...nodeFields });
/** A node dict as written. */
export type NodeJson = z.infer<typeof NodeJson>;

/** A node body of format 1 (the name is the single key around it). */
export const NodeBodyV1Json = z.looseObject(nodeFields);

/** `spec` of formats 2 to 5. */
export const SpecNodesJson = z.looseObject({
  _meta: z.looseObject({ version: z.number() }).optional(),
  nodes: z.array(NodeJson).min(1),
});

/** `spec` of format 1: a list of single-key maps `{"<name>": {...}}`. */
export const SpecListV1Json = z.array(z.record(z.string(), NodeBodyV1Json)).min(1);

/** A spec document: `{"spec": ...}` plus build-cache keys next to it. */
export const SpecDocJson = z.looseObject({
  spec: z.union([SpecNodesJson, SpecListV1Json]),
  buildcache_layout_version: z.number().optional(),
  binary_cache_checksum: z.looseObject({
    hash_algorithm: z.string(),
    hash: z.string(),
  }).optional(),
  archive_size: z.number().optional(),
  buildinfo: z.record(z.string(), z.unknown()).optional(),
});
/** A spec document as written. */
export type SpecDocJson = z.infer<typeof SpecDocJson>;

/** One record of a Spack database (`database.installs[hash]`). */
export const IndexRecordJson = z.looseObject({
  spec: NodeJson,
  ref_count: z.number().optional(),
  in_buildcache: z.boolean().optional(),
  path: z.string().nullable().optional(),
  installed: z.boolean().optional(),
  explicit: z.boolean().optional(),
  installation_time: z.number().optional(),
  deprecated_for: z.string().nullable().optional(),
  origin: z.string().nullable().optional(),
});
/** A database record as written. */
export type IndexRecordJson = z.infer<typeof IndexRecordJson>;
