/**
 * An in-memory store, for tests and for building mirrors in memory.
 *
 * @module
 */
import { NotFoundError } from "../errors.ts";
import { collect, streamOf } from "../core/streams.ts";
import type { Store, StoreStat, WriteOptions } from "./store.ts";

/** A Store that keeps objects in a Map. */
export class MemoryStore implements Store {
  readonly url: URL;
  readonly objects = new Map<string, Uint8Array>();
  constructor(url = "memory://store/") {
    this.url = new URL(url.endsWith("/") ? url : url + "/");
  }
  stat(path: string): Promise<StoreStat | undefined> {
    const o = this.objects.get(path);
    return Promise.resolve(o ? { size: o.byteLength } : undefined);
  }
  read(path: string): Promise<ReadableStream<Uint8Array>> {
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
    _opts?: WriteOptions,
  ): Promise<void> {
    const bytes = body instanceof Uint8Array ? body.slice() : await collect(body);
    this.objects.set(path, bytes);
  }
  delete(path: string): Promise<void> {
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
