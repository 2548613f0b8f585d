/**
 * Push: pack a prefix into a Spack tarball and push it through the v3 writer.
 *
 * @module
 */
export {};
