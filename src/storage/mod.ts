/**
 * Storage: the Store contract and its backends.
 *
 * @module
 */
export type * from "./store.ts";
export { MemoryStore } from "./memory.ts";
export { FileStore } from "./file.ts";
