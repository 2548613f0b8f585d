/**
 * What `verify` reports: the kinds of findings, the exit flags, the options and the report, shared
 * by the URL-cache checks (`verify.ts`) and the registry checks (`oci_verify.ts`).
 *
 * @module
 */
import type { Verifier } from "../sign/types.ts";

/** What is wrong, by consequence. */
export type FindingKind =
  /** Bytes or metadata are damaged or missing. */
  | "corrupt"
  /** A signature is bad, made by an untrusted key, or missing where one is required. */
  | "untrusted"
  /** The mirror could not be read (network, permissions, a portal page). */
  | "unreachable"
  /** The index or the two layouts disagree with the metadata. */
  | "inconsistent"
  /** Something harmless: an orphan blob, a legacy file, a check that could not be made. */
  | "notice";

/** Exit flags of `spackle verify`, OR-ed together (0 when nothing is wrong). */
export const VERIFY_FLAGS = {
  corrupt: 4,
  untrusted: 8,
  unreachable: 16,
  inconsistent: 32,
} as const;

/** One thing verify found. */
export interface Finding {
  kind: FindingKind;
  /** A stable machine-readable code: `digest_mismatch`, `blob_missing`, `orphan_blob`, ... */
  code: string;
  /** The store path concerned. */
  path: string;
  /** The entry concerned, as `name@version/hash`, when known. */
  spec?: string;
  /** Layout of the part of the mirror concerned. */
  layout?: 2 | 3;
  message: string;
}

/** Options of `verifyMirror`. */
export interface VerifyOptions {
  /** Checks signatures; without one, signed metadata is reported as signed but not checked. */
  verifier?: Verifier;
  /** Unsigned spec metadata is an `untrusted` finding (default false: a notice). */
  requireSignatures?: boolean;
  /** Concurrent checks (default 4). */
  jobs?: number;
  /** Check only this many entries, picked at random (skips the whole-mirror checks). */
  sample?: number;
  /** Random source for `sample` (default Math.random). */
  random?: () => number;
  signal?: AbortSignal;
  /** Called after each entry is checked. */
  onProgress?: (p: { done: number; total: number; bytes: number }) => void;
}

/** What verify did and found. */
export interface VerifyReport {
  url: string;
  /** Layouts found, v3 first. */
  layouts: (2 | 3)[];
  /** True when only a sample of the entries was checked. */
  sampled: boolean;
  checked: {
    entries: number;
    blobs: number;
    bytes: number;
    signaturesVerified: number;
    signedUnchecked: number;
    unsigned: number;
  };
  findings: Finding[];
  /** OR of `VERIFY_FLAGS` over the findings (0 when the mirror is sound). */
  flags: number;
}
