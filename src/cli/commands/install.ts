/** `install`: specs and their runtime dependencies into an install tree. */
import type { Register } from "../app.ts";

const register: Register = () => {};
export default register;
