/**
 * What `sync` and `bundle` share: the trust options and how they are enforced, progress drawing
 * for copies, the warnings of entries admitted unverified, the lockfile check.
 *
 * @module
 */
import type { Command } from "commander";
import { UsageError } from "../errors.ts";
import { parseV3SpecManifestPath } from "../layout/v3/paths.ts";
import type { BundleEvent, SyncEvent } from "../mirror/mod.ts";
import type { Progress, ProgressItem } from "./progress.ts";
import type { CliLock } from "./lockfile.ts";
import type { ReadStore } from "../storage/store.ts";

export function positiveInt(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) {
      throw new UsageError(`${name} must be a whole number above 0, not "${v}"`);
    }
    return n;
  };
}

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

/** Adds the trust options of sync and bundle: -k/--key, --keyring, --allow-unsigned. */
export function addTrustOptions(cmd: Command): void {
  cmd
    .option(
      "-k, --key <file...>",
      "also trust these armored public keys besides the keyring's",
    )
    .option("--keyring <dir>", "keyring directory (default: SPACKLE_KEYRING, else the user's)")
    .option(
      "--allow-unsigned",
      "admit unsigned entries and signatures by keys not trusted, with a warning each (a " +
        "signature that fails is never admitted)",
      false,
    )
    .option("--require-signatures", "the default: leave entries that are not verified", false);
}

/** One warning line per admitted entry that is not verified. */
export function entryWarnings(entries: { path: string; warning?: string }[]): string[] {
  return entries.filter((e) => e.warning).map((e) => `${entryLabel(e.path)}: ${e.warning}`);
}

/** Refuses a lock whose specs are not all in the store's mirror, naming every missing one. */
export async function requireLockInStore(store: ReadStore, lock: CliLock, signal: AbortSignal) {
  const { openMirror } = await import("../layout/open.ts");
  const { requireLockSpecs } = await import("../mirror/lockfile.ts");
  await requireLockSpecs(lock.lock, await openMirror(store, { signal }), lock.label, {
    all: lock.all,
    signal,
  });
}
