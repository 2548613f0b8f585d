/** `view symlink|hardlink|copy` and `view remove`: filesystem views of installed specs. */
import type { Register } from "../context.ts";
import { UsageError } from "../../errors.ts";
import { readCliLock } from "../lockfile.ts";
import { id, rootOption } from "../tree_options.ts";

const register: Register = (program, act) => {
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
        const t = await import("../../../mod.ts");
        const v = await import("../../../mod.ts");
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
      const v = await import("../../../mod.ts");
      const removed = await v.removeFromView(dir, specs, { signal });
      if (out.json) {
        out.data({ view: dir, removed });
        return;
      }
      for (const s of removed) out.out(`removed ${id(s)}`);
    }));
};
export default register;
