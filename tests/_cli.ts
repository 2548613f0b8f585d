/**
 * Running spackle's CLI as a user runs it: `cli.ts` under Deno in a subprocess, output captured.
 * The one runner the CLI tests share.
 */
import { join } from "node:path";
import { REPO_ROOT } from "./_fixtures.ts";

/** The CLI's entry point. */
export const CLI: string = join(REPO_ROOT, "cli.ts");

/** What a run printed and how it ended. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** How to run it: `NO_COLOR=1` is always set; `env` adds to (or with `clearEnv`, replaces) the host's. */
export interface CliOptions {
  env?: Record<string, string>;
  clearEnv?: boolean;
  cwd?: string;
}

function command(args: string[], opts: CliOptions): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    env: { NO_COLOR: "1", ...opts.env },
    clearEnv: opts.clearEnv,
    cwd: opts.cwd,
    stdout: "piped",
    stderr: "piped",
  });
}

function result(out: Deno.CommandOutput): CliResult {
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Runs `spackle ARGS...` and waits for it. */
export async function runCli(args: string[], opts: CliOptions = {}): Promise<CliResult> {
  return result(await command(args, opts).output());
}

/** `runCli`, synchronously. */
export function runCliSync(args: string[], opts: CliOptions = {}): CliResult {
  return result(command(args, opts).outputSync());
}
