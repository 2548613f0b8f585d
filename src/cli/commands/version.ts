import type { Register } from "../context.ts";
import { COMMIT, TARGET, VERSION } from "../../version.ts";

/** The line `spackle --version` prints. */
export function versionLine(): string {
  return `spackle ${VERSION} (commit ${COMMIT}, ${TARGET})`;
}

/** `spackle version` (and `--version`): version, commit and target. */
const register: Register = (program, act) => {
  program.version(versionLine(), "-V, --version");
  program
    .command("version")
    .description("print version, commit and build target")
    .action(act(async ({ out }) => {
      if (out.json) out.data({ version: VERSION, commit: COMMIT, target: TARGET });
      else out.out(versionLine());
    }));
};
export default register;
