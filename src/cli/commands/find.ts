/** `find`: the specs installed in a tree. */
import type { Register } from "../context.ts";
import { readCliLock } from "../lockfile.ts";
import { printSpecs, rootOption } from "../tree_options.ts";

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
      const t = await import("../../../mod.ts");
      const tree = t.openInstallTree(o.root);
      let specs = t.findInstalled(tree, query, { explicit: o.explicit, implicit: o.implicit });
      const lock = await readCliLock(o);
      if (lock) {
        const { lockfileClosure } = await import("../../../mod.ts");
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
};
export default register;
