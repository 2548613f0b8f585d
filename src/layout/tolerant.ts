/**
 * Tolerant reading: the layout parsers (manifests, clear-signed metadata, indexes, spec
 * documents, v2 spec files, OCI images) run in a mode that returns the problem found instead of
 * throwing it, for callers that report every problem of a mirror (`verify`) rather than stop at
 * the first. Only damage to what was read is returned as a problem; anything else (an abort, a
 * bug) is still thrown.
 *
 * @module
 */
import { SpackleError } from "../errors.ts";

/** What a tolerant read gives: the value, or the problem that prevented it. */
export type Tolerant<T> = { ok: true; value: T } | { ok: false; problem: string; error: Error };

/** True for errors that say the data read was damaged (and not that reading failed). */
function isDataProblem(e: unknown): e is Error {
  if (e instanceof SyntaxError) return true;
  return e instanceof SpackleError &&
    (e.code === "invalid_data" || e.code === "not_found" || e.code === "integrity" ||
      e.code === "unsupported");
}

/** Runs a parser in tolerant mode: its damage errors become a problem; others are thrown. */
export function tolerantly<T>(parse: () => T): Tolerant<T> {
  try {
    return { ok: true, value: parse() };
  } catch (e) {
    if (!isDataProblem(e)) throw e;
    return { ok: false, problem: e.message, error: e };
  }
}

/** `tolerantly` for an asynchronous parser. */
export async function tolerantlyAsync<T>(parse: () => Promise<T>): Promise<Tolerant<T>> {
  try {
    return { ok: true, value: await parse() };
  } catch (e) {
    if (!isDataProblem(e)) throw e;
    return { ok: false, problem: e.message, error: e };
  }
}
