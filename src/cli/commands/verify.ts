/** `verify`: checks a whole build cache. */
import { readFile } from "node:fs/promises";
import { Option } from "commander";
import type { Register } from "../context.ts";
import { UsageError } from "../../errors.ts";
import { formatBytes } from "../output.ts";
import { Progress } from "../progress.ts";
import { readCliLock } from "../lockfile.ts";
import { positiveInt } from "../copy_options.ts";

const VERIFY_HELP = `
Exit codes (bit flags, added together when several kinds of problem are found):
   0  the mirror is sound (notices such as orphan blobs do not count)
   4  corrupt: a blob or metadata file is missing, truncated, has the wrong sha256 or size,
      or does not parse
   8  untrusted: a signature is bad or made by a key not given with --key, or an entry is
      unsigned while --require-signatures is set
  16  unreachable: part of the mirror could not be read (network, permissions, a portal page)
  32  inconsistent: the index and the metadata disagree, or the v2 and v3 parts of a migrated
      mirror disagree
   1  verify itself failed; 2  usage error

Examples:
  spackle verify ./mirror
  spackle verify https://cache.example.org/spack --key site.pub --require-signatures
  spackle verify s3://bucket/cache --sample 50 --jobs 8
  spackle --json verify ./mirror | jq '.findings[] | select(.kind == "corrupt")'`;

const register: Register = (program, act) => {
  program
    .command("verify")
    .description(
      "check a build cache: manifests parse, blobs have the right size and sha256, signatures " +
        "verify, the index agrees, and no blob is orphaned",
    )
    .argument("<mirror>", "mirror path or URL (file://, https://, s3://, oci://, or a bundle file)")
    .addOption(
      new Option("-j, --jobs <n>", "entries checked at the same time").default(4).argParser(
        positiveInt("--jobs"),
      ),
    )
    .addOption(
      new Option("--sample <n>", "check only N entries picked at random (a quick check)")
        .argParser(positiveInt("--sample")),
    )
    .option(
      "-k, --key <file...>",
      "armored public key(s) whose signatures are trusted; without, signatures are not checked",
    )
    .option("--require-signatures", "report unsigned entries as untrusted", false)
    .option(
      "--lockfile <file>",
      "also check that every spec the roots of this spack.lock need is in the mirror",
    )
    .option("-e, --env <dir>", "as --lockfile, with DIR/spack.lock")
    .option("--all", "with --lockfile/-e: every concrete spec of the lock, not only its roots")
    .addHelpText("after", VERIFY_HELP)
    .action(act(async ({ out, globals, signal }, mirror: string, o) => {
      const m = await import("../../../mod.ts");
      const lock = await readCliLock(o);
      const keys: string[] = [];
      for (const f of o.key ?? []) {
        try {
          keys.push(await readFile(f, "utf8"));
        } catch (e) {
          throw new UsageError(`Cannot read the key file "${f}": ${(e as Error).message}`);
        }
      }
      const verifier = keys.length ? await m.verifierFromKeys(keys) : undefined;
      const { openCliStore } = await import("../mirror_options.ts");
      const store = await openCliStore(mirror, globals, { out });
      const progress = Progress.for(out);
      let counted = 0, countedBytes = 0;
      const report = await m.verifyMirror(store, {
        verifier,
        requireSignatures: !!o.requireSignatures,
        jobs: o.jobs,
        sample: o.sample,
        signal,
        onProgress: ({ done, total, bytes }) => {
          if (counted === 0) progress.phase("checked", total);
          progress.advance(bytes - countedBytes);
          countedBytes = bytes;
          for (; counted < done; counted++) progress.finish();
        },
      }).finally(() => progress.stop());
      if (lock) {
        // Specs of the lock that the mirror lacks: missing metadata, as verify reports it.
        const { openMirror } = await import("../../../mod.ts");
        const mir = await openMirror(store, { signal });
        for (const n of await m.missingLockSpecs(lock.lock, mir, { all: lock.all, signal })) {
          report.findings.push({
            kind: "corrupt",
            code: "lock_spec_missing",
            path: lock.path,
            spec: `${n.name}@${n.version}/${n.hash}`,
            message: `${n.name}@${n.version}/${n.hash} of ${lock.label} is not in the mirror`,
          });
          report.flags |= m.VERIFY_FLAGS.corrupt;
        }
      }
      if (out.json) {
        out.data(report);
        return report.flags;
      }
      const c = out.color;
      const sig = [
        report.checked.signaturesVerified && `${report.checked.signaturesVerified} verified`,
        report.checked.signedUnchecked &&
        `${report.checked.signedUnchecked} not checked (no --key)`,
        report.checked.unsigned && `${report.checked.unsigned} unsigned`,
      ].filter(Boolean).join(", ");
      out.info(
        `${report.url} (layout ${report.layouts.map((l) => `v${l}`).join(" + ") || "none"}): ` +
          `${report.checked.entries} entries${report.sampled ? " (sample)" : ""}, ` +
          `${report.checked.blobs} blobs, ${formatBytes(report.checked.bytes)}` +
          (sig ? `; signatures: ${sig}` : ""),
      );
      const paint = {
        corrupt: c.red,
        untrusted: c.red,
        unreachable: c.yellow,
        inconsistent: c.yellow,
        notice: c.dim,
      };
      let problems = 0, notices = 0;
      for (const f of report.findings) {
        if (f.kind === "notice") {
          notices++;
          if (!out.verbose) continue;
        } else problems++;
        out.out(`${paint[f.kind](f.kind.padEnd(12))} ${f.code.padEnd(28)} ${f.message}`);
      }
      if (notices && !out.verbose) {
        out.info(`${notices} notice(s) (orphans and the like); --verbose shows them`);
      }
      out.info(problems ? c.red(`${problems} problem(s) found`) : c.green("no problems found"));
      return report.flags;
    }));
};
export default register;
