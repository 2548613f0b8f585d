/** `mirror add|list|remove`, `config`: configured mirrors and settings. */
import type { Register } from "../app.ts";

const register: Register = () => {};
export default register;
