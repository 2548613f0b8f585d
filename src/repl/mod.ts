/**
 * The interactive shell over the command table (`spackle repl`).
 *
 * @module
 */
export * from "./repl.ts";
