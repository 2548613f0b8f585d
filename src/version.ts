/**
 * Build facts: version, commit and target, replaced at compile time by `scripts/compile`.
 *
 * @module
 */
declare const SPACKLE_VERSION: string | undefined;
declare const SPACKLE_COMMIT: string | undefined;
declare const SPACKLE_TARGET: string | undefined;

/** spackle's version. */
export const VERSION: string = typeof SPACKLE_VERSION === "string" ? SPACKLE_VERSION : "0.1.0";
/** The git commit the executable was built from ("dev" when run from source). */
export const COMMIT: string = typeof SPACKLE_COMMIT === "string" ? SPACKLE_COMMIT : "dev";
/** The platform the executable was built for ("source" when run from source). */
export const TARGET: string = typeof SPACKLE_TARGET === "string" ? SPACKLE_TARGET : "source";
