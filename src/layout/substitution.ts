/**
 * What is fetched is what was asked for: the index (or a file name) is not signed, so after an
 * entry's signed spec is read, the query that led to it must still hold for the signed
 * spec's own name, version, compiler and arch, else the entry is a substitution.
 *
 * @module
 */
import { SignatureError } from "../errors.ts";
import { matchesAnyQuery, parseSpecQuery } from "../index/query.ts";
import type { Entry } from "./types.ts";

/**
 * Throws SignatureError unless the signed spec of `entry` (its `ref`, which the readers take
 * from the signed spec) satisfies `query`.
 */
export function checkSubstitution(query: string, entry: Entry): void {
  const specs = parseSpecQuery(query);
  const r = entry.ref;
  if (matchesAnyQuery(r, specs)) return;
  const is = `${r.name}@${r.version}${r.compiler ? ` %${r.compiler}` : ""}${
    r.arch ? ` arch=${r.arch}` : ""
  }`;
  throw new SignatureError(
    `Cannot use /${r.hash} for "${query}": substitution: its signed spec is "${is}", ` +
      `which does not satisfy "${query}"${entry.substitution ? ` (${entry.substitution})` : ""}`,
  );
}
