/** `verify`, `sync`, `bundle`, `prune`: whole-mirror operations. */
import type { Register } from "../app.ts";

const register: Register = () => {};
export default register;
