/** `prune`: lists or deletes what a v3 mirror no longer needs. */
import { readFile } from "node:fs/promises";
import { Option } from "commander";
import type { Register } from "../context.ts";
import { UsageError } from "../../errors.ts";
import type { PruneProgress } from "../../../mod.ts";
import { Progress } from "../progress.ts";
import { readCliLock } from "../lockfile.ts";
import { positiveInt } from "../copy_options.ts";

const PRUNE_STEPS: Record<PruneProgress["step"], string> = {
  "size-blobs": "sizing blobs",
  "read-manifests": "reading manifests",
  delete: "deleting",
};

/** Draws prune's steps on `progress`. */
export function pruneProgress(progress: Progress): (e: PruneProgress) => void {
  let done = 0;
  return (e) => {
    if (e.done === 0) {
      progress.phase(PRUNE_STEPS[e.step], e.total);
      done = 0;
    }
    for (; done < e.done; done++) progress.finish();
  };
}

const register: Register = (program, act) => {
  program
    .command("prune")
    .description(
      "list (default) or delete orphan blobs, manifests naming missing blobs, what interrupted " +
        "writers left (temporary files of dead processes, stale S3 multipart uploads) and, with " +
        "--keep, entries not kept; manifests are deleted before blobs and the index is rebuilt",
    )
    .argument("<mirror>", "v3 mirror path or URL (file:// or s3://)")
    .option("--delete", "delete what is listed", false)
    .option("--keep <file>", "hashes to keep, one per line, or a Spack environment spack.lock")
    .option("--lockfile <file>", "keep what the roots of this spack.lock need at run time")
    .option("-e, --env <dir>", "as --lockfile, with DIR/spack.lock")
    .option("--all", "with --lockfile/-e: keep every concrete spec of the lock")
    .addOption(
      new Option(
        "--stale-uploads <hours>",
        "S3 multipart uploads begun longer ago than this are stale (listed; aborted with --delete)",
      ).default(24).argParser(positiveInt("--stale-uploads")),
    )
    .option(
      "--keep-nothing",
      "allow an empty keep list (an empty --keep file, or none): every entry is removed",
      false,
    )
    .addHelpText(
      "after",
      "\nExamples:\n  spackle prune ./mirror\n  spackle prune s3://bucket/cache --keep spack.lock --delete",
    )
    .action(act(async ({ out, globals, signal }, mirror: string, o) => {
      const m = await import("../../../mod.ts");
      const { openCliStore } = await import("../mirror_options.ts");
      let keep: Set<string> | undefined;
      if (o.keep) {
        let text: string;
        try {
          text = await readFile(o.keep, "utf8");
        } catch (e) {
          throw new UsageError(`Cannot read the keep file "${o.keep}": ${(e as Error).message}`);
        }
        keep = m.parseKeepFile(text, `"${o.keep}"`);
        if (keep.size === 0 && !o.keepNothing) {
          throw new UsageError(
            `The keep file "${o.keep}" names no hash: prune would delete every entry. ` +
              "Give --keep-nothing to empty the mirror",
          );
        }
      }
      const lock = await readCliLock(o);
      if (lock && keep) throw new UsageError("Give --keep or --lockfile/-e, not both");
      if (lock) {
        const { lockfileClosure } = await import("../../../mod.ts");
        keep = new Set(lockfileClosure(lock.lock, { all: lock.all }).map((n) => n.hash));
      }
      if (!keep && o.keepNothing) keep = new Set();
      const store = await openCliStore(mirror, globals, { writable: !!o.delete, out });
      const progress = Progress.for(out);
      const r = await m.pruneMirror(store, {
        keep,
        keepNothing: !!o.keepNothing,
        staleUploadMs: o.staleUploads * 3600_000,
        delete: !!o.delete,
        signal,
        onProgress: progress.enabled ? pruneProgress(progress) : undefined,
      }).finally(() => progress.stop());
      if (out.json) out.data(r);
      else {
        for (const i of r.items) out.out(`${i.kind.padEnd(9)} ${i.reason.padEnd(13)} ${i.path}`);
        out.info(
          `${r.items.length} object(s) ${
            r.deleted ? "deleted" : "would be deleted (--delete deletes them)"
          }`,
        );
      }
      return 0;
    }));
};
export default register;
