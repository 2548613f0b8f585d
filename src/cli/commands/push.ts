/** `push`, `update-index`, `migrate`, `keys publish`: writing v3 build caches. */
import type { Register } from "../app.ts";

const register: Register = () => {};
export default register;
