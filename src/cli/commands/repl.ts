/** `repl`: an interactive shell over the same commands. */
import process from "node:process";
import type { Command } from "commander";
import type { Register } from "../context.ts";
import { addMirrorOptions, type MirrorCliOptions } from "../mirror_options.ts";
import { UsageError } from "../../errors.ts";

const register: Register = (program, act) => {
  const cmd = program
    .command("repl")
    .description(
      "an interactive shell: open mirrors once, then ls/find, show, deps, cat, verify, " +
        "download, install, keys (Tab completes, history is kept, Ctrl-C cancels, Ctrl-D exits)",
    )
    .addHelpText(
      "after",
      "\nExamples:\n  spackle repl -m ./mirror --allow-unsigned\n" +
        "  spackle repl -m https://cache.example.org -k site.pub\n" +
        "  spackle repl            # the configured mirrors\n\n" +
        "In the shell:\n  ls zlib              numbered rows\n  show 2               the second row\n" +
        "  deps fooapp          the dependency tree\n  cat /iicodpd         the metadata\n" +
        "  install 1 --root ~/sw\n\nHistory: SPACKLE_HISTORY, else $XDG_STATE_HOME/spackle/repl_history.",
    );
  addMirrorOptions(cmd);
  cmd.action(act(async ({ globals, signal, newProgram }, o: MirrorCliOptions, c: Command) => {
    if (!process.stdin.isTTY) {
      throw new UsageError("spackle repl needs a terminal; run commands directly in scripts");
    }
    const g = c.optsWithGlobals() as { mirrorsFile?: string };
    const { runRepl } = await import("../../repl/repl.ts");
    return await runRepl({
      ...o,
      caFile: globals.caFile,
      s3EndpointUrl: globals.s3EndpointUrl,
      s3Region: globals.s3Region,
      s3Profile: globals.s3Profile,
      s3Addressing: globals.s3Addressing,
      config: globals.config,
      mirrorsFile: g.mirrorsFile,
      verbose: globals.verbose,
      color: globals.color,
      signal,
      program: newProgram,
    });
  }));
};
export default register;
