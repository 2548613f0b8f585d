import type { Command } from "commander";
import type { Register } from "../context.ts";
import { COMMIT, TARGET, VERSION } from "../../version.ts";

/** The line `spackle --version` prints. */
export function versionLine(): string {
  return `spackle ${VERSION} (commit ${COMMIT}, ${TARGET})`;
}

/** The program's `-V, --version` flag (whatever command the program is built for). */
export function versionFlag(program: Command): void {
  program.version(versionLine(), "-V, --version");
}

/** `spackle version`: version, commit and target. */
const register: Register = (program, act) => {
  program
    .command("version")
    .description("print version, commit and build target")
    .action(act(async ({ out }) => {
      if (out.json) out.data({ version: VERSION, commit: COMMIT, target: TARGET });
      else out.out(versionLine());
    }));
};
export default register;
