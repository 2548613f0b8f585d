/**
 * `find`, `uninstall`, `gc`, `load`, `view`: using and managing an install tree (Spack's or
 * spackle's) through its Spack database.
 *
 * @module
 */
import { Option } from "commander";
import type { Register } from "../context.ts";
import { UsageError } from "../../errors.ts";
import type { Output } from "../output.ts";
import { table } from "../output.ts";
import type { FoundSpec } from "../../tree/manage.ts";
import { readCliLock } from "../lockfile.ts";

function rootOption() {
  return new Option("--root <dir>", "install tree root (with a Spack database)")
    .env("SPACKLE_ROOT")
    .makeOptionMandatory(true);
}

function id(s: { name: string; version: string; hash: string }): string {
  return `${s.name}@${s.version}/${s.hash.slice(0, 7)}`;
}

function printSpecs(out: Output, specs: FoundSpec[], withPrefix = true) {
  const rows = specs.map((s) => [
    s.explicit ? "[+]" : s.external ? "[e]" : "[ ]",
    id(s),
    ...(withPrefix ? [s.prefix ?? "-"] : []),
  ]);
  for (const l of table(rows)) out.out(l);
}

const register: Register = (program, act) => {
  program
    .command("find")
    .description(
      "list the specs installed in an install tree, explicit ([+]) or not, with their prefixes",
    )
    .argument("[query...]", "specs to list (Spack's syntax: NAME, NAME@VERSION, /HASH, ...)")
    .addOption(rootOption())
    .option("-x, --explicit", "only explicitly installed specs", false)
    .option("-X, --implicit", "only specs installed as dependencies", false)
    .option("--lockfile <file>", "only the specs of this spack.lock (its roots' closure)")
    .option("-e, --env <dir>", "as --lockfile, with DIR/spack.lock")
    .addHelpText(
      "after",
      "\nExamples:\n  spackle find --root /opt/sw\n  spackle find --root /opt/sw -x cmake@3:\n" +
        "  spackle --json find --root /opt/sw /iicodpd",
    )
    .action(act(async ({ out }, query: string[], o) => {
      const t = await import("../../tree/manage.ts");
      const tree = t.openInstallTree(o.root);
      let specs = t.findInstalled(tree, query, { explicit: o.explicit, implicit: o.implicit });
      const lock = await readCliLock(o);
      if (lock) {
        const { lockfileClosure } = await import("../../index/lockfile.ts");
        const want = new Set(lockfileClosure(lock.lock).map((n) => n.hash));
        specs = specs.filter((s) => want.has(s.hash));
      }
      if (out.json) {
        out.data({ root: tree.root, specs });
        return;
      }
      out.info(`${specs.length} installed spec(s) in ${tree.root}`);
      printSpecs(out, specs);
    }));

  program
    .command("uninstall")
    .description(
      "remove installed specs (database record and prefix, under the tree's lock); refuses " +
        "specs installed dependents need unless --dependents",
    )
    .argument("<spec...>", "installed specs: NAME, NAME@VERSION, /HASH, ...")
    .addOption(rootOption())
    .option("--dependents", "also uninstall the installed specs that depend on them", false)
    .option("--dry-run", "show what would be removed, remove nothing", false)
    .addHelpText(
      "after",
      "\nExamples:\n  spackle uninstall --root /opt/sw fooapp\n" +
        "  spackle uninstall --root /opt/sw --dependents libzz --dry-run",
    )
    .action(act(async ({ out, signal }, specs: string[], o) => {
      const t = await import("../../tree/manage.ts");
      const tree = t.openInstallTree(o.root);
      const plan = t.planUninstall(tree, t.resolveInstalled(tree, specs), {
        dependents: o.dependents,
      });
      if (!o.dryRun) await t.uninstall(tree.root, plan, signal);
      if (out.json) {
        out.data({ root: tree.root, removed: plan.remove, dryRun: !!o.dryRun });
        return;
      }
      for (const s of plan.remove) {
        out.out(`${o.dryRun ? "would uninstall" : "uninstalled"} ${id(s)} ${s.prefix ?? ""}`);
      }
    }));

  program
    .command("gc")
    .description(
      "list (default) or, with --yes, uninstall the installed specs no explicit spec needs " +
        "at run time (as Spack's gc)",
    )
    .addOption(rootOption())
    .option("-y, --yes", "uninstall them (default: only list)", false)
    .addHelpText(
      "after",
      "\nExamples:\n  spackle gc --root /opt/sw\n  spackle gc --root /opt/sw --yes",
    )
    .action(act(async ({ out, signal }, o) => {
      const t = await import("../../tree/manage.ts");
      const tree = t.openInstallTree(o.root);
      const unused = t.unusedSpecs(tree);
      if (o.yes && unused.length) await t.uninstall(tree.root, { remove: unused }, signal);
      if (out.json) {
        out.data({ root: tree.root, unused, removed: !!o.yes });
        return;
      }
      printSpecs(out, unused);
      out.info(
        unused.length === 0
          ? "nothing to remove"
          : `${unused.length} spec(s) ${o.yes ? "uninstalled" : "unused (--yes uninstalls them)"}`,
      );
    }));
  program
    .command("load")
    .description(
      "print shell code adding installed specs and their run closure to PATH, MANPATH, " +
        "PKG_CONFIG_PATH, CMAKE_PREFIX_PATH, ... (Spack's prefix inspections); idempotent",
    )
    .argument("[spec...]", "installed specs: NAME, NAME@VERSION, /HASH, ...")
    .option("--root <dir>", "install tree root (with a Spack database)")
    .option("--sh", "bash, zsh, sh syntax")
    .option("--csh", "csh, tcsh syntax")
    .option("--fish", "fish syntax")
    .option("--unload", "reverse it: remove what load adds (all loaded specs when none given)")
    .option("--view <dir>", "load a view made by spackle view (or spack view) instead of specs")
    .option("--lockfile <file>", "load the roots of this spack.lock")
    .option("-e, --env <dir>", "as --lockfile, with DIR/spack.lock")
    .addHelpText(
      "after",
      '\nExamples:\n  eval "$(spackle load --sh --root /opt/sw cmake ninja)"\n' +
        '  eval "$(spackle load --sh --unload --root /opt/sw cmake)"\n' +
        "  spackle load --fish --view /opt/sw/view | source\n" +
        "  spackle --json load --root /opt/sw -e ./env",
    )
    .action(act(async ({ out }, specs: string[], o) => {
      const process = (await import("node:process")).default;
      const shells = (["sh", "csh", "fish"] as const).filter((s) => o[s]);
      if (shells.length > 1) throw new UsageError("Give one of --sh, --csh, --fish");
      if (!shells.length && !out.json) {
        throw new UsageError("Give a shell (--sh, --csh, --fish) or --json");
      }
      const l = await import("../../tree/load.ts");
      const lock = await readCliLock(o);
      let mods: import("../../tree/load.ts").PathMod[];
      let loaded: FoundSpec[] = [];
      if (o.view) {
        if (specs.length || lock) throw new UsageError("Give --view or specs, not both");
        const { statSync } = await import("node:fs");
        let dir = false;
        try {
          dir = statSync(o.view).isDirectory();
        } catch { /* reported below */ }
        if (!dir) throw new UsageError(`Cannot load the view "${o.view}": not a directory`);
        const { resolve } = await import("node:path");
        mods = l.viewModifications(resolve(o.view));
      } else {
        if (!o.root) throw new UsageError("load needs --root (or --view)");
        const t = await import("../../tree/manage.ts");
        const tree = t.openInstallTree(o.root);
        let queries = [...specs];
        if (lock) queries.push(...lock.lock.roots.map((r) => `/${r.hash}`));
        if (!queries.length && o.unload) {
          const have = (process.env[l.LOADED_HASHES_VAR] ?? "").split(":").filter((h) =>
            tree.get(h)
          );
          queries = have.map((h) => `/${h}`);
        }
        if (!queries.length) throw new UsageError("Cannot load: give specs, --lockfile or -e");
        const roots = t.resolveInstalled(tree, queries);
        mods = l.loadModifications(tree, roots);
        loaded = roots.map(t.found);
      }
      const changes = l.applyModifications(mods, process.env, { unload: !!o.unload });
      if (out.json) {
        out.data({
          specs: loaded,
          modifications: mods.map((m) => ({ ...m, op: o.unload ? "remove" : "prepend" })),
          env: Object.fromEntries([...changes].map(([k, v]) => [k, v ?? null])),
        });
        return;
      }
      const text = l.shellCode(changes, shells[0]);
      if (text) process.stdout.write(text);
    }));
};
/** `view symlink|hardlink|copy` and `view remove`. */
const registerView: Register = (program, act) => {
  const view = program
    .command("view")
    .description(
      "filesystem views of installed specs, as Spack's spack view builds them (recognised by Spack)",
    );
  for (
    const [verb, aliases, what] of [
      ["symlink", ["soft", "add"], "symbolic links"],
      ["hardlink", ["hard"], "hard links"],
      ["copy", ["relocate"], "copies relocated to the view"],
    ] as const
  ) {
    view
      .command(verb)
      .aliases([...aliases])
      .description(`add specs and their dependencies to a view as ${what}`)
      .argument("<view>", "the view directory (created when missing)")
      .argument("[spec...]", "installed specs: NAME, NAME@VERSION, /HASH, ...")
      .addOption(rootOption())
      .option("--lockfile <file>", "add the roots of this spack.lock")
      .option("-e, --env <dir>", "as --lockfile, with DIR/spack.lock")
      .option("--no-dependencies", "add the specs alone, not their dependencies")
      .option("-i, --ignore-conflicts", "keep the first file when two packages have one path")
      .addHelpText(
        "after",
        `\nExamples:\n  spackle view ${verb} /opt/sw/view --root /opt/sw cmake ninja\n` +
          `  spackle view ${verb} /opt/sw/view --root /opt/sw --lockfile spack.lock`,
      )
      .action(act(async ({ out, signal }, dir: string, specs: string[], o) => {
        const t = await import("../../tree/manage.ts");
        const v = await import("../../tree/view.ts");
        const tree = t.openInstallTree(o.root);
        const lock = await readCliLock(o);
        const queries = [...specs, ...(lock?.lock.roots.map((r) => `/${r.hash}`) ?? [])];
        if (!queries.length) {
          throw new UsageError("Cannot make a view: give specs, --lockfile or -e");
        }
        const roots = t.resolveInstalled(tree, queries);
        const r = await v.addToView(
          tree,
          dir,
          v.viewClosure(tree, roots, o.dependencies === false),
          {
            linkType: verb,
            ignoreConflicts: !!o.ignoreConflicts,
            signal,
          },
        );
        if (out.json) {
          out.data(r);
          return;
        }
        for (const s of r.added) out.out(`added ${id(s)}`);
        for (const s of r.present) out.info(`already in the view ${id(s)}`);
        for (const s of r.skipped) out.info(`skipped external ${id(s)}`);
        out.info(`${r.added.length} spec(s) added to ${r.view} (${r.files} files)`);
      }));
  }
  view
    .command("remove")
    .aliases(["rm"])
    .description(
      "remove specs (and their dependents in the view) from a view; all of it when none given",
    )
    .argument("<view>", "the view directory")
    .argument("[spec...]", "specs in the view: NAME, NAME@VERSION, /HASH")
    .addHelpText(
      "after",
      "\nExamples:\n  spackle view remove /opt/sw/view cmake\n  spackle view remove /opt/sw/view",
    )
    .action(act(async ({ out, signal }, dir: string, specs: string[]) => {
      const v = await import("../../tree/view.ts");
      const removed = await v.removeFromView(dir, specs, { signal });
      if (out.json) {
        out.data({ view: dir, removed });
        return;
      }
      for (const s of removed) out.out(`removed ${id(s)}`);
    }));
};

const registerAll: Register = (program, act) => {
  register(program, act);
  registerView(program, act);
};
export default registerAll;
