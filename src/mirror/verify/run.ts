/**
 * The state of one `verify` run, passed to every check: the store, the options, the findings
 * and counts so far, and the blobs checked (each once). Also the one mapping from an error to
 * the kind of finding it makes, and the end of a run (flags, findings in order).
 *
 * @module
 */
import { SpackleError } from "../../errors.ts";
import type { ReadStore } from "../../storage/store.ts";
import {
  type Finding,
  type FindingKind,
  VERIFY_FLAGS,
  type VerifyOptions,
  type VerifyReport,
} from "../verify_report.ts";

/**
 * The kind of finding an error makes. Damage to what the mirror holds (missing, failing its
 * checksum, invalid data, unparsable JSON) is `corrupt`; a signature refused is `untrusted`; a
 * failure to read (transport, permissions, a portal page, an unsupported format) is
 * `unreachable`. An abort is thrown again.
 */
export function findingKindOf(e: unknown): FindingKind {
  if (e instanceof Error && e.name === "AbortError") throw e;
  if (e instanceof SyntaxError) return "corrupt";
  if (e instanceof SpackleError) {
    if (e.code === "not_found" || e.code === "integrity" || e.code === "invalid_data") {
      return "corrupt";
    }
    if (e.code === "signature") return "untrusted";
  }
  return "unreachable";
}

/** What a run counts. */
export type Checked = VerifyReport["checked"];

/** The result of checking one blob. */
export interface BlobResult {
  ok: boolean;
  /** The bytes, when asked to keep them (small blobs: specs, indexes). */
  bytes?: Uint8Array;
}

/** The state of one verify run. */
export class VerifyRun {
  readonly findings: Finding[] = [];
  readonly checked: Checked = {
    entries: 0,
    blobs: 0,
    bytes: 0,
    signaturesVerified: 0,
    signedUnchecked: 0,
    unsigned: 0,
  };
  /** Blob checks by path, checksum and size: each is made once. */
  readonly blobChecks = new Map<string, Promise<BlobResult>>();
  /** Every blob path some manifest or spec file names. */
  readonly referenced = new Set<string>();
  readonly signal?: AbortSignal;

  constructor(readonly store: ReadStore, readonly opts: VerifyOptions) {
    this.signal = opts.signal;
  }

  /** Records a finding (its fields always in the same order, for the JSON report). */
  add(f: Finding): void {
    const { kind, code, path, spec, layout, message } = f;
    this.findings.push({
      kind,
      code,
      path,
      ...(spec !== undefined ? { spec } : {}),
      ...(layout !== undefined ? { layout } : {}),
      message,
    });
  }

  /** The report of the run: flags from the kinds found, findings by kind then path. */
  report(layouts: (2 | 3)[], sampled: boolean): VerifyReport {
    return finishReport(this.store.url.href, layouts, sampled, this.checked, this.findings);
  }
}

const ORDER: Record<FindingKind, number> = {
  corrupt: 0,
  untrusted: 1,
  unreachable: 2,
  inconsistent: 3,
  notice: 4,
};

/** A report: the OR of the flags of every finding, findings by kind then path. */
export function finishReport(
  url: string,
  layouts: (2 | 3)[],
  sampled: boolean,
  checked: Checked,
  findings: Finding[],
): VerifyReport {
  let flags = 0;
  for (const f of findings) if (f.kind !== "notice") flags |= VERIFY_FLAGS[f.kind];
  findings.sort((a, b) => ORDER[a.kind] - ORDER[b.kind] || a.path.localeCompare(b.path));
  return { url, layouts, sampled, checked, findings, flags };
}

/** Picks `opts.sample` items at random (all of them without a sample). */
export function sampleOf<T>(items: T[], opts: VerifyOptions): { picked: T[]; sampled: boolean } {
  if (opts.sample === undefined || opts.sample >= items.length) {
    return { picked: items, sampled: false };
  }
  const rnd = opts.random ?? Math.random;
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return { picked: out.slice(0, opts.sample), sampled: true };
}
