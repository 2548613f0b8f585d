/**
 * Naming rules shared by both layouts.
 *
 * @module
 */

/** Spack's "polite filename": every character not in `[A-Za-z0-9_+.-]` becomes `_`. */
export function politeFilename(s: string): string {
  return s.replace(/[^A-Za-z0-9_+.-]/g, "_");
}

/** True for a full DAG hash (32 base32 characters, lowercase). */
export function isDagHash(s: string): boolean {
  return /^[a-z2-7]{32}$/.test(s);
}
