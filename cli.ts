/**
 * The spackle executable: runs the CLI and exits with the code main() returns. The command
 * table is loaded only when a command runs: `spackle --version` alone prints its line first.
 *
 * @module
 */
import process from "node:process";
import { versionLine } from "./src/cli/commands/version.ts";
import { type Execve, restartWithoutFtl } from "./src/cli/jit_restart.ts";

// A command that moves bulk data runs with the engine's top JIT tier off: the compiled
// executable starts itself again for it, before anything else is done (see jit_restart.ts).
{
  const execve = (process as { execve?: Execve }).execve;
  const failed = restartWithoutFtl({
    argv: process.argv.slice(2),
    env: process.env,
    execPath: process.execPath,
    compiled: import.meta.url.includes("/$bunfs/"),
    execve: execve?.bind(process),
  });
  // (Not started again: the command runs here, as it would without the restart.)
  if (failed && process.env.SPACKLE_DEBUG) {
    console.error(`spackle: debug: not started again: ${failed.message}`);
  }
}

// A reader that goes away (`spackle list | head`) ends the output, not in a crash: stop quietly
// with the status a shell gives a process killed by SIGPIPE.
for (const s of [process.stdout, process.stderr]) {
  s.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(141);
    throw e;
  });
}

const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === "--version" || argv[0] === "-V")) {
  process.stdout.write(versionLine() + "\n");
} else {
  const { main } = await import("./src/cli/app.ts");
  const code = await main(argv);
  process.exitCode = code;
  // Interrupted: work still in flight (a parallel upload the command did not wait for) ends
  // and removes its files as the event loop drains; nothing may delay the exit past 3 s.
  if (code > 128) setTimeout(() => process.exit(code), 3000).unref();
}
