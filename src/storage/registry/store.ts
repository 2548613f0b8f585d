/**
 * A registry repository seen through the Store contract, for what is key/value in it: blobs
 * at `blobs/sha256/<hex>` (the OCI image-layout path; v3's `blobs/sha256/<xx>/<hex>` is
 * accepted too) and manifests at `manifests/<tag>`. Listing `manifests/` lists the tags.
 * Spack's image conventions (tags per spec, `index.spack`, configs) live in the OCI layout,
 * which reaches the registry through `client`.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { IntegrityError, NotFoundError, UsageError } from "../../errors.ts";
import type {
  ReadStore,
  Store,
  StoreCallOptions,
  StoreReadOptions,
  StoreStat,
  WriteOptions,
} from "../store.ts";
import { RegistryClient, type RegistryClientOptions } from "./client.ts";
import { ociUrl, parseOciUrl, type RepositoryRef } from "./reference.ts";

/** The digest a blob path names (`blobs/sha256/<hex>` or `blobs/sha256/<xx>/<hex>`). */
export function blobDigestOf(path: string): string | undefined {
  const m = /^blobs\/sha256\/(?:[0-9a-f]{2}\/)?([0-9a-f]{64})$/.exec(path);
  return m ? `sha256:${m[1]}` : undefined;
}

/** The store path of a blob digest (`sha256:<hex>` -> `blobs/sha256/<hex>`). */
export function blobPathOf(digest: string): string {
  return `blobs/${digest.replace(":", "/")}`;
}

/** Where a registry store lists tags: `manifests/<tag>`. */
export const MANIFEST_PREFIX = "manifests/";

/** The store path of a tag's manifest. */
export function manifestPathOf(tag: string): string {
  return MANIFEST_PREFIX + tag;
}

/** A registry repository as a Store. */
export class RegistryStore implements Store {
  readonly url: URL;
  readonly client: RegistryClient;
  /** Marks registry stores (layouts branch on this, not on the URL). */
  readonly registry = true as const;

  constructor(readonly ref: RepositoryRef, opts: RegistryClientOptions = {}) {
    this.url = new URL(ociUrl(ref) + "/");
    this.client = new RegistryClient(ref, opts);
  }

  /** Opens `oci://...` or `oci+http://...`. */
  static open(url: string | URL, opts: RegistryClientOptions = {}): RegistryStore {
    return new RegistryStore(parseOciUrl(url), opts);
  }

  #what(path: string): { blob?: string; tag?: string } {
    const blob = blobDigestOf(path);
    if (blob) return { blob };
    if (path.startsWith(MANIFEST_PREFIX) && !path.slice(MANIFEST_PREFIX.length).includes("/")) {
      return { tag: path.slice(MANIFEST_PREFIX.length) };
    }
    return {};
  }

  async stat(path: string, opts?: StoreCallOptions): Promise<StoreStat | undefined> {
    const w = this.#what(path);
    if (w.blob) {
      const size = await this.client.blobSize(w.blob, opts?.signal);
      return size === undefined ? undefined : { size };
    }
    if (w.tag) {
      const h = await this.client.headManifest(w.tag, opts?.signal);
      return h ? { size: h.size ?? 0, etag: h.digest } : undefined;
    }
    return undefined;
  }

  async read(path: string, opts?: StoreReadOptions): Promise<ReadableStream<Uint8Array>> {
    const w = this.#what(path);
    if (w.blob) return await this.client.getBlob(w.blob, { signal: opts?.signal });
    if (w.tag) {
      const m = await this.client.getManifest(w.tag, { signal: opts?.signal });
      opts?.onEtag?.(m.digest);
      return new ReadableStream({ start: (c) => (c.enqueue(m.bytes), c.close()) });
    }
    throw new NotFoundError(
      `Cannot read "${path}" from the registry ${this.client.display}: only blobs/sha256/<hex> and manifests/<tag> exist there`,
    );
  }

  async *list(prefix: string, opts?: StoreCallOptions): AsyncIterable<string> {
    if (!MANIFEST_PREFIX.startsWith(prefix) && !prefix.startsWith(MANIFEST_PREFIX)) return;
    try {
      for await (const t of this.client.tags({ signal: opts?.signal })) {
        const p = MANIFEST_PREFIX + t;
        if (p.startsWith(prefix)) yield p;
      }
    } catch (e) {
      // A repository nobody pushed to yet has no tags.
      if (!(e instanceof NotFoundError)) throw e;
    }
  }

  async write(
    path: string,
    body: Uint8Array | ReadableStream<Uint8Array>,
    opts?: WriteOptions,
  ): Promise<void> {
    const w = this.#what(path);
    if (w.blob) {
      const size = body instanceof Uint8Array ? body.byteLength : opts?.size;
      if (size === undefined) {
        throw new UsageError(`Cannot upload "${path}" to a registry without knowing its size`);
      }
      if (body instanceof Uint8Array) {
        const got = "sha256:" + createHash("sha256").update(body).digest("hex");
        if (got !== w.blob) {
          throw new IntegrityError(`Cannot upload blob "${w.blob}": the bytes are "${got}"`);
        }
      }
      let used = false;
      await this.client.uploadBlob(
        w.blob,
        size,
        body instanceof Uint8Array ? body : () => {
          if (used) throw new UsageError(`Cannot upload "${path}" twice from one stream`);
          used = true;
          return Promise.resolve(body);
        },
        { signal: opts?.signal, force: true },
      );
      return;
    }
    if (w.tag) {
      const bytes = body instanceof Uint8Array
        ? body
        : new Uint8Array(await new Response(body).arrayBuffer());
      let type = opts?.contentType;
      if (!type || type === "application/json") {
        try {
          type = (JSON.parse(new TextDecoder().decode(bytes)) as { mediaType?: string }).mediaType;
        } catch { /* below */ }
      }
      if (!type) throw new UsageError(`Cannot write manifest "${w.tag}": no media type`);
      await this.client.putManifest(w.tag, bytes, type, opts?.signal);
      return;
    }
    throw new UsageError(
      `Cannot write "${path}" to the registry ${this.client.display}: only blobs and manifests`,
    );
  }

  async delete(path: string, opts?: StoreCallOptions): Promise<void> {
    const w = this.#what(path);
    if (!w.tag) return; // blobs are garbage collected by the registry
    const h = await this.client.headManifest(w.tag, opts?.signal);
    if (!h?.digest) return;
    const res = await this.client.request(`manifests/${h.digest}`, {
      method: "DELETE",
      actions: "pull,push,delete",
      ok: [404],
      what: `delete manifest "${w.tag}"`,
      signal: opts?.signal,
    });
    await res.body?.cancel().catch(() => {});
  }
}

/** True when `s` is a registry repository. */
export function isRegistryStore(s: ReadStore): s is RegistryStore {
  return (s as Partial<RegistryStore>).registry === true;
}
