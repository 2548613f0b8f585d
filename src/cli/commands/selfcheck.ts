import type { Register } from "../context.ts";
import { EXIT } from "../context.ts";

/** `spackle self-check`: exercises the streaming core in this executable. */
const register: Register = (program, act) => {
  program
    .command("self-check")
    .description("check that hashing, gzip and tar work in this executable")
    .action(act(async ({ out }) => {
      const { selfCheck } = await import("../../../mod.ts");
      const results = await selfCheck();
      if (out.json) out.data({ checks: results });
      else for (const r of results) out.out(`${r.ok ? "ok  " : "FAIL"} ${r.name}: ${r.detail}`);
      return results.every((r) => r.ok) ? EXIT.ok : EXIT.problems;
    }));
};
export default register;
