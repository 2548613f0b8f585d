/** `migrate`: a v2 mirror to v3, in place or into another mirror. */
import { readFile } from "node:fs/promises";
import { EXIT, type Register } from "../context.ts";
import { NotFoundError, UsageError } from "../../errors.ts";
import type { Store } from "../../../mod.ts";
import { chooseSigner, jobsOption, pruneWait, writableStore } from "../push_options.ts";

const register: Register = (program, act) => {
  program
    .command("migrate")
    .description(
      "convert a v2 build cache to v3 as Spack's migration does (the source is never deleted)",
    )
    .argument("<src>", "v2 mirror path or URL")
    .argument("<dst>", "mirror to write the v3 layout to (may be the same as SRC)")
    .option(
      "-k, --trust <file>",
      "armored public key trusted for the v2 spec files (besides the keyring's); repeat for more",
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option(
      "--key <file|fingerprint>",
      "armored secret key file, or fingerprint of a keyring key, to sign the v3 manifests " +
        "with (default: the keyring's only secret key)",
    )
    .option("--unsigned", "neither check source signatures nor sign the result", false)
    .option("--keyring <dir>", "keyring directory (default: SPACKLE_KEYRING, else the user's)")
    .option("-n, --dry-run", "check every entry, write nothing", false)
    .option(
      "--trust-destination",
      "take blobs already at the destination as good by their size, without checking their " +
        "sha256",
      false,
    )
    .addOption(jobsOption(4))
    .addHelpText(
      "after",
      "\nExit code 3 when entries were left (listed with the reason).\n" +
        "\nExamples:\n  spackle migrate --unsigned ./old-mirror ./new-mirror\n" +
        "  spackle migrate --trust site.pub --key site.sec ./mirror ./mirror\n" +
        "  spackle migrate --dry-run --trust site.pub https://cache.example.org/ ./v3-copy",
    )
    .action(act(async ({ out, globals, signal }, src: string, dst: string, o) => {
      const { openCliStore } = await import("../mirror_options.ts");
      const { migrate } = await import("../../../mod.ts");
      const { keyringVerifier } = await import("../../../mod.ts");
      const { defaultKeyringDir } = await import("../../../mod.ts");
      const keys: string[] = [];
      for (const f of o.trust ?? []) {
        try {
          keys.push(await readFile(f, "utf8"));
        } catch (e) {
          throw new UsageError(`Cannot read the key file "${f}": ${(e as Error).message}`);
        }
      }
      // the keyring's trusted keys plus --trust files
      const verifier = o.unsigned ? undefined : keyringVerifier(defaultKeyringDir(o.keyring), keys);
      const signer = o.dryRun && !o.key ? undefined : await chooseSigner(o);
      const source = await openCliStore(src, globals, { out });
      // A dry run writes nothing, but a destination that does not exist yet is fine: it is
      // opened as a writer would open it (nothing is created until the first write).
      const target = o.dryRun
        ? (await openCliStore(dst, globals, { direction: "push", out }).catch(async (e) => {
          if (!(e instanceof NotFoundError)) throw e;
          return await writableStore(dst, globals, out);
        })) as Store
        : await writableStore(dst, globals, out);
      const res = await migrate(source, target, {
        verifier,
        signer,
        unsigned: !!o.unsigned,
        dryRun: !!o.dryRun,
        jobs: o.jobs,
        trustDestination: !!o.trustDestination,
        onPruneWait: pruneWait(out),
        signal,
        onProgress: (r) => {
          const id = `${r.name}@${r.version}/${r.hash.slice(0, 7)}`;
          if (r.status === "left") out.warn(`left ${id}: ${r.reason}`);
          else if (r.status === "present") out.info(`already migrated ${id}`);
          else if (r.status === "would-migrate") out.info(`would migrate ${id}`);
          else out.info(`migrated ${id}`);
        },
      });
      const left = res.specs.filter((r) => r.status === "left").length;
      if (out.json) out.data(res);
      else {
        const done = res.specs.length - left;
        out.info(
          `${done} ${o.dryRun ? "can be migrated" : "migrated or present"}, ${left} left` +
            (res.index ? `; index ${res.index}` : ""),
        );
      }
      return left ? EXIT.problems : EXIT.ok;
    }));
};
export default register;
