/**
 * `bundle`: one file holding a v3 mirror with some specs' runtime closure, the public keys and
 * the index. The entries are synced into a temporary mirror beside the output, which is then
 * written as a bundle (atomically) and removed.
 *
 * @module
 */
import { mkdtemp, rm } from "node:fs/promises";
import { createReadStream, statSync } from "node:fs";
import { ownerTag, removeDeadOwners } from "../core/pid.ts";
import { fsError } from "../core/fs_errors.ts";
import { dirname, join, resolve } from "node:path";
import { SignatureError, UsageError } from "../errors.ts";
import { toWebStream } from "../core/streams.ts";
import { type BundleItem, writeBundle } from "../storage/bundle.ts";
import { openStore } from "../storage/open.ts";
import { V3_KEY_DIR } from "../layout/v3/paths.ts";
import type { ReadStore, Store } from "../storage/store.ts";
import { type SyncEvent, syncMirror, type SyncOptions, type SyncResult } from "./sync.ts";

/** Options of `bundleMirror`. */
export interface BundleOptions {
  /** Spec queries whose runtime closure goes in the bundle (default: everything). */
  specs?: string[];
  jobs?: number;
  /** Checks signatures (see `SyncOptions.verifier`). */
  verifier?: SyncOptions["verifier"];
  /** Leave unsigned entries and keys not trusted (see `SyncOptions.requireSignatures`). */
  requireSignatures?: boolean;
  /** Admit them with a warning each (see `SyncOptions.allowUnsigned`). */
  allowUnsigned?: boolean;
  /** Replace an existing output file (default: refuse). */
  force?: boolean;
  signal?: AbortSignal;
  /** Called as the bundle is made: the sync into the temporary mirror, then the writing. */
  onEvent?: (e: SyncEvent | BundleEvent) => void;
}

/** How the writing of the bundle file goes (after the sync). */
export type BundleEvent =
  /** Writing starts: the objects and bytes to write. */
  | { kind: "write"; objects: number; bytes: number }
  /** Bytes of an object written. */
  | { kind: "write-bytes"; bytes: number }
  /** An object is written. */
  | { kind: "write-object"; path: string };

/** What `bundleMirror` wrote. */
export interface BundleResult {
  path: string;
  /** Objects in the bundle (besides its marker). */
  objects: number;
  sync: SyncResult;
}

/** Writes the bundle file `out` from the mirror `src`. */
export async function bundleMirror(
  src: ReadStore,
  out: string,
  opts: BundleOptions = {},
): Promise<BundleResult> {
  const target = resolve(out);
  const st = statSync(target, { throwIfNoEntry: false });
  if (st?.isDirectory()) {
    throw new UsageError(`Cannot write the bundle "${out}": it is a directory; give a file name`);
  }
  if (st && !opts.force) {
    throw new UsageError(
      `Cannot write the bundle "${out}": the file exists (give --force to replace it)`,
    );
  }
  // Working directories of bundles killed on this host are removed first.
  removeDeadOwners(dirname(target), ".spackle-bundle-");
  const tmp = await mkdtemp(join(dirname(target), ".spackle-bundle-" + ownerTag())).catch(
    (e) => {
      throw fsError(e, dirname(target), "write the bundle beside");
    },
  );
  try {
    const dst = await openStore(tmp, { writable: true }) as Store;
    const sync = await syncMirror(src, dst, {
      specs: opts.specs,
      jobs: opts.jobs,
      verifier: opts.verifier,
      requireSignatures: opts.requireSignatures,
      allowUnsigned: opts.allowUnsigned,
      signal: opts.signal,
      onEvent: opts.onEvent,
    });
    const kept = sync.entries.some((e) => e.status !== "left" && !e.path.startsWith(V3_KEY_DIR));
    if (sync.indexSpecs === undefined || !kept) {
      // Nothing was admitted: say why (unsigned, keys not trusted, bad signatures, ...).
      const left = sync.entries.filter((e) => e.status === "left");
      const why = left.slice(0, 5).map((e) => `${e.path}: ${e.reason}`).join("; ");
      throw new (left.length ? SignatureError : UsageError)(
        `Cannot bundle from "${src.url.href}": no entries were copied` +
          (left.length ? ` (${left.length} left: ${why}${left.length > 5 ? "; ..." : ""})` : ""),
      );
    }
    const paths: string[] = [];
    for await (const p of dst.list!("", { signal: opts.signal })) paths.push(p);
    paths.sort();
    const items: BundleItem[] = [];
    const event = opts.onEvent ?? (() => {});
    let bytes = 0;
    for (const p of paths) {
      const st = await dst.stat(p);
      if (!st) continue;
      const file = join(tmp, p);
      bytes += st.size;
      items.push({
        path: p,
        size: st.size,
        open: () =>
          toWebStream(createReadStream(file)).pipeThrough(
            new TransformStream({
              transform(chunk, c) {
                event({ kind: "write-bytes", bytes: chunk.byteLength });
                c.enqueue(chunk);
              },
              flush() {
                event({ kind: "write-object", path: p });
              },
            }),
          ),
      });
    }
    event({ kind: "write", objects: items.length, bytes });
    const w = await writeBundle(target, items, { specs: opts.specs ?? [] });
    return { path: w.path, objects: w.count, sync };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
