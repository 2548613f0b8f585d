/**
 * Conformance suites for code that plugs into spackle (Deno's test runner): the behaviour every
 * `Store` backend and every `CacheReader` must have. spackle runs them on its own backends and
 * readers; a backend or reader written elsewhere can run them too.
 *
 * @example Run the Store suite on a store
 * ```ts ignore
 * import { MemoryStore } from "@spackle/spackle";
 * import { runStoreBehaviour } from "@spackle/spackle/testing";
 *
 * runStoreBehaviour("memory", () => {
 *   const store = new MemoryStore();
 *   return Promise.resolve({
 *     store,
 *     seed: (path, bytes) => store.write(path, bytes),
 *     cleanup: () => Promise.resolve(),
 *   });
 * }, { write: true, list: true, copy: true });
 * ```
 *
 * @module
 */
export { bytesOf, runStoreBehaviour, type StoreCaps, type StoreUnderTest } from "./store_suite.ts";
export { type ReaderUnderTest, runCacheReaderBehaviour } from "./cache_reader_suite.ts";
