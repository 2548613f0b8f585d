/**
 * The command table: every file here registers its verbs. Add a line per new command file.
 *
 * @module
 */
import type { Register } from "../app.ts";
import version from "./version.ts";
import selfcheck from "./selfcheck.ts";

/** All commands, in the order `--help` lists them. */
export const commands: Register[] = [
  version,
  selfcheck,
];
