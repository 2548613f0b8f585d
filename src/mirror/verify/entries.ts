/**
 * The entries verify checks (a v3 spec manifest or a v2 spec file, found by listing or through
 * the index), and the check both layouts make of the spec document an entry holds: it parses,
 * and it has a node with the entry's hash.
 *
 * @module
 */
import { inspectSpecHashes } from "../../layout/inspect.ts";
import type { VerifyRun } from "./run.ts";

/** One entry to check. */
export interface Task {
  layout: 2 | 3;
  /** Its metadata: the spec manifest (v3) or spec file (v2). */
  path: string;
  hash: string;
  /** `name@version/hash`. */
  label: string;
  /** Found through the index (not by listing): a missing file means a stale index. */
  fromIndex?: boolean;
  /** v2: the unsigned spec file to read when the signed one is absent. */
  alt?: string;
  /** v2: the tarball path, when known without listing. */
  tarball?: string;
}

/** Checks that the spec document in `bytes` parses and holds the entry's hash. */
export function checkSpecDoc(run: VerifyRun, bytes: Uint8Array, t: Task, path: string): void {
  const hashes = inspectSpecHashes(bytes, path);
  if (!hashes.ok) {
    run.add({
      kind: "corrupt",
      code: "spec_invalid",
      path,
      spec: t.label,
      layout: t.layout,
      message: `The spec of "${t.label}" does not parse: ${hashes.problem}`,
    });
    return;
  }
  if (!hashes.value.includes(t.hash)) {
    run.add({
      kind: "corrupt",
      code: "spec_hash_mismatch",
      path,
      spec: t.label,
      layout: t.layout,
      message: `The spec stored for "${t.label}" does not contain a node with hash "${t.hash}"` +
        (hashes.value.length ? ` (its root is "${hashes.value[0]}")` : ""),
    });
  }
}
