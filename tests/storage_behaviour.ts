/**
 * The Store behaviour suite, from the library's test-support module (kept at this path for the
 * test files that import it from here).
 *
 * @module
 */
export * from "../src/testing/store_suite.ts";
