/**
 * Running a program that a test has just written, or installed in its own process.
 *
 * Such a program cannot be started while another process holds it open for writing: a child
 * forked meanwhile by a test running beside this one inherits the descriptor until it execs
 * ("text file busy"). A start that fails so is tried again, up to 20 times, 50 ms apart.
 */

/** What a run gave. */
export interface RunResult {
  code: number;
  signal: Deno.Signal | null;
  stdout: string;
  stderr: string;
  /** The tries it took to start (1 when the first start worked). */
  tries: number;
}

/** What {@link runProgram} takes. */
export interface RunOptions {
  /** The whole environment (default: `PATH=/usr/bin:/bin` only). */
  env?: Record<string, string>;
  cwd?: string;
  /** Starts before giving up on a busy program (default 20). */
  maxTries?: number;
}

/** True for the error of a start refused because the program is open for writing. */
export function isTextBusy(e: unknown): boolean {
  const err = e as { code?: string; message?: string } | undefined;
  return err?.code === "ETXTBSY" || /text file busy|os error 26\b/i.test(err?.message ?? "");
}

const decoder = new TextDecoder();

/** Runs `cmd` with `args` to its end; a start refused as "text file busy" is tried again. */
export function runProgram(cmd: string, args: string[] = [], opts: RunOptions = {}): RunResult {
  const maxTries = opts.maxTries ?? 20;
  for (let tries = 1;; tries++) {
    let out: Deno.CommandOutput;
    try {
      out = new Deno.Command(cmd, {
        args,
        cwd: opts.cwd,
        env: opts.env ?? { PATH: "/usr/bin:/bin" },
        clearEnv: true,
        stdin: "null",
      }).outputSync();
    } catch (e) {
      if (isTextBusy(e) && tries < maxTries) {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
        continue;
      }
      throw new Error(`Cannot start ${cmd} (${tries} tries): ${(e as Error).message}`, {
        cause: e,
      });
    }
    return {
      code: out.code,
      signal: out.signal,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
      tries,
    };
  }
}
