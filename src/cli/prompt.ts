/**
 * Asking on the terminal for a secret (a key's passphrase): what is typed is not echoed.
 *
 * @module
 */
import process from "node:process";

/** Reads a line from the terminal without echoing it; undefined when stdin is not a terminal. */
export async function promptHidden(question: string): Promise<string | undefined> {
  if (!process.stdin.isTTY) return undefined;
  const { createInterface } = await import("node:readline");
  const { Writable } = await import("node:stream");
  let muted = false;
  const output = new Writable({
    write(chunk, _enc, cb) {
      if (!muted) process.stderr.write(chunk);
      cb();
    },
  });
  const rl = createInterface({ input: process.stdin, output, terminal: true });
  try {
    return await new Promise<string>((resolve) => {
      rl.question(question, (a) => resolve(a));
      muted = true;
    });
  } finally {
    rl.close();
    process.stderr.write("\n");
  }
}

/** Asks a yes/no question on the terminal (default no); undefined when stdin is not a terminal. */
export async function promptYesNo(question: string): Promise<boolean | undefined> {
  if (!process.stdin.isTTY) return undefined;
  const { createInterface } = await import("node:readline");
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  try {
    const a = await new Promise<string>((resolve) => rl.question(`${question} [y/N] `, resolve));
    return /^\s*y(es)?\s*$/i.test(a);
  } finally {
    rl.close();
  }
}
