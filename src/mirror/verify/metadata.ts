/**
 * Reading metadata text (manifests, spec files, indexes) for verify: a finding, and no text,
 * when it cannot be read.
 *
 * @module
 */
import { NotFoundError } from "../../errors.ts";
import { collectText } from "../../core/streams.ts";
import { findingKindOf, type VerifyRun } from "./run.ts";

/** Where a metadata file comes from, for the finding when it cannot be read. */
export interface MetadataContext {
  layout: 2 | 3;
  spec?: string;
  /** Named by the index (not found by listing): a missing file means a stale index. */
  fromIndex?: boolean;
}

/** The text at `path`; a finding (and undefined) when it cannot be read. */
export async function readMetadata(
  run: VerifyRun,
  path: string,
  ctx: MetadataContext,
): Promise<string | undefined> {
  const { layout, spec } = ctx;
  try {
    return await collectText(await run.store.read(path, { signal: run.signal }));
  } catch (e) {
    const missing = e instanceof NotFoundError;
    if (missing && ctx.fromIndex) {
      run.add({
        kind: "inconsistent",
        code: "index_entry_without_metadata",
        path,
        spec,
        layout,
        message: `The v${layout} index lists "${spec}" but "${path}" does not exist`,
      });
      return undefined;
    }
    run.add({
      kind: findingKindOf(e),
      code: missing ? "metadata_missing" : "read_failed",
      path,
      spec,
      layout,
      message: `Cannot read "${path}": ${(e as Error).message}`,
    });
    return undefined;
  }
}

/** `store.stat`, a finding (and undefined) when it fails. */
export async function statOrReport(
  run: VerifyRun,
  path: string,
  ctx: { layout?: 2 | 3; spec?: string },
): Promise<{ ok: boolean; exists: boolean }> {
  try {
    return { ok: true, exists: !!await run.store.stat(path, { signal: run.signal }) };
  } catch (e) {
    run.add({
      kind: findingKindOf(e),
      code: "read_failed",
      path,
      spec: ctx.spec,
      layout: ctx.layout,
      message: `Cannot stat "${path}": ${(e as Error).message}`,
    });
    return { ok: false, exists: false };
  }
}
