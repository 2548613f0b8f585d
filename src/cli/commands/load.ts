/** `load`: shell code putting installed specs in the environment. */
import type { Register } from "../context.ts";
import { UsageError } from "../../errors.ts";
import type { FoundSpec } from "../../../mod.ts";
import { readCliLock } from "../lockfile.ts";

const register: Register = (program, act) => {
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
      const l = await import("../../../mod.ts");
      const lock = await readCliLock(o);
      let mods: import("../../../mod.ts").PathMod[];
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
        const t = await import("../../../mod.ts");
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
        loaded = roots.map(t.foundSpec);
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
export default register;
