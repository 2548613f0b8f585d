/**
 * Tolerant reading shared by both layouts (see `tolerant.ts`): an index, and the node hashes of
 * a spec document (gzip-compressed or not, clear-signed or not, spec formats 1 to 5).
 *
 * @module
 */
import { gunzipBytes, isGzip } from "../core/gzip.ts";
import { type ParsedIndex, parseIndex } from "./_index.ts";
import { clearsignedBody, isClearsigned } from "./signed_metadata.ts";
import { type Tolerant, tolerantly } from "./tolerant.ts";

/** The index in `bytes` (database versions 6 to 8), or the problem that prevents reading it. */
export function inspectIndex(
  bytes: Uint8Array,
  layout: 2 | 3,
  label: string,
): Tolerant<ParsedIndex> {
  return tolerantly(() => parseIndex(bytes, layout, label));
}

/** The hashes of the nodes of a parsed spec document (formats 1 to 5), root first. */
function specHashes(doc: unknown): string[] {
  const spec = (doc as { spec?: unknown })?.spec;
  const nodes = (spec as { nodes?: unknown })?.nodes ?? spec;
  if (!Array.isArray(nodes)) return [];
  const out: string[] = [];
  for (const n of nodes) {
    if (!n || typeof n !== "object") continue;
    const h = (n as { hash?: unknown }).hash;
    if (typeof h === "string") out.push(h);
    else {
      // Format 1 (YAML-era JSON): [{name: {hash: ...}}]
      for (const v of Object.values(n)) {
        const hh = (v as { hash?: unknown })?.hash;
        if (typeof hh === "string") out.push(hh);
      }
    }
  }
  return out;
}

/**
 * The node hashes of the spec document in `bytes` (gzip and a clear signature are removed
 * first, as Spack does), or the problem that prevents reading it.
 */
export function inspectSpecHashes(bytes: Uint8Array, label: string): Tolerant<string[]> {
  return tolerantly(() => {
    const text = new TextDecoder().decode(isGzip(bytes) ? gunzipBytes(bytes, label) : bytes);
    return specHashes(JSON.parse(isClearsigned(text) ? clearsignedBody(text, label) : text));
  });
}
