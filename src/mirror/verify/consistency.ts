/**
 * Agreement checks: each index against the metadata of its part (entries it lists that have
 * none, entries it lacks), and the v2 part against the v3 part of a migrated mirror (the same
 * tarball for the same hash).
 *
 * @module
 */
import type { EntryRef } from "../../layout/types.ts";
import { V2_INDEX } from "../../layout/v2/paths.ts";
import { v3IndexManifestPath } from "../../layout/v3/paths.ts";
import type { Task } from "./entries.ts";
import type { VerifyRun } from "./run.ts";

/** One layout part for the index comparison. */
export interface IndexedPart {
  layout: 2 | 3;
  /** Its index entries; nothing is compared without an index. */
  index?: EntryRef[];
  /** Every entry found (all of them, also when only a sample was checked). */
  tasks: Task[];
  /** The entries were found by listing (so an index entry without metadata is stale). */
  enumerated: boolean;
}

/** Compares an index with the entries found. */
export function compareIndex(
  run: VerifyRun,
  part: IndexedPart,
  sample: { sampled: boolean; picked: Set<Task> },
): void {
  const { layout, index } = part;
  if (!index) return;
  const inIndex = new Map(index.filter((e) => e.inBuildcache).map((e) => [e.hash, e]));
  if (part.enumerated && !sample.sampled) {
    const present = new Set(part.tasks.map((t) => t.hash));
    for (const [hash, e] of inIndex) {
      if (present.has(hash)) continue;
      const spec = `${e.name}@${e.version}/${hash}`;
      run.add({
        kind: "inconsistent",
        code: "index_entry_without_metadata",
        path: layout === 3 ? v3IndexManifestPath() : V2_INDEX,
        spec,
        layout,
        message: `The v${layout} index lists "${spec}" but the mirror ` +
          `has no ${layout === 3 ? "manifest" : "spec file"} for it`,
      });
    }
  }
  for (const t of part.tasks) {
    if (sample.sampled && !sample.picked.has(t)) continue;
    if (inIndex.has(t.hash)) continue;
    run.add({
      kind: "inconsistent",
      code: "missing_from_index",
      path: t.path,
      spec: t.label,
      layout,
      message: `"${t.label}" is in the mirror but not in its v${layout} index (the index is stale)`,
    });
  }
}

/**
 * Compares the tarball checksums of the v2 entries checked with those of the v3 entries
 * (`v3Complete`: every v3 entry was checked, so one that is absent is missing).
 */
export function compareLayouts(
  run: VerifyRun,
  v2Tasks: Task[],
  tarballs: { v2: Map<string, string>; v3: Map<string, string> },
  v3Complete: boolean,
): void {
  for (const [hash, sum] of tarballs.v2) {
    const v3 = tarballs.v3.get(hash);
    const t = v2Tasks.find((x) => x.hash === hash)!;
    if (v3 === undefined) {
      if (!v3Complete) continue;
      run.add({
        kind: "inconsistent",
        code: "missing_from_v3",
        path: t.path,
        spec: t.label,
        layout: 2,
        message: `"${t.label}" is in the v2 part but not in the v3 part (migrate again)`,
      });
    } else if (v3 !== sum) {
      run.add({
        kind: "inconsistent",
        code: "layouts_disagree",
        path: t.path,
        spec: t.label,
        layout: 2,
        message: `The v2 and v3 tarballs of "${t.label}" differ: v2 sha256 "${sum}", v3 "${v3}"`,
      });
    }
  }
}
