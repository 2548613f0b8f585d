/**
 * The command table: every file here registers one verb (or a group of short ones). Add a line per new command file.
 *
 * @module
 */
import type { Register } from "../context.ts";
import version from "./version.ts";
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
import mirror from "./mirror.ts";
import graph from "./graph.ts";
import report from "./report.ts";
import serve from "./serve.ts";
import completion from "./completion.ts";
import repl from "./repl.ts";

/** All commands, one file per verb, in the order `--help` lists them. */
export const commands: Register[] = [
  list,
  show,
  download,
  install,
  find,
  uninstall,
  gc,
  load,
  view,
  push,
  updateIndex,
  migrate,
  keysPublish,
  keys,
  verify,
  sync,
  bundle,
  prune,
  mirror,
  graph,
  report,
  serve,
  repl,
  completion,
  version,
  selfcheck,
];
