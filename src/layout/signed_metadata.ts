/**
 * Recognising and unwrapping clear-signed text without verifying it (used where Spack does
 * not verify either: index manifests, or reads that do not require a signature).
 *
 * @module
 */
import { clearsignedText } from "../sign/clearsign.ts";
import { type Tolerant, tolerantly } from "./tolerant.ts";

/** The first line of a clear-signed document. */
export const CLEARSIGN_HEAD = "-----BEGIN PGP SIGNED MESSAGE-----";

/**
 * True when `text` starts exactly with the clear-signed header: Spack requires this of
 * signed metadata (stricter than `sign/clearsign.ts`, which allows a BOM and blank lines).
 */
export function isClearsigned(text: string): boolean {
  return text.startsWith(CLEARSIGN_HEAD);
}

/**
 * The signed text of a clear-signed document, dash-escaping removed (no verification).
 */
export function clearsignedBody(text: string, label = "document"): string {
  return clearsignedText(text, label);
}

/**
 * Tolerant unwrapping: the text itself when it is not clear-signed, its signed text when it is,
 * or the problem when it starts as clear-signed but is malformed (no signature block).
 */
export function inspectSignedText(
  text: string,
  label = "document",
): Tolerant<{ body: string; signed: boolean }> {
  if (!isClearsigned(text)) return { ok: true, value: { body: text, signed: false } };
  return tolerantly(() => ({ body: clearsignedBody(text, label), signed: true }));
}
