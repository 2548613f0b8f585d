/**
 * What `sync` and `bundle` do alike when they run: progress drawing for copies, the warnings
 * of entries admitted unverified, the lockfile check. Loaded only when one of them runs.
 *
 * @module
 */
import {
  type BundleEvent,
  openMirror,
  parseV3SpecManifestPath,
  type ReadStore,
  requireLockSpecs,
  type SyncEvent,
} from "../../mod.ts";
import type { Progress, ProgressItem } from "./progress.ts";
import type { CliLock } from "./lockfile.ts";

/** A short label for the manifest at `path`: name@version/hash7 for a spec, else its file. */
export function entryLabel(path: string): string {
  const spec = parseV3SpecManifestPath(path);
  if (spec) return `${spec.name}@${spec.version}/${spec.hash.slice(0, 7)}`;
  return path.slice(path.lastIndexOf("/") + 1);
}

/**
 * Draws a sync (or bundle) on `progress`: manifests read, then manifests done out of all with
 * the bytes of the blobs still to copy (blobs already present leave the total), a bar per blob
 * being copied, then the index rebuild and (bundle) the writing of the file.
 */
export function syncProgress(progress: Progress): (e: SyncEvent | BundleEvent) => void {
  const bars = new Map<string, { item: ProgressItem; bytes: number }>();
  let entries = 0, bytes = 0;
  return (e) => {
    switch (e.kind) {
      case "reading":
        if (e.done === 0) progress.phase("reading manifests", e.total);
        else progress.finish();
        break;
      case "plan":
        entries = e.entries;
        bytes = e.bytes;
        progress.phase("total", entries, bytes);
        break;
      case "blob-start":
        bars.set(e.path, {
          item: progress.start(entryLabel(e.manifest), e.size, { counts: false }),
          bytes: 0,
        });
        break;
      case "blob-bytes": {
        const b = bars.get(e.path);
        if (b) {
          b.item.advance(e.bytes);
          b.bytes += e.bytes;
        }
        break;
      }
      case "blob-done": {
        const b = bars.get(e.path);
        if (b && e.status === "failed") {
          // What was not copied leaves the total.
          bytes -= e.size - b.bytes;
          progress.setTotal(bytes, entries);
          b.item.done();
          bars.delete(e.path);
        } else if (b) {
          // A server-side copy moves bytes that never pass through here.
          if (e.size > b.bytes) b.item.advance(e.size - b.bytes);
          b.item.done();
          bars.delete(e.path);
        } else {
          bytes -= e.size;
          progress.setTotal(bytes, entries);
        }
        break;
      }
      case "entry":
        progress.finish();
        break;
      case "index":
        progress.phase("rebuilding the index");
        break;
      case "write":
        progress.phase("writing the bundle", e.objects, e.bytes);
        break;
      case "write-bytes":
        progress.advance(e.bytes);
        break;
      case "write-object":
        progress.finish();
        break;
    }
  };
}

/** One warning line per admitted entry that is not verified. */
export function entryWarnings(entries: { path: string; warning?: string }[]): string[] {
  return entries.filter((e) => e.warning).map((e) => `${entryLabel(e.path)}: ${e.warning}`);
}

/** Refuses a lock whose specs are not all in the store's mirror, naming every missing one. */
export async function requireLockInStore(store: ReadStore, lock: CliLock, signal: AbortSignal) {
  await requireLockSpecs(lock.lock, await openMirror(store, { signal }), lock.label, {
    all: lock.all,
    signal,
  });
}
