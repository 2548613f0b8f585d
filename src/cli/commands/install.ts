/** `install`: specs and their runtime dependencies into an install tree. */
import { Option } from "commander";
import type { Register } from "../app.ts";
import { UsageError } from "../../errors.ts";
import { formatBytes } from "../output.ts";
import { addMirrorOptions, openCliMirrors } from "../mirrors.ts";
import { Progress, withTarballProgress } from "../progress.ts";
import { addLockfileOptions, lockQueries, readCliLock } from "../lockfile.ts";

const register: Register = (program, act) => {
  const cmd = program
    .command("install")
    .description(
      "install specs and their link/run dependencies from build caches into a Spack install " +
        "tree, relocated to it",
    )
    .argument(
      "[spec...]",
      "specs to install: NAME, NAME@VERSION, /HASH, NAME/HASH, ... (or --lockfile/-e)",
    )
    .requiredOption("--root <dir>", "install tree root (created when missing)")
    .addOption(
      new Option("-j, --jobs <n>", "packages fetched and staged at once").default(4).argParser(
        (v: string) => {
          const n = Number(v);
          if (!Number.isInteger(n) || n < 1) {
            throw new UsageError(`--jobs must be a whole number above 0, not "${v}"`);
          }
          return n;
        },
      ),
    )
    .option(
      "--projection <template>",
      "install tree projection (default Spack 1.x's " +
        "{architecture.platform}-{architecture.target}/{name}-{version}-{hash})",
    )
    .addHelpText(
      "after",
      "\nExamples:\n  spackle install -m ./mirror --root /opt/spack --key site.pub fooapp\n" +
        "  spackle install -m https://cache.example.org --root ~/sw -j 8 zlib@1.3.1\n" +
        "  spackle install -m ./mirror --root ./tree --allow-unsigned /iicodpd\n" +
        "  spackle install -m site.bundle --root /opt/sw --lockfile spack.lock",
    );
  addMirrorOptions(cmd);
  addLockfileOptions(cmd);
  cmd.action(act(async ({ out, globals, signal }, specs: string[], o) => {
    const m = await import("../../../mod.ts");
    const lock = await readCliLock(o);
    if (!specs.length && !lock) {
      throw new UsageError("Cannot install: give specs, --lockfile or -e");
    }
    const opened = await openCliMirrors(o, globals, signal, out);
    if (lock) {
      const { requireLockSpecs } = await import("../../mirror/lockfile.ts");
      await requireLockSpecs(lock.lock, opened.mirrors, lock.label, { all: lock.all, signal });
    }
    const started = performance.now();
    let bytes = 0;
    const progress = Progress.for(out);
    const info = (l: string) => progress.enabled ? progress.log(l) : out.info(l);
    // The overall totals: the closure's tarballs less those already installed, known when the
    // first package is fetched (every entry is read and every skip reported before that).
    const sizes = new Map<string, number>();
    let totals = false;
    const warnings: string[] = [];
    const source = withTarballProgress(
      opened.mirrors,
      progress,
      (e) => sizes.set(e.ref.hash, e.tarball.size),
    );
    const res = await m.installSpecs(source, lockQueries(specs, lock), {
      root: o.root,
      jobs: o.jobs,
      signal,
      allowUnsigned: !opened.requireSignature,
      projection: o.projection,
      // An environment's roots are explicit, the rest of its specs (--all) are not, as in Spack.
      explicit: lock?.all && !specs.length
        ? new Set(lock.lock.roots.map((r) => r.hash))
        : undefined,
      onProgress: (p) => {
        if (p.phase === "staged") bytes += p.bytes ?? 0;
        if (p.phase === "skip" && p.hash) sizes.delete(p.hash);
        if (p.phase === "fetch" && !totals) {
          totals = true;
          progress.setTotal([...sizes.values()].reduce((a, b) => a + b, 0), sizes.size);
        }
        if (p.phase === "installed") info(`installed ${p.name}/${p.hash?.slice(0, 7)}`);
        else if (p.phase === "skip") info(`already installed ${p.name}/${p.hash?.slice(0, 7)}`);
        else if (p.phase === "fetch" && out.verbose && progress.enabled) {
          progress.log(`fetching ${p.name}/${p.hash?.slice(0, 7)}`);
        } else if (p.phase === "fetch") out.debug(`fetching ${p.name}/${p.hash?.slice(0, 7)}`);
        else if (p.phase === "warning") {
          const w = `${p.name}/${p.hash?.slice(0, 7)}: ${p.message}`;
          warnings.push(w);
          // Before the first fetch no bar is drawn yet: a plain line keeps it so.
          if (progress.enabled && totals) progress.log(`warning: ${w}`);
          else out.warn(w);
        }
      },
    }).finally(() => progress.stop());
    if (out.json) {
      out.data({ ...res, warnings });
      return;
    }
    const n = res.specs.filter((s) => s.installed).length;
    const secs = ((performance.now() - started) / 1000).toFixed(2);
    out.info(
      `${n} installed, ${res.specs.length - n} already present in ${res.root} ` +
        `(${formatBytes(bytes)} extracted, ${secs} s)`,
    );
    for (const s of res.specs) out.out(`${s.name}@${s.version}/${s.hash.slice(0, 7)} ${s.prefix}`);
  }));
};
export default register;
