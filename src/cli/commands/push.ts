/** `push`, `update-index`, `migrate`, `keys publish`: writing v3 build caches. */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import process from "node:process";
import { Option } from "commander";
import { EXIT, group, type Register } from "../context.ts";
import { NotFoundError, UsageError } from "../../errors.ts";
import { addLockfileOptions, lockQueries, readCliLock } from "../lockfile.ts";
import { formatBytes, type Output } from "../output.ts";
import { Progress, withUploadProgress } from "../progress.ts";
import type { Signer } from "../../sign/types.ts";
import type { Store } from "../../storage/store.ts";
import type { StoreGlobals } from "../mirror_options.ts";
import type { InstalledPrefix, InstallSource } from "../../push/push.ts";

/** The store a mirror argument (path, URL or configured name: its push side) stands for. */
async function writableStore(
  url: string,
  globals: StoreGlobals,
  out?: Pick<Output, "debug">,
): Promise<Store> {
  const { openCliStore } = await import("../mirror_options.ts");
  const { isWritable } = await import("../../storage/store.ts");
  const s = await openCliStore(url, globals, { writable: true, out });
  if (!isWritable(s)) throw new UsageError(`Cannot write to "${url}": the store is read-only`);
  return s;
}

/** The passphrase of a signing key, asked on the terminal without echo. */
async function promptPassphrase(what: string): Promise<string | undefined> {
  const { promptHidden } = await import("../prompt.ts");
  return await promptHidden(`Passphrase for the signing key ${what}: `);
}

/** The Signer of `--key FILE` (passphrase from SPACKLE_SIGNING_PASSPHRASE or a prompt). */
async function signerOf(keyFile: string): Promise<Signer> {
  let armored: string;
  try {
    armored = await readFile(keyFile, "utf8");
  } catch (e) {
    throw new UsageError(`Cannot read the key file "${keyFile}": ${(e as Error).message}`);
  }
  const { signerFromArmored, needsPassphrase, PASSPHRASE_ENV } = await import(
    "../../sign/sign.ts"
  );
  let pass = process.env[PASSPHRASE_ENV];
  if (pass === undefined && await needsPassphrase(armored)) {
    pass = await promptPassphrase(keyFile);
  }
  return await signerFromArmored(armored, pass, `the key file "${keyFile}"`);
}

/**
 * The signer of a push or migration: `--key` (an armored secret key file, else a fingerprint
 * in the keyring), `--unsigned` for none, and by default the keyring's only secret key.
 */
async function chooseSigner(
  o: { key?: string; unsigned?: boolean; keyring?: string },
): Promise<Signer | undefined> {
  if (o.key && o.unsigned) throw new UsageError("Give --key or --unsigned, not both");
  if (o.unsigned) return undefined;
  if (o.key && existsSync(o.key)) return await signerOf(o.key);
  const { Keyring, defaultKeyringDir } = await import("../../sign/keyring.ts");
  const { signerFromKeyring, PASSPHRASE_ENV } = await import("../../sign/sign.ts");
  const keyring = Keyring.open(defaultKeyringDir(o.keyring));
  try {
    return await signerFromKeyring(keyring, o.key, process.env[PASSPHRASE_ENV]);
  } catch (e) {
    if (!o.key && e instanceof UsageError) {
      throw new UsageError(
        `${e.message}. To push without signing, give --unsigned; to sign, --key FILE`,
      );
    }
    throw e;
  }
}

/** Says that a write waits for a prune running on the same mirror. */
export function pruneWait(out: Pick<Output, "warn">) {
  return (l: { host: string; pid: number }) =>
    out.warn(
      `waiting for the prune running on this mirror` +
        (l.pid ? ` (process ${l.pid} on ${l.host})` : "") + " to finish",
    );
}

