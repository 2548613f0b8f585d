/**
 * The command table's rows (`src/cli/commands/mod.ts`) name exactly the top-level commands
 * their files register, and a program built for a command line that names a command has that
 * command alone, with the same verbs, options and help as in the whole program, and the same
 * global options and hooks.
 */
import assert from "node:assert/strict";
import type { Command } from "commander";
import { buildProgram, namedRow } from "../src/cli/app.ts";
import { COMMAND_ROWS } from "../src/cli/commands/mod.ts";

/** A command's tree: names, aliases, options and verbs, as text to compare. */
function tree(c: Command, depth = 0): string {
  const pad = "  ".repeat(depth);
  const opts = c.options.map((o) => o.flags).join(" ");
  return [
    `${pad}${c.name()} [${c.aliases().join(",")}] ${opts}`,
    ...(c.commands as Command[]).map((s) => tree(s, depth + 1)),
  ].join("\n");
}

/**
 * What a program holds itself: its options and its hooks (commander keeps them in a private
 * field). A command file that adds to them must do it in `PROGRAM_SETUP`, or a program built
 * for another command would lack it.
 */
function programLevel(p: Command): string {
  const hooks = (p as unknown as { _lifeCycleHooks: Record<string, unknown[]> })._lifeCycleHooks;
  return JSON.stringify({
    options: p.options.map((o) => o.flags),
    hooks: Object.entries(hooks).map(([k, v]) => `${k} ${v.length}`).sort(),
  });
}

Deno.test("each row of the command table names exactly the commands its files register", () => {
  const whole = buildProgram();
  const top = (whole.commands as Command[]).map((c) => [c.name(), ...c.aliases()]);
  const named = COMMAND_ROWS.flatMap((r) => r.names);
  assert.deepEqual(named.toSorted(), top.flat().toSorted(), "the rows and the program disagree");
  for (const row of COMMAND_ROWS) {
    const only = buildProgram({ argv: [row.names[0]] });
    const got = only.commands as Command[];
    assert.equal(
      programLevel(only),
      programLevel(whole),
      `${row.names[0]}: program options or hooks`,
    );
    assert.deepEqual(got.flatMap((c) => [c.name(), ...c.aliases()]), [...row.names], row.names[0]);
    for (const c of got) {
      const same = (whole.commands as Command[]).find((w) => w.name() === c.name())!;
      assert.equal(tree(c), tree(same), `${c.name()}: not the same tree as in the whole program`);
      assert.equal(c.helpInformation(), same.helpInformation(), `${c.name()}: other help`);
    }
  }
});

Deno.test("the command a command line names is found after the global options and their values", () => {
  const program = buildProgram();
  const row = (...argv: string[]) => namedRow(program, argv)?.names[0];
  assert.equal(row("list", "-m", "x"), "list");
  assert.equal(row("ls"), "list");
  assert.equal(row("--json", "-q", "--no-color", "keys", "list"), "keys");
  // An option's value is not the command, in either form.
  assert.equal(row("-C", "list", "show", "pkg"), "show");
  assert.equal(row("--config=list", "show"), "show");
  assert.equal(row("--connect-timeout", "5", "config"), "mirror");
  // Anything else before the command: every command is registered.
  assert.equal(row("--help", "list"), undefined);
  assert.equal(row("-h"), undefined);
  assert.equal(row("--bogus", "list"), undefined);
  assert.equal(row("--bogus=1", "list"), undefined);
  assert.equal(row("--", "list"), undefined);
  assert.equal(row("help", "list"), undefined);
  assert.equal(row("nosuch"), undefined);
  assert.equal(row(), undefined);
  assert.equal(buildProgram({ argv: ["help"] }).commands.length, COMMAND_ROWS.length + 1);
});
