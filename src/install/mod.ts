/**
 * Install: extract into staging without escapes, relocate, rename into place.
 *
 * @module
 */
export {};
