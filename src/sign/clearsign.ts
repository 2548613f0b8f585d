/**
 * The OpenPGP cleartext signature framework (RFC 4880 §7) without cryptography: recognising a
 * clear-signed document, splitting it into signed text and armored signature, and dash-escaping
 * text before signing.
 *
 * @module
 */
import { InvalidDataError } from "../errors.ts";

/** The first line of a clear-signed document. */
export const SIGNED_MESSAGE_HEAD = "-----BEGIN PGP SIGNED MESSAGE-----";
/** The line that starts the armored signature of a clear-signed document. */
export const SIGNATURE_HEAD = "-----BEGIN PGP SIGNATURE-----";
/** The line that ends the armored signature. */
export const SIGNATURE_TAIL = "-----END PGP SIGNATURE-----";

/** A clear-signed document taken apart. */
export interface ClearsignedParts {
  /** The signed text: dash-escaping removed, LF line endings, no trailing line break. */
  body: string;
  /** The digest names of the `Hash:` armor headers (empty when there is none). */
  hashes: string[];
  /** The armored signature block, BEGIN to END lines included, LF line endings. */
  signature: string;
}

/**
 * True when `text` is a clear-signed document: its first line (after an optional byte-order
 * mark and leading blank lines) is the `BEGIN PGP SIGNED MESSAGE` line.
 */
export function isClearsigned(text: string): boolean {
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  while (text[i] === "\n" || text[i] === "\r") i++;
  if (!text.startsWith(SIGNED_MESSAGE_HEAD, i)) return false;
  const after = text.slice(i + SIGNED_MESSAGE_HEAD.length, i + SIGNED_MESSAGE_HEAD.length + 2);
  return after === "" || after[0] === "\n" || after === "\r\n" || after[0] === " " ||
    after[0] === "\t";
}

/**
 * Splits a clear-signed document into its signed text, `Hash` headers and armored signature.
 * Accepts LF and CRLF line endings, trailing whitespace on the armor lines, and removes
 * dash-escaping (`- ` prefixes). `label` names the document in errors.
 */
export function splitClearsigned(text: string, label = "document"): ClearsignedParts {
  if (!isClearsigned(text)) {
    throw new InvalidDataError(`Cannot read "${label}": not a clear-signed document`);
  }
  const lines = text.replace(/^\ufeff/, "").split(/\r?\n/);
  let i = 0;
  while (lines[i].trim() === "") i++;
  i++; // the BEGIN PGP SIGNED MESSAGE line
  const hashes: string[] = [];
  for (; i < lines.length; i++) {
    const line = lines[i].trimEnd();
    if (line === "") break;
    const m = /^([A-Za-z]+):\s*(.*)$/.exec(line);
    if (!m) {
      throw new InvalidDataError(
        `Cannot read "${label}": malformed armor header line ${JSON.stringify(line)}`,
      );
    }
    if (m[1] === "Hash") {
      hashes.push(...m[2].split(",").map((h) => h.trim()).filter((h) => h !== ""));
    }
  }
  if (i >= lines.length - 1) {
    throw new InvalidDataError(`Cannot read "${label}": the clear-signed document is truncated`);
  }
  const start = i + 1;
  let end = start;
  while (end < lines.length && lines[end].trimEnd() !== SIGNATURE_HEAD) end++;
  if (end >= lines.length) {
    throw new InvalidDataError(
      `Cannot read "${label}": the clear-signed document has no signature`,
    );
  }
  let tail = end;
  while (tail < lines.length && lines[tail].trimEnd() !== SIGNATURE_TAIL) tail++;
  if (tail >= lines.length) {
    throw new InvalidDataError(`Cannot read "${label}": the signature block is not terminated`);
  }
  const body = lines.slice(start, end).map(undash).join("\n");
  const signature = lines.slice(end, tail + 1).map((l) => l.trimEnd()).join("\n") + "\n";
  return { body, hashes, signature };
}

function undash(line: string): string {
  return line.startsWith("- ") ? line.slice(2) : line;
}

/** The signed text of a clear-signed document (see `splitClearsigned`). */
export function clearsignedText(text: string, label = "document"): string {
  return splitClearsigned(text, label).body;
}

/** Dash-escapes text for a cleartext signature: lines starting with `-` get a `- ` prefix. */
export function dashEscape(text: string): string {
  return text.split("\n").map((l) => l.startsWith("-") ? "- " + l : l).join("\n");
}

/** Converts CRLF line endings to LF. */
export function toLf(text: string): string {
  return text.replace(/\r\n/g, "\n");
}
