/** `keys list|fetch|trust|untrust|remove|create|export`: the keyring and the keys mirrors publish. */
import type { Register } from "../app.ts";

const register: Register = () => {};
export default register;
