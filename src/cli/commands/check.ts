/** `verify`, `sync`, `bundle`, `prune`: whole-mirror operations. */
import { readFile } from "node:fs/promises";
import process from "node:process";
import { Option } from "commander";
import type { Register } from "../app.ts";
import { UsageError } from "../../errors.ts";
import { formatBytes } from "../output.ts";

function positiveInt(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) {
      throw new UsageError(`${name} must be a whole number above 0, not "${v}"`);
    }
    return n;
  };
}

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

/** `spackle verify MIRROR`. */
const register: Register = (program, act) => {
  program
    .command("verify")
    .description(
      "check a build cache: manifests parse, blobs have the right size and sha256, signatures " +
        "verify, the index agrees, and no blob is orphaned",
    )
    .argument("<mirror>", "mirror path or URL (file://, https://, s3://, or a bundle file)")
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
    .addHelpText("after", VERIFY_HELP)
    .action(act(async ({ out, globals, signal }, mirror: string, o) => {
      const m = await import("../../../mod.ts");
      const keys: string[] = [];
      for (const f of o.key ?? []) {
        try {
          keys.push(await readFile(f, "utf8"));
        } catch (e) {
          throw new UsageError(`Cannot read the key file "${f}": ${(e as Error).message}`);
        }
      }
      const verifier = keys.length ? await m.verifierFromKeys(keys) : undefined;
      const store = await m.openStore(mirror, { http: { caFile: globals.caFile } });
      let last = 0;
      const report = await m.verifyMirror(store, {
        verifier,
        requireSignatures: !!o.requireSignatures,
        jobs: o.jobs,
        sample: o.sample,
        signal,
        onProgress: ({ done, total, bytes }) => {
          if (!out.tty) return;
          const now = Date.now();
          if (now - last < 100 && done < total) return;
          last = now;
          process.stderr.write(`\rchecked ${done}/${total} entries, ${formatBytes(bytes)}\x1b[K`);
        },
      });
      if (out.tty) process.stderr.write("\r\x1b[K");
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
