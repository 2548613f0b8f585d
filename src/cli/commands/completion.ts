/** `completion SHELL`: shell completion generated from the command definitions. */
import type { Register } from "../app.ts";

const register: Register = () => {};
export default register;
