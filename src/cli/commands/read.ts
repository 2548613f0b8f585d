/** `list`, `show`, `download`: reading entries of a mirror. */
import type { Register } from "../app.ts";

const register: Register = () => {};
export default register;
