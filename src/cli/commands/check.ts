/** `verify`, `sync`, `bundle`, `prune`: whole-mirror operations. */
import { readFile } from "node:fs/promises";
import { type Command, Option } from "commander";
import { cliVerifier } from "../mirror_options.ts";
import type { Verifier } from "../../sign/types.ts";
import type { Register } from "../context.ts";
import { UsageError } from "../../errors.ts";
import { parseV3SpecManifestPath } from "../../layout/v3/paths.ts";
import type { BundleEvent, PruneProgress, SyncEvent } from "../../mirror/mod.ts";
import { formatBytes } from "../output.ts";
import { pruneWait } from "./push.ts";
import { Progress, type ProgressItem } from "../progress.ts";
import { addLockfileOptions, type CliLock, lockQueries, readCliLock } from "../lockfile.ts";
import type { ReadStore } from "../../storage/store.ts";

function positiveInt(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) {
      throw new UsageError(`${name} must be a whole number above 0, not "${v}"`);
    }
    return n;
  };
}

/** A short label for the manifest at `path`: name@version/hash7 for a spec, else its file. */
function entryLabel(path: string): string {
  const spec = parseV3SpecManifestPath(path);
  if (spec) return `${spec.name}@${spec.version}/${spec.hash.slice(0, 7)}`;
  return path.slice(path.lastIndexOf("/") + 1);
}

/**
 * Draws a sync (or bundle) on `progress`: manifests read, then manifests done out of all with
 * the bytes of the blobs still to copy (blobs already present leave the total), a bar per blob
 * being copied, then the index rebuild and (bundle) the writing of the file.
 */
export function syncProgress(progress: Progress): (e: SyncEvent | BundleEvent) => void {
  const bars = new Map<string, { item: ProgressItem; bytes: number }>();
  let entries = 0, bytes = 0;
  return (e) => {
    switch (e.kind) {
      case "reading":
        if (e.done === 0) progress.phase("reading manifests", e.total);
        else progress.finish();
        break;
      case "plan":
        entries = e.entries;
        bytes = e.bytes;
        progress.phase("total", entries, bytes);
        break;
      case "blob-start":
        bars.set(e.path, {
          item: progress.start(entryLabel(e.manifest), e.size, { counts: false }),
          bytes: 0,
        });
        break;
      case "blob-bytes": {
        const b = bars.get(e.path);
        if (b) {
          b.item.advance(e.bytes);
          b.bytes += e.bytes;
        }
        break;
      }
      case "blob-done": {
        const b = bars.get(e.path);
        if (b && e.status === "failed") {
          // What was not copied leaves the total.
          bytes -= e.size - b.bytes;
          progress.setTotal(bytes, entries);
          b.item.done();
          bars.delete(e.path);
        } else if (b) {
          // A server-side copy moves bytes that never pass through here.
          if (e.size > b.bytes) b.item.advance(e.size - b.bytes);
          b.item.done();
          bars.delete(e.path);
        } else {
          bytes -= e.size;
          progress.setTotal(bytes, entries);
        }
        break;
      }
      case "entry":
        progress.finish();
        break;
      case "index":
        progress.phase("rebuilding the index");
        break;
      case "write":
        progress.phase("writing the bundle", e.objects, e.bytes);
        break;
      case "write-bytes":
        progress.advance(e.bytes);
        break;
      case "write-object":
        progress.finish();
        break;
    }
  };
}

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

/** Adds the trust options of sync and bundle: -k/--key, --keyring, --allow-unsigned. */
function addTrustOptions(cmd: Command): void {
  cmd
    .option(
      "-k, --key <file...>",
      "also trust these armored public keys besides the keyring's",
    )
    .option("--keyring <dir>", "keyring directory (default: SPACKLE_KEYRING, else the user's)")
    .option(
      "--allow-unsigned",
      "admit unsigned entries and signatures by keys not trusted, with a warning each (a " +
        "signature that fails is never admitted)",
      false,
    )
    .option("--require-signatures", "the default: leave entries that are not verified", false);
}

/**
 * How sync and bundle enforce trust: signatures verified against the keyring and --key files;
 * unsigned entries and keys not trusted left, unless --allow-unsigned (or the source is a
 * registry, unsigned by nature). Without any trusted key nothing could be copied: refused.
 */
function syncTrust(
  o: { key?: string[]; keyring?: string; allowUnsigned?: boolean; requireSignatures?: boolean },
  registry: boolean,
  label: string,
): { verifier?: Verifier; requireSignatures: boolean; allowUnsigned: boolean } {
  if (o.allowUnsigned && o.requireSignatures) {
    throw new UsageError("Give --allow-unsigned or --require-signatures, not both");
  }
  const allow = !!o.allowUnsigned || registry;
  const verifier = cliVerifier({ key: o.key, keyring: o.keyring });
  if (!allow && !verifier) {
    throw new UsageError(
      `Cannot copy from "${label}": its entries must be signed by a trusted key and no ` +
        `trusted keys are available: trust the signing key ("spackle keys trust FILE" or ` +
        `"spackle keys fetch -m MIRROR --trust"), give it with --key FILE, or admit unsigned ` +
        `entries with --allow-unsigned`,
    );
  }
  return { verifier, requireSignatures: !allow, allowUnsigned: allow };
}

/** One warning line per admitted entry that is not verified. */
function entryWarnings(entries: { path: string; warning?: string }[]): string[] {
  return entries.filter((e) => e.warning).map((e) => `${entryLabel(e.path)}: ${e.warning}`);
}

/** Refuses a lock whose specs are not all in the store's mirror, naming every missing one. */
async function requireLockInStore(store: ReadStore, lock: CliLock, signal: AbortSignal) {
  const { openMirror } = await import("../../layout/open.ts");
  const { requireLockSpecs } = await import("../../mirror/lockfile.ts");
  await requireLockSpecs(lock.lock, await openMirror(store, { signal }), lock.label, {
    all: lock.all,
    signal,
  });
}

/** `spackle verify MIRROR`. */
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
        const { openMirror } = await import("../../layout/open.ts");
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
      const m = await import("../../mirror/mod.ts");
      const { openCliStore } = await import("../mirror_options.ts");
      const lock = await readCliLock(o);
      const from = await openCliStore(src, globals, { out });
      const { isRegistryStore } = await import("../../storage/registry/store.ts");
      const trust = syncTrust(o, isRegistryStore(from), src);
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
      const m = await import("../../mirror/mod.ts");
      const { openCliStore } = await import("../mirror_options.ts");
      const lock = await readCliLock(o);
      if (!specs.length && !lock) {
        throw new UsageError("Cannot bundle: give specs, --lockfile or -e");
      }
      const src = await openCliStore(o.mirror, globals, { out });
      const { isRegistryStore } = await import("../../storage/registry/store.ts");
      const trust = syncTrust(o, isRegistryStore(src), o.mirror);
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
      const m = await import("../../mirror/mod.ts");
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
        const { lockfileClosure } = await import("../../index/lockfile.ts");
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
