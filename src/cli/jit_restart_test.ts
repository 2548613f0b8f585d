import assert from "node:assert/strict";
import { buildProgram } from "./app.ts";
import {
  BULK_COMMANDS,
  commandWord,
  type Execve,
  FTL_VARIABLE,
  GLOBAL_FLAGS,
  restartWithoutFtl,
} from "./jit_restart.ts";

Deno.test("commandWord finds the command after the program's options and their values", () => {
  assert.equal(commandWord(["install", "zlib"]), "install");
  assert.equal(commandWord(["-q", "--json", "push", "./m", "/p"]), "push");
  assert.equal(commandWord(["-C", "install", "list"]), "list"); // -C's value, then the command
  assert.equal(commandWord(["--config", "c.yaml", "-v", "update-index", "m"]), "update-index");
  assert.equal(commandWord(["--mirrors-file=m.yaml", "verify", "m"]), "verify");
  assert.equal(commandWord(["--", "install"]), undefined);
  assert.equal(commandWord(["--json"]), undefined);
  assert.equal(commandWord([]), undefined);
});

Deno.test("GLOBAL_FLAGS are the program's own options that take no value", () => {
  const program = buildProgram();
  const flags = program.options.filter((o) => !o.required && !o.optional)
    .flatMap((o) => [o.short, o.long].filter((f): f is string => f !== undefined));
  assert.deepEqual([...GLOBAL_FLAGS].sort(), flags.sort());
});

/** A restart as the executable would make it, recorded instead of done. */
function attempt(argv: string[], over: Partial<Parameters<typeof restartWithoutFtl>[0]> = {}) {
  const calls: [string, string[], Record<string, string | undefined>][] = [];
  const execve: Execve = (file, args, env) => {
    calls.push([file, args, env]);
    throw new Error("(recorded)");
  };
  const res = restartWithoutFtl({
    argv,
    env: { PATH: "/usr/bin", HOME: "/h" },
    execPath: "/opt/spackle",
    compiled: true,
    execve,
    ...over,
  });
  return { res, calls };
}

Deno.test("a bulk command of the compiled executable starts it again with the top JIT tier off", () => {
  const { res, calls } = attempt(["-q", "install", "-m", "./m", "zlib"]);
  assert.deepEqual(calls, [[
    "/opt/spackle",
    ["/opt/spackle", "-q", "install", "-m", "./m", "zlib"],
    { PATH: "/usr/bin", HOME: "/h", [FTL_VARIABLE]: "0" },
  ]]);
  // A start that fails leaves the command to run in this process.
  assert.ok(res instanceof Error && res.message === "(recorded)");
  for (const c of BULK_COMMANDS) assert.equal(attempt([c]).calls.length, 1, c);
});

Deno.test("no restart for other commands, a set variable, outside the executable or without execve", () => {
  for (const argv of [["list"], ["show", "x"], ["serve"], ["repl"], ["--version"], []]) {
    assert.deepEqual(attempt(argv), { res: false, calls: [] }, argv.join(" "));
  }
  // The variable set (by the user, or by the restart itself): never again.
  for (const v of ["0", "1", ""]) {
    assert.deepEqual(attempt(["install"], { env: { [FTL_VARIABLE]: v } }).calls, []);
  }
  assert.deepEqual(attempt(["install"], { compiled: false }).calls, []);
  assert.deepEqual(attempt(["install"], { execve: undefined }), { res: false, calls: [] });
});
