/**
 * A mirror of generated packages for install tests: `scripts/gen_install_tree.ts` writes an
 * install tree of `n` packages in a DAG, and they are pushed (unsigned) to a v3 mirror with an
 * index.
 *
 * @module
 */
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { REPO_ROOT } from "./_fixtures.ts";
import {
  dbSource,
  openStore,
  pushSpecs,
  specsToPush,
  type Store,
  updateIndex,
  V3Writer,
} from "../mod.ts";

/** Writes the tree under `dir/tree` and the mirror at `dir/mirror`; gives the roots' names. */
export async function generatedMirror(
  dir: string,
  n: number,
): Promise<{ names: string[]; store: Store }> {
  const tree = join(dir, "tree");
  const names = execFileSync(
    join(REPO_ROOT, "node_modules/.bin/deno"),
    ["run", "-A", join(REPO_ROOT, "scripts/gen_install_tree.ts"), tree, String(n)],
    { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] },
  ).trim().split("\n");
  const installed = dbSource(tree);
  const store = await openStore(join(dir, "mirror"), { writable: true }) as Store;
  const writer = new V3Writer(store);
  await pushSpecs(
    specsToPush(names.flatMap((q) => installed.query(q)), installed).items,
    installed,
    writer,
  );
  await updateIndex(writer);
  return { names, store };
}