function jobsOption(def: number) {
  return new Option("-j, --jobs <n>", "parallel jobs").default(def).argParser((v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) {
      throw new UsageError(`--jobs must be a whole number above 0, not "${v}"`);
    }
    return n;
  });
}

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
          "../../push/push.ts"
        );
        const { V3Writer } = await import("../../layout/v3/writer.ts");
        // What is pushed and where are checked before a passphrase is asked for.
        const lock = await readCliLock(o);
        if (lock && !o.root) {
          throw new UsageError("push --lockfile/-e needs --root (the install tree to push from)");
        }
        if (!specs.length && !lock) {
          throw new UsageError("Cannot push: give specs, --lockfile or -e");
        }
        const store = await writableStore(mirror, globals, out);
        let src: InstallSource;
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
        const { isRegistryStore } = await import("../../storage/registry/store.ts");
        const oci = isRegistryStore(store) ? store : undefined;
        if (oci && o.key) {
          throw new UsageError(`Cannot sign for ${store.url.href}: OCI build caches are unsigned`);
        }
        const signer = oci ? undefined : await chooseSigner(o);
        const progress = Progress.for(out);
        const { OciWriter } = await import("../../layout/oci/writer.ts");
        if (o.baseImage && !oci) {
          throw new UsageError(`--base-image is for oci:// mirrors, not "${store.url.href}"`);
        }
        let baseImage: NonNullable<ConstructorParameters<typeof OciWriter>[1]>["baseImage"];
        if (o.baseImage) {
          const { parseImageRef, ociUrl } = await import("../../storage/registry/reference.ts");
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
          const { updateIndex } = await import("../../push/update_index.ts");
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
      const { updateIndex } = await import("../../push/update_index.ts");
      const { V3Writer } = await import("../../layout/v3/writer.ts");
      const store = await writableStore(mirror, globals, out);
      const { isRegistryStore } = await import("../../storage/registry/store.ts");
      let res: Awaited<ReturnType<typeof updateIndex>>;
      if (isRegistryStore(store)) {
        // An OCI registry: the index image from every spec tag (there are no keys).
        if (o.keys) {
          throw new UsageError(
            `Cannot write a key index to ${store.url.href}: OCI caches are unsigned`,
          );
        }
        const { OciWriter } = await import("../../layout/oci/writer.ts");
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
      const { migrate } = await import("../../mirror/migrate.ts");
      const { keyringVerifier } = await import("../../sign/verify.ts");
      const { defaultKeyringDir } = await import("../../sign/keyring.ts");
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

  group(program, "keys", "the keyring and the keys mirrors publish")
    .command("publish")
    .description("publish an armored public key to a v3 mirror and rebuild its key index")
    .argument("<mirror>", "mirror path or URL to write")
    .argument("<keyfile>", "armored public (or secret: only its public part is published) key")
    .addHelpText("after", "\nExamples:\n  spackle keys publish ./mirror site.pub.asc")
    .action(act(async ({ out, globals, signal }, mirror: string, keyfile: string) => {
      let armored: string;
      try {
        armored = await readFile(keyfile, "utf8");
      } catch (e) {
        throw new UsageError(`Cannot read the key file "${keyfile}": ${(e as Error).message}`);
      }
      const { readArmoredKeys } = await import("../../sign/keyring.ts");
      const keys = await readArmoredKeys(armored, `the key file "${keyfile}"`);
      if (keys.length !== 1) {
        throw new UsageError(`The key file "${keyfile}" holds ${keys.length} keys: give one`);
      }
      const key = keys[0].toPublic();
      const fpr = key.getFingerprint().toUpperCase();
      const { V3Writer } = await import("../../layout/v3/writer.ts");
      const writer = new V3Writer(await writableStore(mirror, globals, out), {
        onPruneWait: pruneWait(out),
      });
      await writer.publishKey(fpr, key.armor(), signal);
      const all = await writer.writeKeyIndex(signal);
      if (out.json) out.data({ fingerprint: fpr, keys: all });
      else out.info(`published ${fpr} (${all.length} keys in the key index)`);
    }));
};
export default register;
