/**
 * What the install-tree commands (`find`, `uninstall`, `gc`, `load`, `view`) share: `--root`
 * and how specs are printed.
 *
 * @module
 */
import { Option } from "commander";
import type { Output } from "./output.ts";
import { table } from "./output.ts";
import type { FoundSpec } from "../../mod.ts";

/** `--root DIR` (or `SPACKLE_ROOT`): the install tree, required. */
export function rootOption(): Option {
  return new Option("--root <dir>", "install tree root (with a Spack database)")
    .env("SPACKLE_ROOT")
    .makeOptionMandatory(true);
}

/** A spec as `name@version/hash7`. */
export function id(s: { name: string; version: string; hash: string }): string {
  return `${s.name}@${s.version}/${s.hash.slice(0, 7)}`;
}

/** Installed specs as a table: explicit/external mark, `id`, and (`withPrefix`) the prefix. */
export function printSpecs(out: Output, specs: FoundSpec[], withPrefix = true): void {
  const rows = specs.map((s) => [
    s.explicit ? "[+]" : s.external ? "[e]" : "[ ]",
    id(s),
    ...(withPrefix ? [s.prefix ?? "-"] : []),
  ]);
  for (const l of table(rows)) out.out(l);
}
