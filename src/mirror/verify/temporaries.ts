/**
 * What interrupted writers left in a mirror on this host's file system: temporary files and
 * directories, each with what can be done about it.
 *
 * @module
 */
import { findTemporaries } from "../../core/pid.ts";
import type { VerifyRun } from "./run.ts";
import { localDir } from "../../storage/store.ts";

const WHAT = {
  dead: "its process is gone; `spackle prune --delete` removes it",
  live: "its process still runs (a write in progress)",
  "other-host": "made on another host; remove it once that write is over",
  unknown: "its owner is unknown; `spackle prune --delete` removes it after an hour",
} as const;

/** Notices for temporaries, where the mirror is a directory (the `localPath` capability). */
export function reportTemporaries(run: VerifyRun): void {
  const { store } = run;
  const dir = localDir(store);
  if (dir === undefined) return;
  for (const t of findTemporaries(dir)) {
    run.add({
      kind: "notice",
      code: "temporary_file",
      path: t.path,
      message: `The temporary ${t.dir ? "directory" : "file"} "${t.path}" was left by a ` +
        `writer: ${WHAT[t.owner]}`,
    });
  }
}
