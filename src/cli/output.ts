/**
 * Output for the CLI: results on stdout (tables, or JSON with --json), messages on stderr,
 * colours only on a terminal and never with NO_COLOR.
 *
 * @module
 */
import process from "node:process";
import { errorCode, errorMessage } from "../errors.ts";

/** Global output settings, from the common flags. */
export interface OutputOptions {
  json: boolean;
  quiet: boolean;
  verbose: boolean;
  /** False to never colour (--no-color); NO_COLOR and non-terminals turn colours off too. */
  color?: boolean;
}

/** Where commands write. Tests pass their own to capture output. */
export interface Output extends Omit<OutputOptions, "color"> {
  /** A result line on stdout. */
  out(line: string): void;
  /** A JSON document on stdout. */
  data(value: unknown): void;
  /** A progress or status message on stderr (silent with --quiet or --json). */
  info(line: string): void;
  /** A detail shown only with --verbose. */
  debug(line: string): void;
  /** A warning on stderr (shown unless --json). */
  warn(line: string): void;
  /** True when stderr is a terminal and progress may be drawn. */
  tty: boolean;
  /** Colour helpers (identity when colours are off). */
  color: Colors;
}

/** Colour functions. */
export interface Colors {
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  cyan(s: string): string;
}

function makeColors(on: boolean): Colors {
  const wrap = (a: number, b: number) => (s: string) => on ? `\x1b[${a}m${s}\x1b[${b}m` : s;
  return {
    bold: wrap(1, 22),
    dim: wrap(2, 22),
    red: wrap(31, 39),
    green: wrap(32, 39),
    yellow: wrap(33, 39),
    cyan: wrap(36, 39),
  };
}

/** An Output on the process's stdout and stderr. */
export function processOutput(opts: OutputOptions): Output {
  const stdoutTty = !!process.stdout.isTTY;
  const stderrTty = !!process.stderr.isTTY;
  const colorOn = opts.color !== false && stdoutTty && !process.env.NO_COLOR &&
    process.env.TERM !== "dumb";
  return {
    ...opts,
    tty: stderrTty && !opts.quiet && !opts.json,
    color: makeColors(colorOn),
    out: (line) => void process.stdout.write(line + "\n"),
    data: (value) => void process.stdout.write(JSON.stringify(value, null, 2) + "\n"),
    info: (line) => {
      if (!opts.quiet && !opts.json) process.stderr.write(line + "\n");
    },
    debug: (line) => {
      if (opts.verbose && !opts.json) process.stderr.write(line + "\n");
    },
    warn: (line) => {
      if (!opts.json) process.stderr.write(`warning: ${line}\n`);
    },
  };
}

/** Prints an error the way the CLI does: `{"error":{code,message}}` with --json. */
export function printError(err: unknown, json: boolean): void {
  if (json) {
    process.stdout.write(
      JSON.stringify({ error: { code: errorCode(err), message: errorMessage(err) } }) + "\n",
    );
  } else {
    process.stderr.write(`spackle: error: ${errorMessage(err)}\n`);
  }
}

/** Formats rows as aligned columns. */
export function table(rows: string[][], widths: number[] = columnWidths(rows)): string[] {
  return rows.map((r) =>
    r.map((c, i) => (i === r.length - 1 ? c : c + " ".repeat(widths[i] - visible(c)))).join("  ")
  );
}

/** The widths of the columns of `rows` (for `table` over rows that come in parts). */
export function columnWidths(rows: Iterable<string[]>, widths: number[] = []): number[] {
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, visible(c))));
  return widths;
}

function visible(s: string): number {
  // deno-lint-ignore no-control-regex
  return s.includes("\x1b") ? s.replace(/\x1b\[[0-9;]*m/g, "").length : s.length;
}

/** Formats a byte count for people: 1.5 MB. */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ["kB", "MB", "GB", "TB"];
  let v = n / 1000;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}
