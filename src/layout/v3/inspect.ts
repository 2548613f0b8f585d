/**
 * Tolerant reading of a v3 build cache (see `../tolerant.ts`): what a listing holds, the name
 * of a spec manifest, and a manifest's records with the ones Spack picks (tarball, spec,
 * index), each as a problem instead of an error when damaged.
 *
 * @module
 */
import { descriptorOf, findSpecRecord, type Manifest, parseManifest } from "../manifest.ts";
import { isIndexMediaType, MEDIA_TYPES } from "../media_types.ts";
import { inspectSignedText } from "../signed_metadata.ts";
import { type Tolerant, tolerantly } from "../tolerant.ts";
import type { Descriptor } from "../types.ts";
import {
  parseV3SpecManifestPath,
  V3_KEY_DIR,
  V3_LAYOUT_JSON,
  V3_SPEC_DIR,
  V3_SPEC_MANIFEST_SUFFIX,
  v3BlobPath,
  v3IndexManifestPath,
} from "./paths.ts";

/** What a listing of `v3/` holds. */
export interface V3Listing {
  hasLayoutJson: boolean;
  /** The main index manifest is present. */
  hasIndex: boolean;
  /** Spec manifests. */
  specManifests: string[];
  /** Key manifests and the key index manifest. */
  keyManifests: string[];
  /** Manifests of index views (not the main index). */
  indexViews: string[];
}

/** Sorts the paths of a listing of `v3/` by what they are. */
export function classifyV3Listing(paths: readonly string[]): V3Listing {
  const main = v3IndexManifestPath();
  return {
    hasLayoutJson: paths.includes(V3_LAYOUT_JSON),
    hasIndex: paths.includes(main),
    specManifests: paths.filter((p) =>
      p.startsWith(V3_SPEC_DIR) && p.endsWith(V3_SPEC_MANIFEST_SUFFIX)
    ),
    keyManifests: paths.filter((p) => p.startsWith(V3_KEY_DIR)),
    indexViews: paths.filter((p) =>
      p.startsWith("v3/manifests/index/") && p.endsWith("index.manifest.json") && p !== main
    ),
  };
}

/**
 * Name, version and hash of a listed spec manifest path: Spack's naming when the path follows
 * it, else read leniently (directory = name, last 32 characters = hash) so that a badly named
 * manifest is still checked and reported under a name.
 */
export function v3SpecManifestNames(path: string): { name: string; version: string; hash: string } {
  const n = parseV3SpecManifestPath(path);
  if (n) return n;
  const base = path.split("/").pop()!.slice(0, -V3_SPEC_MANIFEST_SUFFIX.length);
  const name = path.split("/")[3] ?? "";
  return { name, version: base.slice(name.length + 1, -33), hash: base.slice(-32) };
}

/** A manifest's records as descriptors, with those Spack picks. */
export interface V3ManifestRecords {
  manifest: Manifest;
  /** Every record, each a sha256 descriptor. */
  records: Descriptor[];
  /** The package tarball record. */
  tarball?: Descriptor;
  /** The spec record (spec format 5, else any spec format). */
  spec?: Descriptor;
  /** The index record (any database version). */
  index?: Descriptor;
}

/**
 * The records of manifest text (clear-signed or not; the signature is not checked here), each
 * required to be a sha256 descriptor (what a blob path is made of), or the problem found.
 */
export function inspectV3Manifest(text: string, label: string): Tolerant<V3ManifestRecords> {
  const unwrapped = inspectSignedText(text, label);
  if (!unwrapped.ok) return unwrapped;
  return inspectV3ManifestBody(unwrapped.value.body, label);
}

/** `inspectV3Manifest` of a manifest whose signature is already removed (and checked). */
export function inspectV3ManifestBody(body: string, label: string): Tolerant<V3ManifestRecords> {
  return tolerantly(() => {
    const manifest = parseManifest(body, label);
    const records = manifest.data.map((r, i) => descriptorOf(r, `${label} data[${i}]`));
    return {
      manifest,
      records,
      tarball: records.find((r) => r.mediaType === MEDIA_TYPES.tarball),
      spec: findSpecRecord(records),
      index: records.find((r) => isIndexMediaType(r.mediaType)),
    };
  });
}

/** The blob path of a descriptor. */
export function v3BlobOf(d: Descriptor): string {
  return v3BlobPath(d.checksum, d.checksumAlgorithm);
}
