/** `gc`: removes what no explicit spec needs. */
import type { Register } from "../context.ts";
import { printSpecs, rootOption } from "../tree_options.ts";

const register: Register = (program, act) => {
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
      const t = await import("../../../mod.ts");
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
};
export default register;
