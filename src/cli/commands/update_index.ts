/** `update-index`: rebuilds a v3 mirror's index from its manifests. */
import { EXIT, type Register } from "../context.ts";
import { UsageError } from "../../errors.ts";
import { jobsOption, pruneWait, writableStore } from "../push_options.ts";

const register: Register = (program, act) => {
  program
    .command("update-index")
    .description(
      "rebuild a v3 mirror's index from its spec manifests (an oci:// registry's from its tags)",
    )
    .argument("<mirror>", "mirror path or URL to write")
    .option("--keys", "also rebuild the key index", false)
    .addOption(jobsOption(32))
    .addHelpText(
      "after",
      "\nExamples:\n  spackle update-index ./mirror\n  spackle update-index --keys s3://bucket/cache",
    )
    .action(act(async ({ out, globals, signal }, mirror: string, o) => {
      const { updateIndex } = await import("../../../mod.ts");
      const { V3Writer } = await import("../../../mod.ts");
      const store = await writableStore(mirror, globals, out);
      const { isRegistryStore } = await import("../../../mod.ts");
      let res: Awaited<ReturnType<typeof updateIndex>>;
      if (isRegistryStore(store)) {
        // An OCI registry: the index image from every spec tag (there are no keys).
        if (o.keys) {
          throw new UsageError(
            `Cannot write a key index to ${store.url.href}: OCI caches are unsigned`,
          );
        }
        const { OciWriter } = await import("../../../mod.ts");
        res = await new OciWriter(store).rebuildIndex({ jobs: o.jobs, signal });
      } else {
        res = await updateIndex(new V3Writer(store, { onPruneWait: pruneWait(out) }), {
          jobs: o.jobs,
          keys: !!o.keys,
          signal,
        });
      }
      for (const s of res.skipped) out.warn(`skipped ${s.path}: ${s.reason}`);
      if (out.json) out.data(res);
      else {
        out.info(
          `index of ${res.specs} specs written (sha256 ${res.index.checksum})` +
            (res.keys ? `; key index of ${res.keys.length} keys` : ""),
        );
      }
      return res.skipped.length ? EXIT.problems : EXIT.ok;
    }));
};
export default register;
