/**
 * SIGINT, SIGTERM and SIGHUP for every command: the first one aborts the command's
 * AbortSignal (the library stops at its next step and removes this run's working files on the
 * way out), and the CLI then prints what was completed and what was not and exits with
 * 128 + the signal number (130, 143, 129). A second signal ends the process at once.
 *
 * @module
 */
import process from "node:process";

/** Exit codes of the signals handled (128 + the signal number). */
export const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;

/** A signal spackle stops on. */
export type StopSignal = keyof typeof SIGNAL_EXIT;

/** The abort reason of an interrupted command. */
export class InterruptedError extends Error {
  constructor(readonly signalName: StopSignal) {
    super(`interrupted by ${signalName}`);
    this.name = "AbortError";
  }
}

/** The signal handling of one CLI run. */
export interface Interruption {
  /** Aborted when a signal arrives. */
  readonly signal: AbortSignal;
  /** The signal received, if any. */
  received(): StopSignal | undefined;
  /** Adds to what is printed when interrupted (what was completed, what was not). */
  report(fn: () => string | undefined): void;
  /** The lines of the reports. */
  lines(): string[];
  /** Removes the handlers. */
  dispose(): void;
}

/** Installs the handlers; `say` prints a line on stderr. */
export function catchSignals(say: (line: string) => void): Interruption {
  const ac = new AbortController();
  let got: StopSignal | undefined;
  const reports: (() => string | undefined)[] = [];
  const handlers = new Map<StopSignal, () => void>();
  for (const sig of Object.keys(SIGNAL_EXIT) as StopSignal[]) {
    const h = () => {
      if (got) process.exit(SIGNAL_EXIT[got]); // a second signal: quit now
      got = sig;
      say(`${sig} received: stopping (${sig} again to quit at once)`);
      ac.abort(new InterruptedError(sig));
    };
    handlers.set(sig, h);
    try {
      process.on(sig, h);
    } catch { /* a signal this platform does not have */ }
  }
  return {
    signal: ac.signal,
    received: () => got,
    report: (fn) => reports.push(fn),
    lines: () => reports.map((f) => f()).filter((l): l is string => !!l),
    dispose() {
      for (const [sig, h] of handlers) process.off(sig, h);
    },
  };
}
