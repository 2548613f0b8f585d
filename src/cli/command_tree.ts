/**
 * The command definitions as data: a walk of the commander tree that shell completion and the
 * CLI reference (docs/cli.md) are generated from.
 *
 * @module
 */
import type { Command } from "commander";

/** One option of a command. */
export interface OptionInfo {
  flags: string;
  long?: string;
  short?: string;
  description: string;
  /** True when the option takes a value. */
  takesValue: boolean;
  /** The value's placeholder, such as `file` or `url` (without brackets). */
  valueName?: string;
  defaultValue?: unknown;
  env?: string;
}

/** One positional argument. */
export interface ArgumentInfo {
  name: string;
  description: string;
  required: boolean;
  variadic: boolean;
}

/** One command (the root is the program itself, with an empty path). */
export interface CommandInfo {
  /** Names from the root, such as `["keys", "trust"]`. */
  path: string[];
  name: string;
  aliases: string[];
  description: string;
  usage: string;
  options: OptionInfo[];
  arguments: ArgumentInfo[];
  subcommands: CommandInfo[];
  /** The text after the options in `--help` (examples). */
  helpAfter: string;
}

function optionInfo(o: Command["options"][number]): OptionInfo {
  const m = /[<[]([^>\]]+)[>\]]/.exec(o.flags);
  return {
    flags: o.flags,
    long: o.long,
    short: o.short,
    description: o.description,
    takesValue: o.required || o.optional,
    valueName: m?.[1],
    defaultValue: o.defaultValue,
    env: o.envVar,
  };
}

function helpAfter(cmd: Command): string {
  // Commander keeps addHelpText() texts as listeners of "afterHelp".
  let text = "";
  const ctx = { error: false, command: cmd, write: (s: string) => (text += s) };
  const emitter = cmd as unknown as { listeners(e: string): unknown[] };
  for (const l of emitter.listeners("afterHelp")) (l as (c: typeof ctx) => void)(ctx);
  return text.trim();
}

/** Describes `cmd` and its subcommands (hidden ones left out). */
export function describe(cmd: Command, parent: string[] = []): CommandInfo {
  const path = cmd.parent ? [...parent, cmd.name()] : [];
  const help = cmd.createHelp();
  return {
    path,
    name: cmd.name(),
    aliases: cmd.aliases(),
    description: cmd.description(),
    usage: help.commandUsage(cmd),
    options: cmd.options.filter((o) => !o.hidden).map(optionInfo),
    arguments: cmd.registeredArguments.map((a) => ({
      name: a.name(),
      description: a.description,
      required: a.required,
      variadic: a.variadic,
    })),
    subcommands: (cmd.commands as Command[])
      .filter((c) => !(c as unknown as { _hidden?: boolean })._hidden)
      .map((c) => describe(c, path)),
    helpAfter: helpAfter(cmd),
  };
}

/** Every command of the tree, depth first, the root first. */
export function flatten(info: CommandInfo): CommandInfo[] {
  return [info, ...info.subcommands.flatMap(flatten)];
}
