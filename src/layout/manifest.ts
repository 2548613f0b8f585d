/**
 * v3 manifests: parsing (any JSON formatting, extra fields ignored, every record field
 * required) and serialising byte-for-byte as Spack writes them (`json.dump(obj, indent=0,
 * separators=(",", ":"))`, ASCII only, no trailing newline).
 *
 * @module
 */
import { InvalidDataError, NotFoundError } from "../errors.ts";
import { pyJsonDumps } from "../core/json.ts";
import type { Descriptor } from "./types.ts";
import { isSpecMediaType, MEDIA_TYPES } from "./media_types.ts";

/** One record of a manifest's `data` list, with Spack's field names. */
export interface ManifestRecord {
  contentLength: number;
  mediaType: string;
  compression: string;
  checksumAlgorithm: string;
  checksum: string;
  [extra: string]: unknown;
}

/** A v3 manifest. */
export interface Manifest {
  version: number;
  data: ManifestRecord[];
  [extra: string]: unknown;
}

/**
 * Parses manifest JSON text. Requires `version` 3 and the five record fields with the
 * right types; `label` names the manifest in errors.
 */
export function parseManifest(text: string, label = "manifest"): Manifest {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new InvalidDataError(`Cannot parse ${label}: ${(e as Error).message}`, { cause: e });
  }
  if (!doc || typeof doc !== "object" || Array.isArray(doc)) {
    throw new InvalidDataError(`Cannot read ${label}: not a JSON object`);
  }
  const m = doc as Record<string, unknown>;
  if (typeof m.version !== "number" || !Number.isInteger(m.version)) {
    throw new InvalidDataError(`Cannot read ${label}: "version" is missing or not an integer`);
  }
  if (m.version !== 3) {
    throw new InvalidDataError(
      `Cannot read ${label}: manifest version is ${m.version}, only 3 is supported`,
    );
  }
  if (!Array.isArray(m.data)) {
    throw new InvalidDataError(`Cannot read ${label}: "data" is missing or not a list`);
  }
  m.data.forEach((r, i) => checkRecord(r, `${label} data[${i}]`));
  return m as Manifest;
}

function checkRecord(r: unknown, label: string): asserts r is ManifestRecord {
  if (!r || typeof r !== "object" || Array.isArray(r)) {
    throw new InvalidDataError(`Cannot read ${label}: not a JSON object`);
  }
  const rec = r as Record<string, unknown>;
  const len = rec.contentLength;
  if (typeof len !== "number" || !Number.isSafeInteger(len) || len < 0) {
    throw new InvalidDataError(`Cannot read ${label}: "contentLength" is ${JSON.stringify(len)}`);
  }
  for (const k of ["mediaType", "compression", "checksumAlgorithm", "checksum"]) {
    if (typeof rec[k] !== "string") {
      throw new InvalidDataError(`Cannot read ${label}: "${k}" is ${JSON.stringify(rec[k])}`);
    }
  }
  // The checksum and its algorithm name a blob path: lowercase hex and a plain name only.
  const alg = rec.checksumAlgorithm as string;
  if (!/^[a-z0-9_]{1,32}$/.test(alg)) {
    throw new InvalidDataError(
      `Cannot read ${label}: "checksumAlgorithm" is ${JSON.stringify(alg)}`,
    );
  }
  const sum = rec.checksum as string;
  if (!/^[0-9a-f]{8,128}$/.test(sum) || (alg === "sha256" && sum.length !== 64)) {
    throw new InvalidDataError(
      `Cannot read ${label}: checksum ${JSON.stringify(sum.slice(0, 80))} is not ` +
        (alg === "sha256" ? "64 lowercase hex digits" : "lowercase hex"),
    );
  }
}

/** The first record with exactly `mediaType` (as Spack picks it), or undefined. */
export function findRecord(m: Manifest, mediaType: string): ManifestRecord | undefined {
  return m.data.find((r) => r.mediaType === mediaType);
}

/** The spec record of a manifest: spec format 5, else any spec format. */
export function findSpecRecord<T extends { mediaType: string }>(records: T[]): T | undefined {
  return records.find((r) => r.mediaType === MEDIA_TYPES.spec) ??
    records.find((r) => isSpecMediaType(r.mediaType));
}

/** Like `findRecord`, but a missing record is a NotFoundError naming the manifest. */
export function requireRecord(m: Manifest, mediaType: string, label: string): ManifestRecord {
  const r = findRecord(m, mediaType);
  if (!r) throw new NotFoundError(`Cannot find a "${mediaType}" record in ${label}`);
  return r;
}

/**
 * The Descriptor of a record. Only sha256 lowercase hex is accepted (Spack compares the
 * checksum as a string, so anything else could never verify).
 */
export function descriptorOf(r: ManifestRecord, label = "manifest record"): Descriptor {
  if (r.checksumAlgorithm !== "sha256") {
    throw new InvalidDataError(
      `Cannot read ${label}: checksum algorithm "${r.checksumAlgorithm}" is not supported (only "sha256")`,
    );
  }
  if (!/^[0-9a-f]{64}$/.test(r.checksum)) {
    throw new InvalidDataError(
      `Cannot read ${label}: checksum "${r.checksum}" is not a lowercase sha256 hex digest`,
    );
  }
  return {
    mediaType: r.mediaType,
    checksum: r.checksum,
    checksumAlgorithm: "sha256",
    size: r.contentLength,
    compression: r.compression === "gzip" ? "gzip" : "none",
  };
}

/** The manifest record of a descriptor, fields in Spack's order. */
export function recordOf(d: Descriptor): ManifestRecord {
  return {
    contentLength: d.size,
    mediaType: d.mediaType,
    compression: d.compression,
    checksumAlgorithm: d.checksumAlgorithm,
    checksum: d.checksum,
  };
}

/** A manifest of `descriptors`, in order (Spack: tarball first, then spec). */
export function manifestOf(descriptors: Descriptor[]): Manifest {
  return { version: 3, data: descriptors.map(recordOf) };
}

/**
 * Serialises a manifest exactly as Spack does: a newline after `{`, `[` and `,` and before
 * `}` and `]`, no spaces, non-ASCII as `\uXXXX`, no trailing newline.
 */
export function serializeManifest(m: Manifest): string {
  return pyJsonDumps(m, { indent: 0, separators: [",", ":"] });
}
