/**
 * `find`, `uninstall`, `gc`, `load`, `view`: using and managing an install tree (Spack's or
 * spackle's) through its Spack database.
 *
 * @module
 */
import { Option } from "commander";
import type { Register } from "../app.ts";
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
  void UsageError;
};
export default register;
