/**
 * The buildcache index for the layout readers: `src/index/db.ts` parses the database (versions
 * 6 to 8); this turns its light records into entry references.
 *
 * @module
 */
import { closeSync, fstatSync, openSync, readSync, statSync } from "node:fs";
import { type IndexDb, parseIndexDb, readIndexDb } from "../index/db.ts";
import { IndexReadAhead } from "../index/read_ahead.ts";
import { digestChecker, verifyStream } from "../core/digest.ts";
import { InvalidDataError } from "../errors.ts";
import type { SpecNode } from "../spec/types.ts";
import type { ReadStore } from "../storage/store.ts";
import type { Descriptor, EntryRef } from "./types.ts";

/** Index blobs from this size on are read ahead on a worker thread (where one can start). */
const READ_AHEAD_FROM = 4 << 20;

/** A parsed index: references in file order; nodes built only when asked for. */
export interface ParsedIndex {
  refs: EntryRef[];
  /** The node of a hash (built on first request), or undefined when the index lacks it. */
  node(hash: string): SpecNode | undefined;
  /** The database version string ("" when the entries came from a listing). */
  dbVersion: string;
}

/**
 * Parses index bytes (or text); `label` names it in errors. Only entry references are built up
 * front; the bytes are kept for the nodes asked for later.
 */
export function parseIndex(
  text: string | Uint8Array,
  layout: 2 | 3,
  label = "index",
): ParsedIndex {
  return indexOf(parseIndexDb(text, label), layout);
}

/**
 * Reads the index blob at `path` as it streams, checked against `d`'s size and sha256 (an
 * `IntegrityError` at the end on any difference): only the batch of records being parsed is
 * held besides the light records. The records a node is asked for later are read again from
 * the blob's file where the store is local (the file must be the one read: same inode, size
 * and modification time), else kept in memory from the first read.
 */
export async function readIndexBlob(
  store: ReadStore,
  path: string,
  d: Descriptor | TransformStream<Uint8Array, Uint8Array>,
  layout: 2 | 3,
  label: string,
  signal?: AbortSignal,
): Promise<ParsedIndex> {
  const local = store.localPath?.(path);
  const before = local ? statSync(local, { throwIfNoEntry: false }) : undefined;
  // A local file is read in place (no stream); a descriptor is checked; a transform (v2's
  // index has none: a digest for a note) is passed.
  let fd: number | undefined;
  if (local && before?.isFile() && !(d instanceof TransformStream)) {
    try {
      fd = openSync(local, "r");
    } catch {
      // Read through the store, which says what is wrong.
    }
  }
  const body = fd !== undefined
    ? localBody(fd, local!, before!, d as Descriptor, label, signal)
    : (await store.read(path, { signal })).pipeThrough(
      d instanceof TransformStream ? d : verifyStream({ digest: d.checksum, size: d.size }, label),
    );
  const reread = local && before
    ? (start: number, end: number): Uint8Array => {
      const fd = openSync(local, "r");
      try {
        const now = fstatSync(fd);
        if (now.ino !== before.ino || now.size !== before.size || now.mtimeMs !== before.mtimeMs) {
          throw new InvalidDataError(`Cannot read ${label} again: it changed since it was read`);
        }
        const out = new Uint8Array(end - start);
        let off = 0;
        while (off < out.length) {
          const got = readSync(fd, out, off, out.length - off, start + off);
          if (got <= 0) break;
          off += got;
        }
        return out.subarray(0, off);
      } finally {
        closeSync(fd);
      }
    }
    : undefined;
  return indexOf(await readIndexDb(body, label, { reread }), layout);
}

/**
 * The bytes of the open local file `fd` (at `path`, as `before` found it): a big one read and
 * scanned ahead by a worker thread (`src/index/read_ahead.ts`), where one starts; else
 * {@link localChunks}.
 */
function localBody(
  fd: number,
  path: string,
  before: { ino: number; size: number; mtimeMs: number },
  d: Descriptor,
  label: string,
  signal?: AbortSignal,
): AsyncIterable<Uint8Array> | Iterable<Uint8Array> {
  const ahead = d.size >= READ_AHEAD_FROM
    ? IndexReadAhead.start(path, { digest: d.checksum, size: d.size, label, before, signal })
    : undefined;
  if (!ahead) return localChunks(fd, d, label, signal);
  closeSync(fd); // (the worker opens the file itself, and must find the same one)
  return ahead;
}

/**
 * An open local file's bytes, 1 MiB at a time in one reused buffer (each chunk is valid until
 * the next is asked for), checked as `verifyStream` checks a body; the file is closed at the end.
 */
function* localChunks(
  fd: number,
  d: Descriptor,
  label: string,
  signal?: AbortSignal,
): Generator<Uint8Array> {
  const check = digestChecker({ digest: d.checksum, size: d.size }, label);
  try {
    const buf = new Uint8Array(1 << 20);
    for (;;) {
      signal?.throwIfAborted();
      const got = readSync(fd, buf, 0, buf.length, null);
      if (got <= 0) break;
      const chunk = buf.subarray(0, got);
      check.update(chunk);
      yield chunk;
    }
    check.end();
  } finally {
    closeSync(fd);
  }
}

/** Entry references of a parsed database. */
function indexOf(db: IndexDb, layout: 2 | 3): ParsedIndex {
  const refs: EntryRef[] = db.records.map((r) => {
    const ref: EntryRef = {
      name: r.name,
      version: r.version,
      hash: r.hash,
      arch: r.arch,
      compiler: r.compiler,
      inBuildcache: r.inBuildcache,
      layout,
    };
    // (Set after, not spread in: a spread per record cost more than the rest.)
    if (r.installedAt !== undefined) ref.installedAt = r.installedAt;
    return ref;
  });
  return { refs, dbVersion: db.dbVersion, node: db.node };
}
