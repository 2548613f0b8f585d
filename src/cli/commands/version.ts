import type { Register } from "../context.ts";
import { COMMIT, TARGET, VERSION } from "../../version.ts";

/** `spackle version` (and `--version`): version, commit and target. */
const register: Register = (program, act) => {
  program.version(`spackle ${VERSION} (commit ${COMMIT}, ${TARGET})`, "-V, --version");
  program
    .command("version")
    .description("print version, commit and build target")
    .action(act(async ({ out }) => {
      if (out.json) out.data({ version: VERSION, commit: COMMIT, target: TARGET });
      else out.out(`spackle ${VERSION} (commit ${COMMIT}, ${TARGET})`);
    }));
};
export default register;
