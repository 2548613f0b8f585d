/**
 * The command table: every file here registers one verb (or a group of short ones). Add a row
 * per new command file, with the top-level names it registers (a test checks them).
 *
 * @module
 */
import type { Command } from "commander";
import type { Register } from "../context.ts";
import version, { versionFlag } from "./version.ts";
import selfcheck from "./selfcheck.ts";
import list from "./list.ts";
import show from "./show.ts";
import download from "./download.ts";
import keys from "./keys.ts";
import install from "./install.ts";
import find from "./find.ts";
import uninstall from "./uninstall.ts";
import gc from "./gc.ts";
import load from "./load.ts";
import view from "./view.ts";
import push from "./push.ts";
import updateIndex from "./update_index.ts";
import migrate from "./migrate.ts";
import keysPublish from "./keys_publish.ts";
import verify from "./verify.ts";
import sync from "./sync.ts";
import bundle from "./bundle.ts";
import prune from "./prune.ts";
import mirror, { mirrorSettings } from "./mirror.ts";
import graph from "./graph.ts";
import report from "./report.ts";
import serve from "./serve.ts";
import completion from "./completion.ts";
import repl from "./repl.ts";

/**
 * A row of the command table: the top-level command names (and aliases) that its files register,
 * and those files. A run that names a command registers only its row (see `app.ts`).
 */
export interface CommandRow {
  names: readonly string[];
  register: readonly Register[];
}

/** Every command, one row per top-level name (or pair of them), in the order `--help` lists them. */
export const COMMAND_ROWS: readonly CommandRow[] = [
  { names: ["list", "ls"], register: [list] },
  { names: ["show"], register: [show] },
  { names: ["download"], register: [download] },
  { names: ["install"], register: [install] },
  { names: ["find"], register: [find] },
  { names: ["uninstall"], register: [uninstall] },
  { names: ["gc"], register: [gc] },
  { names: ["load"], register: [load] },
  { names: ["view"], register: [view] },
  { names: ["push"], register: [push] },
  { names: ["update-index"], register: [updateIndex] },
  { names: ["migrate"], register: [migrate] },
  // `keys publish` has a file of its own; it makes the group, `keys.ts` the rest of it.
  { names: ["keys"], register: [keysPublish, keys] },
  { names: ["verify"], register: [verify] },
  { names: ["sync"], register: [sync] },
  { names: ["bundle"], register: [bundle] },
  { names: ["prune"], register: [prune] },
  { names: ["mirror", "config"], register: [mirror] },
  { names: ["graph"], register: [graph] },
  { names: ["report"], register: [report] },
  { names: ["serve"], register: [serve] },
  { names: ["repl"], register: [repl] },
  { names: ["completion"], register: [completion] },
  { names: ["version"], register: [version] },
  { names: ["self-check"], register: [selfcheck] },
];

/**
 * What command files add to the program itself (global options, hooks), applied whatever
 * command the program is built for; the rows' files add only their commands.
 */
export const PROGRAM_SETUP: readonly ((program: Command) => void)[] = [mirrorSettings, versionFlag];
