/** `install`: specs and their runtime dependencies into an install tree. */
import { Option } from "commander";
import type { Register } from "../context.ts";
import { UsageError } from "../../errors.ts";
import { formatBytes } from "../output.ts";
import { addMirrorOptions, openCliMirrors } from "../mirror_options.ts";
import { Progress, withTarballProgress } from "../progress.ts";
import { addLockfileOptions, lockQueries, readCliLock } from "../lockfile.ts";

/**
 * Up to this many packages to stage, the runtime's usual JIT policy from the staging on (see
 * the action): the delay slows the staging of a few hundred packages (300 Spack-built ones: 2%
 * more time) for no lower peak; from about a thousand it lowers the peak (1,000 Spack-built
 * ones: 116 MB against 124 MB, 3% more time).
 */
const MANY_PACKAGES = 500;

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
      "--overwrite",
      "replace prefixes that exist but are not in the install database, and reinstall the " +
        "specs given when already installed",
    )
    .addOption(
      new Option(
        "--lock-timeout <seconds>",
        "wait at most this long for Spack's database and prefix locks (0: no limit)",
      ).default(60).argParser((v: string) => {
        const n = Number(v);
        if (v.trim() === "" || !Number.isFinite(n) || n < 0) {
          throw new UsageError(`--lock-timeout takes a number of seconds, not "${v}"`);
        }
        return n;
      }),
    )
    .addOption(
      new Option(
        "--check-target <mode>",
        "warn: refuse specs for another platform or CPU family, warn about missing CPU " +
          "features; host: missing features are an error too; none: no checks",
      ).choices(["warn", "host", "none"]).default("warn"),
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
  cmd.action(act(async ({ out, globals, signal, onInterrupt }, specs: string[], o) => {
    const m = await import("../../../mod.ts");
    const lock = await readCliLock(o);
    if (!specs.length && !lock) {
      throw new UsageError("Cannot install: give specs, --lockfile or -e");
    }
    const queries = lockQueries(specs, lock);
    // Several specs (an environment, a set of roots): optimizing compilations later, a lower
    // peak for thousands of small packages (2,000 Spack-built ones: 5 to 10 MB less; set only
    // after the plan, it saves nothing). Undone for the staging once the plan shows at most
    // MANY_PACKAGES; one spec keeps the usual policy (one big package's hot loops want it).
    if (queries.length > 1) m.delayOptimizingJit();
    const opened = await openCliMirrors(o, globals, signal, out);
    if (lock) {
      const { requireLockSpecs } = await import("../../../mod.ts");
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
    // What an interruption reports: the prefixes only appear together at the end.
    let fetched = 0;
    let done = 0;
    onInterrupt(() =>
      done
        ? `${done} package${done === 1 ? "" : "s"} installed (listed above)` +
          (fetched > done ? `, ${fetched - done} not installed` : "")
        : `nothing installed${
          fetched ? ` (${fetched} package${fetched === 1 ? " was" : "s were"} being fetched)` : ""
        }; the install tree is as it was`
    );
    const source = withTarballProgress(
      opened.mirrors,
      progress,
      (e) => sizes.set(e.ref.hash, e.tarball.size),
    );
    const res = await m.installSpecs(source, queries, {
      root: o.root,
      jobs: o.jobs,
      signal,
      allowUnsigned: !opened.requireSignature,
      projection: o.projection,
      // An environment's roots are explicit, the rest of its specs (--all) are not, as in Spack.
      explicit: lock?.all && !specs.length
        ? new Set(lock.lock.roots.map((r) => r.hash))
        : undefined,
      overwrite: o.overwrite === true,
      lockTimeout: o.lockTimeout,
      checkTarget: o.checkTarget as "warn" | "host" | "none",
      onProgress: (p) => {
        if (p.phase === "staged") bytes += p.bytes ?? 0;
        if (p.phase === "fetch") fetched++;
        if (p.phase === "installed") done++;
        if (p.phase === "skip" && p.hash) sizes.delete(p.hash);
        if (p.phase === "fetch" && !totals) {
          totals = true;
          progress.setTotal([...sizes.values()].reduce((a, b) => a + b, 0), sizes.size);
        }
        // A few packages are staged with the runtime's usual policy (see the action's start).
        if (p.phase === "planned" && (p.count ?? 0) <= MANY_PACKAGES && queries.length > 1) {
          m.delayOptimizingJit(1);
        }
        if (p.phase === "installed") info(`installed ${p.name}/${p.hash?.slice(0, 7)}`);
        else if (p.phase === "external") {
          info(`registered external ${p.name}/${p.hash?.slice(0, 7)}`);
        } else if (p.phase === "wait") info(p.message ?? "waiting for a lock");
        else if (p.phase === "skip") info(`already installed ${p.name}/${p.hash?.slice(0, 7)}`);
        else if (p.phase === "fetch" && out.verbose && progress.enabled) {
          progress.log(`fetching ${p.name}/${p.hash?.slice(0, 7)}`);
        } else if (p.phase === "fetch") out.debug(`fetching ${p.name}/${p.hash?.slice(0, 7)}`);
        else if (p.phase === "warning") {
          const w = p.name ? `${p.name}/${p.hash?.slice(0, 7)}: ${p.message}` : `${p.message}`;
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
    for (const s of res.specs) {
      out.out(
        `${s.name}@${s.version}/${s.hash.slice(0, 7)} ${s.prefix}${
          s.external ? " (external)" : ""
        }`,
      );
    }
  }));
};
export default register;
