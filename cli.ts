/**
 * The spackle executable: runs the CLI and exits with the code main() returns.
 *
 * @module
 */
import process from "node:process";
import { main } from "./src/cli/app.ts";

// A reader that goes away (`spackle list | head`) ends the output, not in a crash: stop quietly
// with the status a shell gives a process killed by SIGPIPE.
for (const s of [process.stdout, process.stderr]) {
  s.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(141);
    throw e;
  });
}

const code = await main(process.argv.slice(2));
process.exitCode = code;
// Interrupted: the command has cleaned up; nothing left running may delay the exit.
if (code > 128) process.exit(code);
