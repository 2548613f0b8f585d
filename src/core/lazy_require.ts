/**
 * Loading on first use behind synchronous functions: for modules too costly to evaluate when
 * their importer is (zod and the spec schemas, yaml), so that importing the library (`mod.ts`,
 * which every command does) stays cheap. Bun gives every ES module a `require`, and its bundler
 * embeds what a literal `require("...")` names in a chunk of its own, evaluated on that call.
 * Where modules have no `require` (Deno, browsers) the module is imported with its importer
 * instead (a top-level `await import`), which needs no file access and no `node_modules`. The
 * specifier must stay a literal at the use site for the bundler to see it:
 *
 * ```ts ignore
 * declare const require: ((id: string) => unknown) | undefined;
 * const yaml = onFirstUse(() => (eagerYaml ?? require!("yaml")) as Yaml);
 * const eagerYaml = typeof require === "function" ? undefined : await import("yaml");
 * ```
 *
 * @module
 */

/** `load` run once, on the first call of the returned function; later calls return its value. */
export function onFirstUse<T>(load: () => T): () => T {
  let value: T | undefined;
  let loaded = false;
  return () => {
    if (!loaded) {
      value = load();
      loaded = true;
    }
    return value as T;
  };
}

/**
 * A Node built-in module (`node:zlib`, `node:crypto`), loaded on the first call of the returned
 * function through `process.getBuiltinModule` (Deno, Bun, Node 22.3+), not when the module that
 * needs it is evaluated.
 */
export function builtinOnFirstUse<T>(id: string): () => T {
  return onFirstUse(() => {
    const p = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
    if (typeof p?.getBuiltinModule !== "function") {
      throw new Error(`${id} is not available in this runtime`);
    }
    return p.getBuiltinModule(id) as T;
  });
}
