/** `bundle`: one file holding a v3 mirror, for air-gapped sites. */
import { Option } from "commander";
import type { Register } from "../context.ts";
import { UsageError } from "../../errors.ts";
import { Progress } from "../progress.ts";
import { addLockfileOptions, lockQueries, readCliLock } from "../lockfile.ts";
import { addTrustOptions, positiveInt } from "../copy_options.ts";

const register: Register = (program, act) => {
  const bundleCmd = program
    .command("bundle")
    .description(
      "write one file holding a v3 mirror with the specs' runtime closure, public keys and " +
        "index, for air-gapped sites (read in place by every read command and install -m)",
    )
    .argument("[spec...]", "specs to bundle with their runtime closure (or --lockfile/-e)")
    .requiredOption("-m, --mirror <mirror>", "source mirror path or URL")
    .requiredOption("-o, --output <file>", "bundle file to write (an existing one is refused)")
    .option("-f, --force", "replace the output file when it exists", false)
    .addOption(
      new Option("-j, --jobs <n>", "objects copied at the same time").default(8).argParser(
        positiveInt("--jobs"),
      ),
    )
    .addHelpText(
      "after",
      "\nExamples:\n  spackle bundle fooapp -m https://cache.example.org/spack -o fooapp.bundle\n" +
        "  spackle verify fooapp.bundle\n  spackle sync fooapp.bundle /site/mirror\n" +
        "  spackle bundle --lockfile spack.lock -m https://cache.example.org -o site.bundle",
    );
  addTrustOptions(bundleCmd);
  addLockfileOptions(bundleCmd);
  bundleCmd
    .action(act(async ({ out, globals, signal }, specs: string[], o) => {
      const m = await import("../../../mod.ts");
      const { entryWarnings, requireLockInStore, syncProgress } = await import("../copy_run.ts");
      const { openCliStore } = await import("../mirror_options.ts");
      const lock = await readCliLock(o);
      if (!specs.length && !lock) {
        throw new UsageError("Cannot bundle: give specs, --lockfile or -e");
      }
      const src = await openCliStore(o.mirror, globals, { out });
      const { isRegistryStore } = await import("../../../mod.ts");
      const trust = m.copyTrust(o, isRegistryStore(src), o.mirror);
      if (lock) await requireLockInStore(src, lock, signal);
      specs = lockQueries(specs, lock);
      const progress = Progress.for(out);
      const r = await m.bundleMirror(src, o.output, {
        specs,
        jobs: o.jobs,
        force: !!o.force,
        ...trust,
        signal,
        onEvent: progress.enabled ? syncProgress(progress) : undefined,
      }).finally(() => progress.stop());
      const left = r.sync.entries.filter((e) => e.status === "left");
      const warnings = entryWarnings(r.sync.entries);
      if (out.json) {
        out.data({
          path: r.path,
          objects: r.objects,
          specs: r.sync.indexSpecs,
          warnings,
          left: left.map((e) => ({ path: e.path, reason: e.reason })),
        });
      } else {
        for (const w of warnings) out.warn(w);
        for (const e of left) out.warn(`left ${e.path}: ${e.reason}`);
        out.info(
          `wrote ${r.path}: ${r.sync.indexSpecs} specs, ${r.objects} objects` +
            (left.length ? `; ${left.length} entries left out (listed)` : ""),
        );
      }
      return left.length ? 3 : 0;
    }));
};
export default register;
