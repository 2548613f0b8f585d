/**
 * What every command file shares: exit codes, the global options, the context an action gets,
 * the `Register` signature of a command file and helpers for defining commands. Command files
 * import this module, never `app.ts` (which imports them).
 *
 * @module
 */
import type { Command } from "commander";
import { UsageError } from "../errors.ts";
import type { Output, OutputOptions } from "./output.ts";

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
  /**
   * A fresh command tree with these options (the REPL runs each line through one): given
   * here so that nothing a command imports has to import the command table.
   */
  newProgram(opts?: ProgramOptions): Command;
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
  /**
   * The command line the program is built for: when it names a command of the table (after
   * the global options), only that command is registered (building every command costs a
   * run more than the smaller commands take). Unset: every command.
   */
  argv?: readonly string[];
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
