/**
 * The command table and the CLI's main(): builds the commander program from the command
 * files in `commands/`, runs it, maps errors to exit codes.
 *
 * Exit codes: 0 success, 1 failure, 2 usage error, 3 a check found problems
 * (verify uses bit flags on top of that; see its help).
 *
 * @module
 */
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import process from "node:process";
import { SpackleError, UsageError } from "../errors.ts";
import { printError, processOutput } from "./output.ts";
import {
  type ActFn,
  EXIT,
  type GlobalOptions,
  type ProgramOptions,
  rejectEmptyValues,
} from "./context.ts";
import { COMMAND_ROWS, PROGRAM_SETUP } from "./commands/mod.ts";
import { firstWord } from "./argv.ts";
import { catchSignals, SIGNAL_EXIT, type StopSignal } from "./interrupt.ts";

/** Parses a number of seconds (0 or more) given to a flag. */
function seconds(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === "" || !Number.isFinite(n) || n < 0) {
      throw new InvalidArgumentError(`${flag} takes a number of seconds (0 for no limit)`);
    }
    return n;
  };
}

/** Builds the whole command tree. */
export function buildProgram(opts: ProgramOptions = {}): Command {
  const program = new Command("spackle")
    .description("A single-binary client for Spack binary build caches")
    .addOption(new Option("--json", "print results as JSON (stable shape)").default(false))
    .addOption(new Option("-q, --quiet", "print nothing but results").default(false))
    .addOption(new Option("-v, --verbose", "print details of what is done").default(false))
    .addOption(new Option("--no-color", "never colour output (NO_COLOR works too)"))
    .addOption(new Option("-C, --config <file>", "spackle config file").env("SPACKLE_CONFIG"))
    .addOption(
      new Option("--ca-file <file>", "trust the CA certificates in this PEM file").env(
        "SSL_CERT_FILE",
      ),
    )
    .addOption(
      new Option(
        "--connect-timeout <seconds>",
        "wait at most this long for a server's answer (default 30; 0: no limit)",
      ).argParser(seconds("--connect-timeout")),
    )
    .addOption(
      new Option(
        "--read-timeout <seconds>",
        "longest pause allowed inside a download (default 60; 0: no limit)",
      ).argParser(seconds("--read-timeout")),
    )
    .addOption(
      new Option("--s3-endpoint-url <url>", "S3-compatible endpoint for s3:// mirrors"),
    )
    .addOption(new Option("--s3-region <region>", "region for s3:// mirrors"))
    .addOption(new Option("--s3-profile <name>", "AWS profile for s3:// mirrors' credentials"))
    .addOption(
      new Option("--s3-addressing <style>", "S3 addressing (default: path for custom endpoints)")
        .choices(["path", "virtual"]),
    )
    .addOption(new Option("--oci-username <user>", "user name for oci:// registries"))
    .addOption(
      new Option("--oci-username-variable <var>", "variable holding the oci:// registry user"),
    )
    .addOption(
      new Option(
        "--oci-password-variable <var>",
        "variable holding the oci:// registry password or token",
      ),
    )
    .showSuggestionAfterError(true)
    .configureHelp({ sortSubcommands: false, showGlobalOptions: true });
  program.exitOverride();
  program.hook("preAction", (_program, action) => rejectEmptyValues(action as Command));
  const act: ActFn = (fn) => async (...args) => {
    const cmd = args[args.length - 1] as Command;
    const globals = cmd.optsWithGlobals() as unknown as GlobalOptions;
    const out = (opts.output ?? processOutput)({
      json: !!globals.json,
      quiet: !!globals.quiet,
      verbose: !!globals.verbose,
      color: globals.color !== false,
    });
    const code = await fn(
      {
        out,
        globals,
        signal: opts.signal ?? new AbortController().signal,
        onInterrupt: opts.onInterrupt ?? (() => {}),
        newProgram: buildProgram,
      },
      ...args,
    );
    opts.onExit?.(code ?? 0);
  };
  for (const setup of PROGRAM_SETUP) setup(program);
  const row = opts.argv && namedRow(program, opts.argv);
  for (const r of row ? [row] : COMMAND_ROWS) {
    for (const register of r.register) register(program, act);
  }
  return program;
}

/**
 * The row of the command table whose command `argv` names: its first word after the global
 * options (and their values). Undefined when there is none, or when anything before it is not
 * plainly a global option (help, an unknown option, `--`): then every command is registered,
 * so that commander's help, errors and suggestions know them all.
 */
export function namedRow(program: Command, argv: readonly string[]) {
  const word = firstWord(argv, (flag) => {
    const o = program.options.find((o) => o.long === flag || o.short === flag);
    return o && (o.required || o.optional);
  });
  return word === undefined ? undefined : COMMAND_ROWS.find((r) => r.names.includes(word));
}

/** Runs the CLI with `argv` (without the executable); resolves with the exit code. */
export async function main(argv: string[]): Promise<number> {
  let code = 0;
  const stop = catchSignals((l) => process.stderr.write(`\nspackle: ${l}\n`));
  const program = buildProgram({
    onExit: (c) => (code = c),
    signal: stop.signal,
    onInterrupt: stop.report,
    argv,
  });
  const json = argv.includes("--json");
  // After a signal: what was completed and what not, and 128 + the signal number.
  const interrupted = (sig: StopSignal) => {
    const lines = stop.lines();
    process.stderr.write(
      `spackle: interrupted by ${sig}: ${
        lines.length
          ? lines.join("; ")
          : "stopped before the command finished; what it reported done is complete"
      }; this run's working files were removed\n`,
    );
    return SIGNAL_EXIT[sig];
  };
  try {
    await program.parseAsync(argv, { from: "user" });
    const sig = stop.received();
    return sig ? interrupted(sig) : code;
  } catch (err) {
    const sig = stop.received();
    if (sig) return interrupted(sig);
    if (err instanceof CommanderError) {
      if (
        err.code === "commander.helpDisplayed" || err.code === "commander.version" ||
        err.code === "commander.help"
      ) return 0;
      if (json) printError(new UsageError(err.message.replace(/^error: /, "")), true);
      return EXIT.usage;
    }
    printError(err, json);
    if (process.env.SPACKLE_DEBUG && err instanceof Error) console.error(err.stack);
    return err instanceof SpackleError && err.code === "usage" ? EXIT.usage : EXIT.failure;
  } finally {
    stop.dispose();
  }
}
