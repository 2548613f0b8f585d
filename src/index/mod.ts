/**
 * The build-cache index (Spack DB JSON): parse, query, write.
 *
 * @module
 */
export {};
