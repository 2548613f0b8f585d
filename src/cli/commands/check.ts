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
      const { openCliStore } = await import("../mirrors.ts");
      const store = await openCliStore(mirror, globals, { out });
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

  program
    .command("sync")
    .description(
      "copy entries with their runtime closure (or everything) from any mirror or bundle to a " +
        "v3 mirror: blobs verified while copied, present blobs skipped, index rebuilt once",
    )
    .argument("<src>", "source mirror path or URL (v2 or v3, file://, https://, s3://, a bundle)")
    .argument("<dst>", "destination mirror path or URL (file:// or s3://), written as v3")
    .argument("[spec...]", "specs to copy with their runtime closure (default: everything)")
    .addOption(
      new Option("-j, --jobs <n>", "objects copied at the same time").default(8).argParser(
        positiveInt("--jobs"),
      ),
    )
    .option("--dry-run", "show what would be copied, write nothing", false)
    .addHelpText(
      "after",
      "\nExit codes: 0 done; 3 some entries were left (listed); 1 failure (a corrupt blob stops " +
        "the copy); 2 usage error\n\nExamples:\n  spackle sync ./mirror s3://bucket/cache\n" +
        "  spackle sync https://cache.example.org/spack ./local zlib cmake\n" +
        "  spackle sync site.bundle s3://bucket/cache --dry-run",
    )
    .action(act(async ({ out, globals, signal }, src: string, dst: string, specs: string[], o) => {
      const m = await import("../../mirror/mod.ts");
      const { openCliStore } = await import("../mirrors.ts");
      const from = await openCliStore(src, globals, { out });
      const to = await openCliStore(dst, globals, { writable: true, out });
      const r = await m.syncMirror(from, to as Parameters<typeof m.syncMirror>[1], {
        specs,
        jobs: o.jobs,
        dryRun: !!o.dryRun,
        signal,
      });
      const left = r.entries.filter((e) => e.status === "left");
      if (out.json) out.data(r);
      else {
        const count = (s: string) => r.entries.filter((e) => e.status === s).length;
        for (const e of left) out.warn(`left ${e.path}: ${e.reason}`);
        out.info(
          `${r.entries.length} manifests from a v${r.source} source: ${count("copied")} copied, ` +
            `${count("migrated")} migrated, ${count("present")} present, ` +
            `${count("would-copy")} would be copied, ${left.length} left; ` +
            `${r.blobsCopied} blobs copied (${formatBytes(r.bytesCopied)}), ` +
            `${r.blobsPresent} already present` +
            (r.indexSpecs !== undefined ? `; index: ${r.indexSpecs} specs` : ""),
        );
      }
      return left.length ? 3 : 0;
    }));

  program
    .command("bundle")
    .description(
      "write one file holding a v3 mirror with the specs' runtime closure, public keys and " +
        "index, for air-gapped sites (read in place by every read command and install -m)",
    )
    .argument("<spec...>", "specs to bundle with their runtime closure")
    .requiredOption("-m, --mirror <mirror>", "source mirror path or URL")
    .requiredOption("-o, --output <file>", "bundle file to write")
    .addOption(
      new Option("-j, --jobs <n>", "objects copied at the same time").default(8).argParser(
        positiveInt("--jobs"),
      ),
    )
    .addHelpText(
      "after",
      "\nExamples:\n  spackle bundle fooapp -m https://cache.example.org/spack -o fooapp.bundle\n" +
        "  spackle verify fooapp.bundle\n  spackle sync fooapp.bundle /site/mirror",
    )
    .action(act(async ({ out, globals, signal }, specs: string[], o) => {
      const m = await import("../../mirror/mod.ts");
      const { openCliStore } = await import("../mirrors.ts");
      const src = await openCliStore(o.mirror, globals, { out });
      const r = await m.bundleMirror(src, o.output, { specs, jobs: o.jobs, signal });
      if (out.json) out.data({ path: r.path, objects: r.objects, specs: r.sync.indexSpecs });
      else out.info(`wrote ${r.path}: ${r.sync.indexSpecs} specs, ${r.objects} objects`);
      return 0;
    }));

  program
    .command("prune")
    .description(
      "list (default) or delete orphan blobs, manifests naming missing blobs and, with --keep, " +
        "entries not kept; manifests are deleted before blobs and the index is rebuilt",
    )
    .argument("<mirror>", "v3 mirror path or URL (file:// or s3://)")
    .option("--delete", "delete what is listed", false)
    .option("--keep <file>", "hashes to keep, one per line, or a Spack environment spack.lock")
    .addHelpText(
      "after",
      "\nExamples:\n  spackle prune ./mirror\n  spackle prune s3://bucket/cache --keep spack.lock --delete",
    )
    .action(act(async ({ out, globals, signal }, mirror: string, o) => {
      const m = await import("../../mirror/mod.ts");
      const { openCliStore } = await import("../mirrors.ts");
      let keep: Set<string> | undefined;
      if (o.keep) {
        let text: string;
        try {
          text = await readFile(o.keep, "utf8");
        } catch (e) {
          throw new UsageError(`Cannot read the keep file "${o.keep}": ${(e as Error).message}`);
        }
        keep = m.parseKeepFile(text, `"${o.keep}"`);
      }
      const store = await openCliStore(mirror, globals, { writable: !!o.delete, out });
      const r = await m.pruneMirror(store, { keep, delete: !!o.delete, signal });
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
