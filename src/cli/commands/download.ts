/** `download`: a spec's files, verified, into a directory. */
import { InvalidArgumentError } from "commander";
import type { Register } from "../context.ts";
import type { MirrorCliOptions } from "../mirror_options.ts";
import { UsageError } from "../../errors.ts";
import {
  addLockfileOptions,
  type LockfileCliOptions,
  lockQueries,
  readCliLock,
} from "../lockfile.ts";
import { formatBytes } from "../output.ts";
import { Progress, withTarballProgress } from "../progress.ts";
import { addMirror, openReadMirrors } from "../read_options.ts";

const register: Register = (program, act) => {
  const downloadCmd = addMirror(
    program
      .command("download")
      .description(
        "fetch a spec's metadata and blobs into a directory (same paths as in the mirror), verifying each",
      )
      .argument("[spec...]", "NAME, NAME@VERSION, /HASH or NAME/HASH (or --lockfile/-e)")
      .requiredOption("--to <dir>", "destination directory (created when missing)")
      .option("--deps", "also fetch its link and run dependencies", false)
      .option("-j, --jobs <n>", "specs fetched at once", (v: string) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 1) {
          throw new InvalidArgumentError(`--jobs must be a whole number above 0, not "${v}"`);
        }
        return n;
      }, 4),
  );
  addLockfileOptions(downloadCmd);
  downloadCmd
    .addHelpText(
      "after",
      "\nExamples:\n  spackle download -m ./mirror fooapp --to ./dl\n" +
        "  spackle download -m https://cache.example.org --deps zlib@1.3.1 --to /tmp/zlib\n" +
        "  spackle download -m https://cache.example.org --lockfile spack.lock --deps --to ./dl",
    )
    .action(
      act(
        async (
          ctx,
          queries: string[],
          o: MirrorCliOptions & LockfileCliOptions & { to: string; deps: boolean; jobs: number },
        ) => {
          const lock = await readCliLock(o);
          if (!queries.length && !lock) {
            throw new UsageError("Cannot download: give a spec, --lockfile or -e");
          }
          const { mirrors, requireSignature } = await openReadMirrors(ctx, o);
          if (lock) {
            const { requireLockSpecs } = await import("../../../mod.ts");
            await requireLockSpecs(lock.lock, mirrors, lock.label, {
              all: lock.all,
              noDeps: !o.deps,
              signal: ctx.signal,
            });
          }
          const { downloadSpecs, specsToDownload } = await import("../../../mod.ts");
          const { refs, rootQueries, skipped } = await specsToDownload(
            mirrors,
            lockQueries(queries, lock),
            { deps: o.deps, requireSignature, signal: ctx.signal },
          );
          for (const r of skipped) {
            ctx.out.info(
              `skipping ${r.name}@${r.version}/${r.hash.slice(0, 7)}: not in the build cache`,
            );
          }
          let arrived = 0;
          ctx.onInterrupt(() =>
            `nothing downloaded into "${o.to}" (${arrived} of ${refs.length} specs had ` +
            `arrived; a download is kept only whole)`
          );
          const progress = Progress.for(ctx.out);
          progress.setTotal(undefined, refs.length);
          const say = (line: string, warn = false) => {
            if (progress.enabled) progress.log(warn ? `warning: ${line}` : line);
            else if (warn) ctx.out.warn(line);
            else ctx.out.info(line);
          };
          // Nothing appears in the target unless every file of the run arrived and verified.
          const { specs: done, warnings, bytes } = await downloadSpecs(mirrors, refs, {
            to: o.to,
            jobs: o.jobs,
            requireSignature,
            rootQueries,
            signal: ctx.signal,
            entries: withTarballProgress(mirrors, progress),
            onWarning: (w) => say(w, true),
            onLegacy: (w) => ctx.out.warn(w),
            onSpec: (d) => {
              arrived++;
              say(
                `downloaded ${d.name}@${d.version}/${d.hash.slice(0, 7)} (${d.files.length} files)`,
              );
            },
          }).finally(() => progress.stop());
          if (ctx.out.json) {
            ctx.out.data({ to: o.to, specs: done, warnings });
            return;
          }
          ctx.out.out(
            `${done.length} spec${done.length === 1 ? "" : "s"}, ${
              formatBytes(bytes)
            } into ${o.to}`,
          );
        },
      ),
    );
};
export default register;
