/**
 * The command table: every file here registers its verbs. Add a line per new command file.
 *
 * @module
 */
import type { Register } from "../context.ts";
import version from "./version.ts";
import selfcheck from "./selfcheck.ts";
import read from "./read.ts";
import keys from "./keys.ts";
import install from "./install.ts";
import tree from "./tree.ts";
import push from "./push.ts";
import check from "./check.ts";
import mirror from "./mirror.ts";
import completion from "./completion.ts";
import repl from "./repl.ts";
import web from "./web.ts";

/** All commands, in the order `--help` lists them. */
export const commands: Register[] = [
  read,
  install,
  tree,
  push,
  keys,
  check,
  mirror,
  web,
  repl,
  completion,
  version,
  selfcheck,
];
