/**
 * Blob checks: each blob (path, checksum, size) is read once, hashed as it streams (in place,
 * from its file, where the store has the `localPath` capability), and compared with what
 * names it.
 *
 * @module
 */
import { NotFoundError } from "../../errors.ts";
import { digestFile, digestStream, sha256Hex } from "../../core/digest.ts";
import { collect } from "../../core/streams.ts";
import { type BlobResult, findingKindOf, type VerifyRun } from "./run.ts";

/** What names a blob, for the findings about it. */
export interface BlobContext {
  /** The blob path. */
  path: string;
  /** What the blob is, in messages: "tarball blob", "spec blob", "tarball", ... */
  what: string;
  layout: 2 | 3;
  spec?: string;
  /** Keep the bytes (small blobs whose content is checked next). */
  keep?: boolean;
}

interface Digest {
  hex: string;
  size: number;
  bytes?: Uint8Array;
}

/** Digest (and size) of a stored object; keeps the bytes when `keep`. */
async function digestOf(run: VerifyRun, path: string, keep: boolean): Promise<Digest> {
  const { store, signal } = run;
  signal?.throwIfAborted();
  if (store.localPath && !keep) {
    if (!await store.stat(path, { signal })) throw new NotFoundError(`"${path}" does not exist`);
    const r = await digestFile(store.localPath(path));
    return { hex: r.digest.hex, size: r.size };
  }
  const body = await store.read(path, { signal });
  if (keep) {
    const bytes = await collect(body);
    return { hex: sha256Hex(bytes), size: bytes.byteLength, bytes };
  }
  const { stream, result } = digestStream();
  for await (const _ of body.pipeThrough(stream)) { /* hashing */ }
  const r = await result;
  return { hex: r.digest.hex, size: r.size };
}

/**
 * Checks a blob against the sha256 (and size, when declared) that names it, once per run;
 * every problem is a finding.
 */
export function checkBlob(
  run: VerifyRun,
  want: { checksum: string; size?: number },
  ctx: BlobContext,
): Promise<BlobResult> {
  run.referenced.add(ctx.path);
  const key = `${ctx.path}\0${want.checksum}\0${want.size ?? ""}`;
  let p = run.blobChecks.get(key);
  if (!p) {
    p = checkBlobOnce(run, want, ctx);
    run.blobChecks.set(key, p);
  }
  return p;
}

async function checkBlobOnce(
  run: VerifyRun,
  want: { checksum: string; size?: number },
  ctx: BlobContext,
): Promise<BlobResult> {
  const { path, spec, layout, what } = ctx;
  let d: Digest;
  try {
    d = await digestOf(run, path, !!ctx.keep);
  } catch (e) {
    const missing = e instanceof NotFoundError;
    run.add({
      kind: missing ? "corrupt" : findingKindOf(e),
      code: missing ? "blob_missing" : "read_failed",
      path,
      spec,
      layout,
      message: missing
        ? `The ${what} "${path}" is missing`
        : `Cannot read the ${what} "${path}": ${(e as Error).message}`,
    });
    return { ok: false };
  }
  run.checked.blobs++;
  run.checked.bytes += d.size;
  const sizeDiffers = want.size !== undefined && d.size !== want.size;
  if (d.hex !== want.checksum) {
    run.add({
      kind: "corrupt",
      code: want.size !== undefined && d.size < want.size ? "blob_truncated" : "digest_mismatch",
      path,
      spec,
      layout,
      message: `The ${what} "${path}" has sha256 "${d.hex}", expected "${want.checksum}"` +
        (sizeDiffers ? `, and it is ${d.size} bytes where ${want.size} are declared` : ""),
    });
    return { ok: false };
  }
  if (sizeDiffers) {
    run.add({
      kind: "corrupt",
      code: "size_mismatch",
      path,
      spec,
      layout,
      message: `The manifest declares ${want.size} bytes for the ${what} "${path}", ` +
        `but it has ${d.size} (its sha256 matches)`,
    });
    return { ok: false, bytes: d.bytes };
  }
  return { ok: true, bytes: d.bytes };
}
