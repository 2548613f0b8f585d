/**
 * An in-memory store, for tests and for building mirrors in memory.
 *
 * @module
 */
import { NotFoundError } from "../errors.ts";
import { collect, streamOf } from "../core/streams.ts";
import { checkStorePath } from "./path.ts";
import type { Store, StoreCallOptions, StoreStat, WriteOptions } from "./store.ts";

/** A Store that keeps objects in a Map. */
export class MemoryStore implements Store {
  readonly url: URL;
  readonly objects: Map<string, Uint8Array> = new Map();
  constructor(url = "memory://store/") {
    this.url = new URL(url.endsWith("/") ? url : url + "/");
  }
  stat(path: string, opts?: StoreCallOptions): Promise<StoreStat | undefined> {
    const refused = refusal(path, opts);
    if (refused) return refused;
    const o = this.objects.get(path);
    return Promise.resolve(o ? { size: o.byteLength } : undefined);
  }
  read(path: string, opts?: StoreCallOptions): Promise<ReadableStream<Uint8Array>> {
    const refused = refusal(path, opts);
    if (refused) return refused;
    const o = this.objects.get(path);
    if (!o) {
      return Promise.reject(new NotFoundError(`Cannot read "${path}": not found in ${this.url}`));
    }
    return Promise.resolve(streamOf(o));
  }
  async *list(prefix: string): AsyncIterable<string> {
    for (const k of [...this.objects.keys()].sort()) if (k.startsWith(prefix)) yield k;
  }
  async write(
    path: string,
    body: Uint8Array | ReadableStream<Uint8Array>,
    opts?: WriteOptions,
  ): Promise<void> {
    opts?.signal?.throwIfAborted();
    checkStorePath(path);
    const bytes = body instanceof Uint8Array ? new Uint8Array(body) : await collect(body);
    this.objects.set(path, bytes);
  }
  delete(path: string, opts?: StoreCallOptions): Promise<void> {
    const refused = refusal(path, opts);
    if (refused) return refused;
    this.objects.delete(path);
    return Promise.resolve();
  }
  copy(from: string, to: string): Promise<void> {
    const o = this.objects.get(from);
    if (!o) return Promise.reject(new NotFoundError(`Cannot copy "${from}": not found`));
    this.objects.set(to, o);
    return Promise.resolve();
  }
}

/** A rejected promise when the call is aborted or `path` is not a valid store path. */
function refusal(path: string, opts?: StoreCallOptions): Promise<never> | undefined {
  try {
    opts?.signal?.throwIfAborted();
    checkStorePath(path);
  } catch (e) {
    return Promise.reject(e);
  }
  return undefined;
}
