/** `sync`: copies entries with their runtime closure (or everything) into a v3 mirror. */
import { Option } from "commander";
import type { Register } from "../context.ts";
import { formatBytes } from "../output.ts";
import { pruneWait } from "../push_options.ts";
import { Progress } from "../progress.ts";
import { addLockfileOptions, lockQueries, readCliLock } from "../lockfile.ts";
import { addTrustOptions, positiveInt } from "../copy_options.ts";

const register: Register = (program, act) => {
  const syncCmd = program
    .command("sync")
    .description(
      "copy entries with their runtime closure (or everything) from any mirror or bundle to a " +
        "v3 mirror: blobs verified while copied, present blobs skipped, index rebuilt once",
    )
    .argument(
      "<src>",
      "source mirror path or URL (v2 or v3, file://, https://, s3://, oci://, a bundle)",
    )
    .argument(
      "<dst>",
      "destination mirror path or URL (file://, s3:// written as v3; oci:// as Spack's images)",
    )
    .argument("[spec...]", "specs to copy with their runtime closure (default: everything)")
    .addOption(
      new Option("-j, --jobs <n>", "objects copied at the same time").default(8).argParser(
        positiveInt("--jobs"),
      ),
    )
    .option("--dry-run", "show what would be copied, write nothing", false)
    .option(
      "--trust-source",
      "S3 to S3 on one endpoint: copy blobs on the server without first reading each source " +
        "blob to check its sha256 (sizes are still checked)",
      false,
    )
    .option(
      "--trust-destination",
      "take blobs already at the destination as good by their size, without reading them " +
        "back to check their sha256 (for the rerun of a huge mirror)",
      false,
    )
    .addHelpText(
      "after",
      "\nTrust: every entry must be signed by a trusted key (the keyring's or --key's); " +
        "unsigned entries and keys not trusted are left unless --allow-unsigned (or the source " +
        "is a configured mirror with signed: false), which admits them with a warning each. " +
        "A signature that fails is never copied. Registries (oci://) are unsigned by nature: " +
        "their entries are admitted.\n" +
        "\nExit codes: 0 done; 3 some entries were left (listed); 1 failure (a corrupt blob stops " +
        "the copy); 2 usage error\n\nExamples:\n  spackle sync ./mirror s3://bucket/cache\n" +
        "  spackle sync https://cache.example.org/spack ./local zlib cmake\n" +
        "  spackle sync site.bundle s3://bucket/cache --dry-run\n" +
        "  spackle sync https://cache.example.org/spack ./local --lockfile spack.lock",
    );
  addTrustOptions(syncCmd);
  addLockfileOptions(syncCmd);
  syncCmd
    .action(act(async ({ out, globals, signal }, src: string, dst: string, specs: string[], o) => {
      const m = await import("../../../mod.ts");
      const { entryWarnings, requireLockInStore, syncProgress } = await import("../copy_run.ts");
      const { openCliStore } = await import("../mirror_options.ts");
      const lock = await readCliLock(o);
      const from = await openCliStore(src, globals, { out });
      const { isRegistryStore } = await import("../../../mod.ts");
      const trust = m.copyTrust(o, isRegistryStore(from), src);
      if (lock) await requireLockInStore(from, lock, signal);
      specs = lockQueries(specs, lock);
      const to = await openCliStore(dst, globals, { writable: true, out });
      const progress = Progress.for(out);
      const r = await m.syncMirror(from, to as Parameters<typeof m.syncMirror>[1], {
        specs,
        ...trust,
        jobs: o.jobs,
        dryRun: !!o.dryRun,
        trustSource: !!o.trustSource,
        trustDestination: !!o.trustDestination,
        onPruneWait: pruneWait(out),
        signal,
        onEvent: progress.enabled ? syncProgress(progress) : undefined,
      }).finally(() => progress.stop());
      const left = r.entries.filter((e) => e.status === "left");
      const warnings = entryWarnings(r.entries);
      if (out.json) out.data({ ...r, warnings });
      else {
        const count = (s: string) => r.entries.filter((e) => e.status === s).length;
        for (const w of warnings) out.warn(w);
        for (const e of left) out.warn(`left ${e.path}: ${e.reason}`);
        out.info(
          `${r.entries.length} manifests from a v${r.source} source: ${count("copied")} copied, ` +
            `${count("migrated")} migrated, ${count("present")} present, ` +
            `${count("would-copy")} would be copied, ${left.length} left; ` +
            `${r.blobsCopied} blobs copied (${formatBytes(r.bytesCopied)}` +
            (r.serverSideCopies ? `, ${r.serverSideCopies} on the server` : "") + "), " +
            `${r.blobsPresent} already present` +
            (r.indexSpecs !== undefined ? `; index: ${r.indexSpecs} specs` : ""),
        );
      }
      return left.length ? 3 : 0;
    }));
};
export default register;
