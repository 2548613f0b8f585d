/**
 * Configuration: Spack mirrors.yaml, spackle settings, credentials, CA and proxy.
 *
 * @module
 */
export {};
