/** `push`: installed prefixes to a v3 build cache (or an OCI registry). */
import { Option } from "commander";
import { EXIT, type Register } from "../context.ts";
import { NotFoundError, UsageError } from "../../errors.ts";
import { addLockfileOptions, lockQueries, readCliLock } from "../lockfile.ts";
import { formatBytes } from "../output.ts";
import { Progress, withUploadProgress } from "../progress.ts";
import type { InstalledPrefix, InstalledSource } from "../../../mod.ts";
import { chooseSigner, jobsOption, pruneWait, writableStore } from "../push_options.ts";

const register: Register = (program, act) => {
  const pushCmd = program
    .command("push")
    .description(
      "pack installed specs (and their link/run dependencies) and push them to a v3 build cache",
    )
    .argument("<mirror>", "mirror path or URL to write (file://, s3://, oci://)")
    .argument(
      "[spec...]",
      "prefix directories, or with --root: NAME, NAME@VERSION, /HASH (or --lockfile/-e)",
    )
    .option("--root <dir>", "install tree with a Spack database (ROOT/.spack-db/index.json)")
    .addOption(
      new Option("--only <what>", "push the specs, their dependencies, or both")
        .choices(["package", "dependencies", "both"]).default("both"),
    )
    .addOption(
      new Option(
        "--with-build-dependencies",
        "include build dependencies (Spack's default)",
      ).conflicts("withoutBuildDependencies"),
    )
    .option(
      "--without-build-dependencies",
      "exclude build dependencies: push link, run and test dependencies only",
    )
    .option("-f, --force", "push again entries already present", false)
    .option(
      "--trust-destination",
      "take blobs already in the mirror as good by their size, without reading them back to " +
        "check their sha256 (for the rerun of a huge mirror)",
      false,
    )
    .addOption(jobsOption(2))
    .option(
      "--key <file|fingerprint>",
      "armored secret key file, or fingerprint of a keyring key, to sign with " +
        "(default: the keyring's only secret key)",
    )
    .option("--unsigned", "write unsigned manifests", false)
    .option("--keyring <dir>", "keyring directory (default: SPACKLE_KEYRING, else the user's)")
    .option("--update-index", "rebuild the index after pushing", false)
    .option(
      "--base-image <image>",
      "oci:// mirrors: build each image on this one (NAME[:TAG], e.g. ubuntu:24.04) so it runs as a container",
    )
    .addHelpText(
      "after",
      "\nExamples:\n  spackle push --unsigned ./mirror /opt/spack/linux-x86_64/zlib-1.3.1-abcdefg...\n" +
        "  spackle push --root /opt/spack --key signing.sec.asc s3://bucket/cache zlib fooapp\n" +
        "  spackle push --root ./tree --only dependencies --update-index ./mirror /iicodpd\n" +
        "  spackle push --root /opt/sw --lockfile spack.lock --unsigned ./mirror\n" +
        "  spackle push --root ~/sw --base-image ubuntu:24.04 oci://ghcr.io/org/cache fooapp",
    );
  addLockfileOptions(pushCmd);
  pushCmd
    .action(
      act(async ({ out, globals, signal, onInterrupt }, mirror: string, specs: string[], o) => {
        const { openDbSource, prefixSource, pushSpecs, specsToPush } = await import(
          "../../../mod.ts"
        );
        const { V3Writer } = await import("../../../mod.ts");
        // What is pushed and where are checked before a passphrase is asked for.
        const lock = await readCliLock(o);
        if (lock && !o.root) {
          throw new UsageError("push --lockfile/-e needs --root (the install tree to push from)");
        }
        if (!specs.length && !lock) {
          throw new UsageError("Cannot push: give specs, --lockfile or -e");
        }
        const store = await writableStore(mirror, globals, out);
        let src: InstalledSource;
        let requested: InstalledPrefix[];
        if (o.root) {
          const db = await openDbSource(o.root, {
            signal,
            onWait: (m) => out.info(m),
            onWarning: (m) => out.warn(m),
          });
          src = db;
          if (lock) {
            // Every spec of the lock that is not installed is named before anything is pushed.
            const want = lockQueries([], lock).map((q) => q.slice(1));
            const absent = want.filter((h) => !db.find(h));
            if (absent.length) {
              throw new NotFoundError(
                `Cannot push ${lock.label}: ${absent.length} of its spec(s) are not installed in ${o.root}: ` +
                  absent.map((h) => {
                    const n = lock.lock.dag.nodes.get(h)!;
                    return `${n.name}@${n.version}/${h}`;
                  }).join(", "),
              );
            }
          }
          requested = lockQueries(specs, lock).flatMap((q) => {
            const hits = db.query(q);
            if (hits.length === 0) {
              throw new UsageError(`No installed spec matches "${q}" in ${o.root}`);
            }
            if (hits.length > 1) {
              throw new UsageError(
                `"${q}" matches ${hits.length} installed specs: ` +
                  hits.map((h) => `/${h.hash.slice(0, 7)}`).join(", "),
              );
            }
            return hits;
          });
        } else {
          const ps = prefixSource(specs);
          src = ps;
          requested = ps.roots;
        }
        const only = o.only as "package" | "dependencies" | "both";
        const { items, missing } = specsToPush(requested, src, only, {
          buildDeps: !o.withoutBuildDependencies,
        });
        const { isRegistryStore } = await import("../../../mod.ts");
        const oci = isRegistryStore(store) ? store : undefined;
        if (oci && o.key) {
          throw new UsageError(`Cannot sign for ${store.url.href}: OCI build caches are unsigned`);
        }
        const signer = oci ? undefined : await chooseSigner(o);
        const progress = Progress.for(out);
        const { OciWriter } = await import("../../../mod.ts");
        if (o.baseImage && !oci) {
          throw new UsageError(`--base-image is for oci:// mirrors, not "${store.url.href}"`);
        }
        let baseImage: NonNullable<ConstructorParameters<typeof OciWriter>[1]>["baseImage"];
        if (o.baseImage) {
          const { parseImageRef, ociUrl } = await import("../../../mod.ts");
          const { openCliStore } = await import("../mirror_options.ts");
          const img = parseImageRef(o.baseImage);
          const bs = await openCliStore(ociUrl(img), globals, { out });
          baseImage = { store: bs as typeof oci & object, reference: img.reference };
        }
        const writer = oci
          ? new OciWriter(oci, { baseImage })
          : new V3Writer(withUploadProgress(store, progress), {
            trustDestination: !!o.trustDestination,
            onPruneWait: pruneWait(out),
          });
        for (const m of missing) out.warn(`not installed, not pushed: ${m}`);
        const started = performance.now();
        progress.setTotal(undefined, items.length);
        const say = (l: string) => progress.enabled ? progress.log(l) : out.info(l);
        const warn = (l: string) => progress.enabled ? progress.log(`warning: ${l}`) : out.warn(l);
        let done = 0;
        onInterrupt(() =>
          `${done} of ${items.length} specs pushed or already there (listed above), ` +
          `${items.length - done} not pushed; the index was not updated`
        );
        const res = await pushSpecs(items, src, writer, {
          only,
          force: !!o.force,
          jobs: o.jobs,
          signer,
          signal,
          onProgress: (r) => {
            const id = `${r.name}@${r.version}/${r.hash.slice(0, 7)}`;
            progress.finish();
            if (r.status !== "failed") done++;
            if (r.status === "pushed") say(`pushed ${id} (${formatBytes(r.tarballSize ?? 0)})`);
            else if (r.status === "skipped") say(`already in the mirror ${id}`);
            else warn(`failed ${id}: ${r.error}`);
            for (const w of r.warnings ?? []) warn(`${id}: ${w}`);
          },
        }).finally(() => progress.stop());
        if (signer && res.some((r) => r.status === "pushed") && writer instanceof V3Writer) {
          await writer.publishKey(signer.fingerprint, signer.publicKeyArmored, signal);
        }
        let index;
        if (o.updateIndex && writer instanceof OciWriter) {
          index = await writer.rebuildIndex({ signal });
        } else if (o.updateIndex && writer instanceof V3Writer) {
          const { updateIndex } = await import("../../../mod.ts");
          index = await updateIndex(writer, { signal, keys: !!signer });
          for (const s of index.skipped) out.warn(`not indexed ${s.path}: ${s.reason}`);
        }
        const failed = res.filter((r) => r.status === "failed").length;
        if (out.json) {
          out.data({ mirror: store.url.href, specs: res, missing, index });
        } else {
          const pushed = res.filter((r) => r.status === "pushed").length;
          const secs = ((performance.now() - started) / 1000).toFixed(2);
          out.info(
            `${pushed} pushed, ${res.length - pushed - failed} already present, ${failed} failed ` +
              `to ${store.url.href} (${secs} s)${
                signer ? `, signed by ${signer.fingerprint}` : ""
              }`,
          );
        }
        if (failed || missing.length) return EXIT.failure;
        return index?.skipped.length ? EXIT.problems : EXIT.ok;
      }),
    );
};
export default register;
