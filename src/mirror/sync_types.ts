/**
 * The options, events and result of `syncMirror`, shared by the URL-cache sync (`sync.ts`) and
 * the registry sync (`oci_sync.ts`).
 *
 * @module
 */
import type { Verifier } from "../sign/types.ts";

/** Options of `syncMirror`. */
export interface SyncOptions {
  /** Spec queries: copy these entries and their runtime closure (default: everything). */
  specs?: string[];
  /** Objects copied at once (default 8). */
  jobs?: number;
  /** Work out what would be copied, write nothing. */
  dryRun?: boolean;
  /**
   * Verifies signed metadata: v3 spec manifests before they are copied, v2 spec files when a v2
   * source is migrated. An entry whose signature does not verify is left (with the reason).
   */
  verifier?: Verifier;
  /**
   * Enforce trust (what the CLI does unless `--allow-unsigned`): every spec manifest must be
   * signed and verify with `verifier`; unsigned entries and entries signed by keys that are not
   * trusted are left (with the reason).
   */
  requireSignatures?: boolean;
  /**
   * Check signatures but admit unsigned entries and entries signed by keys that are not
   * trusted, each with a `warning` (the CLI's `--allow-unsigned`). An entry whose signature
   * fails is left whatever the options. Without this or `requireSignatures`, unsigned entries
   * are copied as they are and signed ones are checked only when a `verifier` is given.
   */
  allowUnsigned?: boolean;
  /**
   * Server-side copies only (S3 to S3 on one endpoint with the same credentials): do not read
   * a source blob to check its checksum before copying it; rely on its name (its checksum)
   * and its size. By default each source blob is read once and checked, and the copy is
   * made only from that very object (its ETag).
   */
  trustSource?: boolean;
  /**
   * Checked server-side copies only for blobs of at least this many bytes (default 1 MiB):
   * a smaller blob, read anyway to check it, is written from that read (two requests instead
   * of read, copy and size check). With `trustSource` every blob is copied on the server.
   */
  serverCopyMinBytes?: number;
  /**
   * Take a blob already at the destination as good when its size is right, without reading
   * it back to check its digest (for the rerun of a huge mirror).
   */
  trustDestination?: boolean;
  /** Called once when a write waits for a prune running on the destination. */
  onPruneWait?: (lease: { host: string; pid: number }) => void;
  signal?: AbortSignal;
  /** Called after each manifest is handled. */
  onProgress?: (e: SyncedEntry) => void;
  /** Called as the sync goes: manifests read, the plan, blobs, entries, the index. */
  onEvent?: (e: SyncEvent) => void;
}

/** What happened to one manifest (spec or key). */
export interface SyncedEntry {
  path: string;
  status: "copied" | "present" | "would-copy" | "migrated" | "left";
  reason?: string;
  /** Why an admitted entry is not verified (unsigned, or signed by a key not trusted). */
  warning?: string;
}

/** How a sync goes, for progress displays. */
export type SyncEvent =
  /** Source manifests read so far (before anything is copied). */
  | { kind: "reading"; done: number; total: number }
  /** The work: manifests, the distinct blobs they name and those blobs' bytes. */
  | { kind: "plan"; entries: number; blobs: number; bytes: number }
  /**
   * A blob starts being copied (`serverSide`: copied on the S3 server); `manifest` is the
   * first manifest naming it.
   */
  | { kind: "blob-start"; path: string; size: number; serverSide: boolean; manifest: string }
  /** Bytes of a blob read (and, unless server-side, written). */
  | { kind: "blob-bytes"; path: string; bytes: number }
  /** A blob is done: copied, already present, (dry run) would be copied, or failed. */
  | {
    kind: "blob-done";
    path: string;
    size: number;
    status: "copied" | "present" | "would-copy" | "failed";
  }
  /** A manifest is handled. */
  | { kind: "entry"; entry: SyncedEntry }
  /** The destination index is being rebuilt. */
  | { kind: "index" };

/** What a sync did. */
export interface SyncResult {
  /** Layout of the source that was read. */
  source: 2 | 3;
  entries: SyncedEntry[];
  blobsCopied: number;
  blobsPresent: number;
  bytesCopied: number;
  /** Of the blobs copied, those copied on the server (S3 to S3 on one endpoint). */
  serverSideCopies: number;
  /** Number of specs in the rebuilt destination index (absent when it was not rewritten). */
  indexSpecs?: number;
  keys?: string[];
}
