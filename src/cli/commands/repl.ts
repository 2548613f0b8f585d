/** `repl`: an interactive shell over the same commands. */
import type { Register } from "../app.ts";

const register: Register = () => {};
export default register;
