/**
 * Bundles: one uncompressed tar file holding a whole mirror (its paths as member names), read
 * in place without unpacking. A bundle is a read-only store: the members' offsets are found by
 * reading the tar headers once, and each read is a byte range of the file. Writing a bundle is
 * streaming a tar of `(path, bytes)` pairs to a temporary file renamed into place at the end.
 *
 * @module
 */
import { createReadStream } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { NotFoundError, UsageError } from "../errors.ts";
import { indexTarFile, type TarWriteEntry, writeTar } from "../core/tar.ts";
import { toWebStream } from "../core/streams.ts";
import { writeFileAtomic } from "../core/atomic_file.ts";
import { fsError } from "../core/fs_errors.ts";
import { checkStorePath } from "./path.ts";
import type { ReadStore, StoreCallOptions, StoreStat } from "./store.ts";

/** The first member of every bundle: marks the file as a spackle bundle. */
export const BUNDLE_MARKER = "spackle-bundle.json";

/** A read-only store over a bundle file. */
export class BundleStore implements ReadStore {
  readonly url: URL;
  readonly path: string;
  private members: Map<string, { offset: number; size: number }>;

  private constructor(path: string, members: Map<string, { offset: number; size: number }>) {
    this.path = path;
    this.url = new URL(pathToFileURL(path).href + "/");
    this.members = members;
  }

  /** Opens a bundle file; UsageError when the file is not a bundle. */
  static open(path: string): BundleStore {
    const abs = resolve(path);
    const members = new Map<string, { offset: number; size: number }>();
    let first: string | undefined;
    try {
      for (const e of indexTarFile(abs)) {
        first ??= e.header.name;
        if (e.header.type !== "file") continue;
        members.set(e.header.name, { offset: e.offset, size: e.header.size });
      }
    } catch (e) {
      if (first !== undefined) throw e; // a bundle damaged after its start
      throw new UsageError(
        `Cannot open "${path}" as a mirror: it is a plain file, not a mirror directory or a ` +
          `spackle bundle (${(e as Error).message}); give the mirror's directory or URL`,
      );
    }
    if (first !== BUNDLE_MARKER) {
      throw new UsageError(
        `"${path}" is a tar file but not a spackle bundle (it does not start with ${BUNDLE_MARKER})`,
      );
    }
    return new BundleStore(abs, members);
  }

  stat(path: string, opts?: StoreCallOptions): Promise<StoreStat | undefined> {
    const m = this.member(path, opts);
    if (m instanceof Error) return Promise.reject(m);
    return Promise.resolve(m ? { size: m.size } : undefined);
  }

  read(path: string, opts?: StoreCallOptions): Promise<ReadableStream<Uint8Array>> {
    const m = this.member(path, opts);
    if (m instanceof Error) return Promise.reject(m);
    if (!m) {
      return Promise.reject(new NotFoundError(`"${path}" is not in bundle "${this.path}"`));
    }
    if (m.size === 0) return Promise.resolve(new ReadableStream({ start: (c) => c.close() }));
    return Promise.resolve(toWebStream(
      createReadStream(this.path, {
        start: m.offset,
        end: m.offset + m.size - 1,
        highWaterMark: 1 << 20,
      }),
    ));
  }

  /** The member at `path` (undefined when absent), or the error of a bad path or an abort. */
  private member(
    path: string,
    opts?: StoreCallOptions,
  ): { offset: number; size: number } | undefined | Error {
    try {
      opts?.signal?.throwIfAborted();
      checkStorePath(path);
    } catch (e) {
      return e as Error;
    }
    return this.members.get(path);
  }

  async *list(prefix: string, _opts?: StoreCallOptions): AsyncIterable<string> {
    for (const name of this.members.keys()) {
      if (name !== BUNDLE_MARKER && name.startsWith(prefix)) yield name;
    }
  }
}

/** One object to put in a bundle. */
export interface BundleItem {
  path: string;
  size: number;
  open(): Promise<ReadableStream<Uint8Array>> | ReadableStream<Uint8Array>;
}

/**
 * Writes a bundle file from `items` (paths must be unique and relative), atomically: the tar
 * goes to a temporary name beside `out` and is renamed into place only when complete.
 */
export async function writeBundle(
  out: string,
  items: AsyncIterable<BundleItem> | Iterable<BundleItem>,
  meta: Record<string, unknown> = {},
): Promise<{ path: string; count: number }> {
  const target = resolve(out);
  let count = 0;
  const seen = new Set<string>();
  async function* entries(): AsyncGenerator<TarWriteEntry> {
    const marker = new TextEncoder().encode(
      JSON.stringify({ format: "spackle-bundle", version: 1, ...meta }, null, 2) + "\n",
    );
    yield { header: { name: BUNDLE_MARKER, type: "file", mode: 0o644 }, body: marker };
    for await (const it of items as AsyncIterable<BundleItem>) {
      if (it.path.startsWith("/") || it.path.split("/").includes("..")) {
        throw new UsageError(`Cannot bundle "${it.path}": paths must be relative`);
      }
      if (seen.has(it.path)) continue;
      seen.add(it.path);
      count++;
      yield {
        header: { name: it.path, type: "file", mode: 0o644, size: it.size },
        body: await it.open(),
      };
    }
  }
  try {
    // `.spackle-bundle-<host>-<pid>-<random>`: prune and the next bundle remove it once its
    // process is gone.
    await writeFileAtomic(target, writeTar(entries()), {
      mode: 0o644,
      sync: true,
      mkdir: false,
      tempPrefix: ".spackle-bundle-",
    });
  } catch (e) {
    throw fsError(e, target, "write the bundle");
  }
  return { path: target, count };
}
