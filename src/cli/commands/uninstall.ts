/** `uninstall`: removes installed specs (not ones others need). */
import type { Register } from "../context.ts";
import { id, rootOption } from "../tree_options.ts";

const register: Register = (program, act) => {
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
      const t = await import("../../../mod.ts");
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
};
export default register;
