/**
 * The private working directory of a writer (push packs tarballs there, update-index spools a
 * big index there): on the store's own file system where the store takes local files (placing
 * a file made there is then a link, no copy), else under the system's temporary directory.
 * Directories of writers killed on this host are removed first.
 *
 * @module
 */
import { createReadStream, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { fsError } from "../core/fs_errors.ts";
import { ownerTag, removeDeadOwners } from "../core/pid.ts";
import { canPlaceFiles, type Store } from "../storage/store.ts";

/** Makes the working directory of a `purpose` writer ("push" or "index"); the caller removes it. */
export async function workDir(store: Store, purpose: "push" | "index"): Promise<string> {
  if (canPlaceFiles(store)) return await store.makeStagingDir(purpose);
  const parent = tmpdir();
  const prefix = `spackle-${purpose}-`;
  try {
    removeDeadOwners(parent, prefix);
    return mkdtempSync(join(parent, prefix + ownerTag()));
  } catch (e) {
    throw fsError(e, parent, "make a working directory in");
  }
}

/** A file made in a working directory (a packed tarball, an index), read as a Web stream. */
export function fileStream(path: string): ReadableStream<Uint8Array> {
  return Readable.toWeb(createReadStream(path, { highWaterMark: 1 << 20 })) as ReadableStream<
    Uint8Array
  >;
}
