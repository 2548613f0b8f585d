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
import { type Output, type OutputOptions, printError, processOutput } from "./output.ts";
import { commands } from "./commands/mod.ts";
import { catchSignals, SIGNAL_EXIT, type StopSignal } from "./interrupt.ts";

/** Exit codes of the CLI. */
export const EXIT = { ok: 0, failure: 1, usage: 2, problems: 3 } as const;

/** Options every command accepts (defined on the root program). */
export interface GlobalOptions {
  json: boolean;
  quiet: boolean;
  verbose: boolean;
  config?: string;
  caFile?: string;
  color: boolean;
  /** S3 endpoint for s3:// mirrors (`--s3-endpoint-url`), over configuration and environment. */
  s3EndpointUrl?: string;
  /** S3 region (`--s3-region`). */
  s3Region?: string;
  /** AWS profile of the shared files (`--s3-profile`). */
  s3Profile?: string;
  /** S3 addressing style, "path" or "virtual" (`--s3-addressing`). */
  s3Addressing?: string;
  /** User name for oci:// registries (`--oci-username`). */
  ociUsername?: string;
  /** Variable holding the user name for oci:// registries (`--oci-username-variable`). */
  ociUsernameVariable?: string;
  /** Variable holding the password or token for oci:// registries (`--oci-password-variable`). */
  ociPasswordVariable?: string;
  /** Seconds to wait for a server's response headers (`--connect-timeout`); 0 = no limit. */
  connectTimeout?: number;
  /** Longest pause in seconds inside a response body (`--read-timeout`); 0 = no limit. */
  readTimeout?: number;
}

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

/** What a command's action gets. */
export interface Ctx {
  out: Output;
  globals: GlobalOptions;
  /** Aborted on Ctrl-C (the REPL cancels the running command through it). */
  signal: AbortSignal;
  /**
   * Adds to what is printed when the command is interrupted (SIGINT, SIGTERM, SIGHUP): a line
   * saying what was completed and what was not.
   */
  onInterrupt(report: () => string | undefined): void;
}

/** A command's implementation: returns an exit code (0 when nothing is returned). */
export type Action<A extends unknown[]> = (ctx: Ctx, ...args: A) => Promise<number | void>;

/** Adds commands to the program. Each file in commands/ exports one of these. */
export type Register = (program: Command, act: ActFn) => void;

/** Wraps an action so main() learns its exit code. */
export type ActFn = <A extends unknown[]>(fn: Action<A>) => (...args: A) => Promise<void>;

/** Options for building the program (the REPL passes its own output and signal). */
export interface ProgramOptions {
  output?: (o: OutputOptions) => Output;
  signal?: AbortSignal;
  onExit?: (code: number) => void;
  onInterrupt?: (report: () => string | undefined) => void;
}

/**
 * The sub-command group `name` of `program` (for example `keys`), created on first use, so
 * that several command files can add verbs to the same group.
 */
export function group(program: Command, name: string, description: string): Command {
  const found = program.commands.find((c) => c.name() === name);
  if (found) return found as Command;
  return program.command(name).description(description);
}

/**
 * Refuses empty or blank values given on the command line (`--root ""`, `-m "$UNSET"`, an
 * empty positional argument): a usage error naming the flag, for every command, before
 * anything runs. Values from the environment or configuration are not checked here.
 */
const NOUNS: Record<string, string> = { dir: "directory", url: "mirror path or URL" };

export function rejectEmptyValues(cmd: Command): void {
  const blank = (v: unknown) =>
    (Array.isArray(v) ? v : [v]).some((x) => typeof x === "string" && x.trim() === "");
  for (let c: Command | null = cmd; c; c = c.parent) {
    for (const opt of c.options) {
      if (!opt.required && !opt.optional) continue; // a switch
      const key = opt.attributeName();
      if (c.getOptionValueSource(key) !== "cli" || !blank(c.getOptionValue(key))) continue;
      const what = /<([^>]+)>|\[([^\]]+)\]/.exec(opt.flags);
      const meta = (what?.[1] ?? what?.[2] ?? "value").replace(/\.\.\.$/, "");
      throw new UsageError(
        `${opt.long ?? opt.short} was given an empty ${NOUNS[meta] ?? meta}; ` +
          `name one (is a shell variable unset?)`,
      );
    }
  }
  cmd.registeredArguments.forEach((arg, i) => {
    if (blank(cmd.processedArgs[i])) {
      throw new UsageError(
        `The <${arg.name()}> argument of "${cmd.name()}" is empty; name one ` +
          `(is a shell variable unset?)`,
      );
    }
  });
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
      },
      ...args,
    );
    opts.onExit?.(code ?? 0);
  };
  for (const register of commands) register(program, act);
  return program;
}

/** Runs the CLI with `argv` (without the executable); resolves with the exit code. */
export async function main(argv: string[]): Promise<number> {
  let code = 0;
  const stop = catchSignals((l) => process.stderr.write(`\nspackle: ${l}\n`));
  const program = buildProgram({
    onExit: (c) => (code = c),
    signal: stop.signal,
    onInterrupt: stop.report,
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
