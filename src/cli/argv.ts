/**
 * Finding the command a command line names, before or without building the program: both the
 * program (which registers only that command, see `app.ts`) and the executable's restart for
 * bulk commands (`jit_restart.ts`, before anything is loaded) read it.
 *
 * @module
 */

/**
 * The first word of `argv` that is not an option or an option's value. `takesValue(flag)` says
 * whether an option takes a value (`--flag=value` carries its own); undefined for a flag that
 * is not one of the program's, which ends the search with no word.
 */
export function firstWord(
  argv: readonly string[],
  takesValue: (flag: string) => boolean | undefined,
): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("-")) return a;
    const eq = a.startsWith("--") ? a.indexOf("=") : -1; // --flag=value
    const flag = eq < 0 ? a : a.slice(0, eq);
    const value = takesValue(flag);
    if (value === undefined) return undefined;
    if (eq < 0 && value) i++; // its value
  }
  return undefined;
}
