/**
 * Recognising and unwrapping clear-signed text without verifying it (used where Spack does
 * not verify either: index manifests, or reads that do not require a signature).
 *
 * @module
 */
import { InvalidDataError } from "../errors.ts";

/** The first line of a clear-signed document. */
export const CLEARSIGN_HEAD = "-----BEGIN PGP SIGNED MESSAGE-----";

/** True when `text` starts exactly with the clear-signed header (as Spack requires). */
export function isClearsigned(text: string): boolean {
  return text.startsWith(CLEARSIGN_HEAD);
}

/**
 * The signed text of a clear-signed document: the lines between the armor headers and the
 * signature block, with dash-escaping (`- `) removed.
 */
export function clearsignedBody(text: string, label = "document"): string {
  const lines = text.split(/\r?\n/);
  if (lines[0] !== CLEARSIGN_HEAD) {
    throw new InvalidDataError(`Cannot read ${label}: not a clear-signed document`);
  }
  let i = 1;
  while (i < lines.length && lines[i] !== "") i++;
  const end = lines.indexOf("-----BEGIN PGP SIGNATURE-----", i);
  if (i >= lines.length || end < 0) {
    throw new InvalidDataError(`Cannot read ${label}: the clear-signed document is truncated`);
  }
  return lines.slice(i + 1, end).map((l) => l.startsWith("- ") ? l.slice(2) : l).join("\n");
}
