/**
 * Reading Spack's build caches in OCI registries (FORMAT.md 9.4): the index is the single
 * layer of the `index.spack` image; each spec is an image tagged
 * `{name}-{version}-{hash}.spack` whose config blob holds the spec (with
 * `buildcache_layout_version` and the tarball checksum) and whose last layer is the spec's
 * tarball. Config and index are checked against their digests; the tarball while it streams.
 * OCI caches are not signed (Spack never signs them), so entries are read unsigned.
 *
 * @module
 */
import { scalarText } from "../../core/json.ts";
import { InvalidDataError, NotFoundError, UnsupportedError } from "../../errors.ts";
import type { SpecNode } from "../../spec/types.ts";
import { INDEX_TYPES, MANIFEST_TYPES } from "../../storage/registry/client.ts";
import { ensureValidTag } from "../../storage/registry/reference.ts";
import { blobPathOf, type RegistryStore } from "../../storage/registry/store.ts";
import { type ParsedIndex, parseIndex } from "../_index.ts";
import { checkRootHash, HashRefs, tarballOpener } from "../_read.ts";
import { parseSpec } from "../_spec.ts";
import { MEDIA_TYPES } from "../media_types.ts";
import type { CacheReader, Descriptor, Entry, EntryRef, ReadOptions } from "../types.ts";

/** The tag of Spack's index image. */
export const OCI_INDEX_TAG = "index.spack";

/** The tag Spack gives a spec's image. */
export function ociSpecTag(name: string, version: string, hash: string): string {
  return ensureValidTag(`${name}-${version}-${hash}.spack`);
}

/** True for tags that are (likely) specs, as Spack tells them apart. */
export function isSpecTag(tag: string): boolean {
  return tag.endsWith(".spack") && tag !== OCI_INDEX_TAG;
}

/** Name, version and hash of a spec tag (the version is the last "-" field: a guess). */
export function parseSpecTag(
  tag: string,
): { name: string; version: string; hash: string } | undefined {
  const m = /^(.+)-([^-]+)-([a-z2-7]{32})\.spack$/.exec(tag);
  return m ? { name: m[1], version: m[2], hash: m[3] } : undefined;
}

/** An image manifest's fields spackle reads. */
export interface OciManifestJson {
  schemaVersion?: number;
  mediaType?: string;
  config: { mediaType: string; digest: string; size: number };
  layers: { mediaType: string; digest: string; size: number }[];
  annotations?: Record<string, string>;
}

/** Parses and checks an image manifest's shape. */
export function parseOciManifest(bytes: Uint8Array, label: string): OciManifestJson {
  let doc: OciManifestJson;
  try {
    doc = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new InvalidDataError(`Cannot parse ${label}: ${(e as Error).message}`, { cause: e });
  }
  const okDesc = (d: unknown) =>
    !!d && typeof d === "object" &&
    /^sha256:[0-9a-f]{64}$/.test(scalarText((d as { digest?: unknown }).digest)) &&
    Number.isSafeInteger((d as { size?: unknown }).size);
  if (
    !doc || typeof doc !== "object" || !okDesc(doc.config) || !Array.isArray(doc.layers) ||
    !doc.layers.every(okDesc)
  ) {
    if (doc && INDEX_TYPES.includes(doc.mediaType as typeof INDEX_TYPES[number])) {
      throw new UnsupportedError(
        `Cannot read ${label}: it is a multi-platform image index, not a Spack image`,
      );
    }
    throw new InvalidDataError(
      `Cannot read ${label}: not an image manifest (config and layers with sha256 digests and sizes)`,
    );
  }
  return doc;
}

function hexOf(digest: string): string {
  return digest.slice("sha256:".length);
}

/** A descriptor of a registry blob. */
export function ociDescriptor(
  d: { digest: string; size: number },
  mediaType: string,
  compression: "gzip" | "none",
): Descriptor {
  return {
    mediaType,
    checksum: hexOf(d.digest),
    checksumAlgorithm: "sha256",
    size: d.size,
    compression,
  };
}

/** A reader of a Spack build cache in one registry repository. */
export class OciReader implements CacheReader {
  readonly version = 3 as const;
  readonly kind = "oci" as const;
  readonly notes: string[] = [];
  #index?: Promise<ParsedIndex>;
  #refs = new HashRefs();
  #tagged?: Promise<Map<string, EntryRef>>;

  constructor(readonly store: RegistryStore) {}

  /** The index, fetched once: from `index.spack`, else from the tags. */
  index(signal?: AbortSignal): Promise<ParsedIndex> {
    if (!this.#index) {
      this.#index = this.#loadIndex(signal);
      this.#index.catch(() => (this.#index = undefined));
    }
    return this.#index;
  }

  async #loadIndex(signal?: AbortSignal): Promise<ParsedIndex> {
    const client = this.store.client;
    let manifest: OciManifestJson | undefined;
    try {
      const m = await client.getManifest(OCI_INDEX_TAG, { accept: MANIFEST_TYPES, signal });
      manifest = parseOciManifest(
        m.bytes,
        `index manifest "${OCI_INDEX_TAG}" of ${client.display}`,
      );
    } catch (e) {
      if (!(e instanceof NotFoundError) || /does not exist on/.test((e as Error).message)) throw e;
    }
    if (manifest) {
      const layer = manifest.layers[0];
      if (!layer) {
        throw new InvalidDataError(
          `Cannot read the index of ${client.display}: "${OCI_INDEX_TAG}" has no layer`,
        );
      }
      const label = `index blob "${layer.digest}" of ${client.display}`;
      const bytes = await client.readBlobBytes(layer.digest, layer.size, signal);
      return parseIndex(new TextDecoder().decode(bytes), 3, label);
    }
    this.notes.push(`no "${OCI_INDEX_TAG}" index: entries found from the tags`);
    const refs = [...(await this.#tags(signal)).values()];
    refs.sort((a, b) => a.name.localeCompare(b.name) || a.version.localeCompare(b.version));
    return { refs, node: () => undefined, dbVersion: "" };
  }

  /** Spec tags by hash (listed once). */
  #tags(signal?: AbortSignal): Promise<Map<string, EntryRef>> {
    if (!this.#tagged) {
      this.#tagged = (async () => {
        const out = new Map<string, EntryRef>();
        // A repository that does not exist is an error here (NotFoundError naming it).
        for await (const tag of this.store.client.tags({ signal })) {
          if (!isSpecTag(tag)) continue;
          const n = parseSpecTag(tag);
          if (n) out.set(n.hash, { ...n, inBuildcache: true, layout: 3 });
        }
        return out;
      })();
      this.#tagged.catch(() => (this.#tagged = undefined));
    }
    return this.#tagged;
  }

  async *list(opts?: { signal?: AbortSignal }): AsyncIterable<EntryRef> {
    yield* (await this.index(opts?.signal)).refs;
  }

  /** The entries of `list`, as one array. */
  async refs(opts?: { signal?: AbortSignal }): Promise<readonly EntryRef[]> {
    return (await this.index(opts?.signal)).refs;
  }

  async node(hash: string, opts?: { signal?: AbortSignal }): Promise<SpecNode | undefined> {
    return (await this.index(opts?.signal)).node(hash);
  }

  /** The reference of a full hash: the index, else the tags. */
  async ref(hash: string, opts?: { signal?: AbortSignal }): Promise<EntryRef> {
    const signal = opts?.signal;
    const ref = await this.#refs.find(
      hash,
      () => this.index(signal),
      async () => (await this.#tags(signal)).get(hash),
      (r) => this.notes.push(`${r.name}@${r.version}/${hash} is tagged but not in the index`),
    );
    if (!ref) {
      throw new NotFoundError(
        `Cannot find spec "${hash}" in the registry ${this.store.client.display}`,
      );
    }
    return ref;
  }

  async entry(hash: string, opts: ReadOptions = {}): Promise<Entry> {
    const client = this.store.client;
    const ref = await this.ref(hash, opts);
    const what = `${ref.name}@${ref.version}/${hash}`;
    if (!ref.inBuildcache) {
      throw new NotFoundError(
        `Cannot fetch ${what}: the index lists it but not as in the build cache (external or build-only)`,
      );
    }
    let tag = ociSpecTag(ref.name, ref.version, hash);
    let fetched;
    try {
      fetched = await client.getManifest(tag, { accept: MANIFEST_TYPES, signal: opts.signal });
    } catch (e) {
      if (!(e instanceof NotFoundError)) throw e;
      // The index's version spelling may differ from the tag's: find the tag by hash.
      const t = [...(await this.#tags(opts.signal)).values()].find((r) => r.hash === hash);
      const other = t ? ociSpecTag(t.name, t.version, hash) : undefined;
      if (!other || other === tag) {
        throw new NotFoundError(
          `Cannot fetch ${what}: its image "${tag}" is missing from ${client.display}`,
          {
            cause: e,
          },
        );
      }
      tag = other;
      fetched = await client.getManifest(tag, { accept: MANIFEST_TYPES, signal: opts.signal });
    }
    const mlabel = `manifest "${tag}" of ${client.display}`;
    const manifest = parseOciManifest(fetched.bytes, mlabel);
    const last = manifest.layers.at(-1);
    if (!last) throw new InvalidDataError(`Cannot read ${mlabel}: it has no layers`);
    const clabel = `config blob "${manifest.config.digest}" of ${what}`;
    const configBytes = await client.readBlobBytes(
      manifest.config.digest,
      manifest.config.size,
      opts.signal,
    );
    let doc: Record<string, unknown>;
    try {
      doc = JSON.parse(new TextDecoder().decode(configBytes));
    } catch (e) {
      throw new InvalidDataError(`Cannot parse ${clabel}: ${(e as Error).message}`, { cause: e });
    }
    if (!doc || typeof doc !== "object" || !("spec" in doc)) {
      throw new InvalidDataError(`Cannot read ${clabel}: it holds no "spec" (not a Spack image)`);
    }
    const spec = await parseSpec(doc, clabel);
    checkRootHash(spec.root, hash, clabel);
    if ((spec.buildcacheLayoutVersion ?? 0) > 3) {
      throw new UnsupportedError(
        `Cannot use ${what}: its ${clabel} has buildcache_layout_version ${spec.buildcacheLayoutVersion}, newer than the 3 spackle reads`,
      );
    }
    const sum = (doc.binary_cache_checksum as { hash?: unknown } | undefined)?.hash;
    if (typeof sum === "string" && sum !== hexOf(last.digest)) {
      throw new InvalidDataError(
        `Cannot use ${what}: its config names tarball sha256 "${sum}" but the last layer is "${last.digest}"`,
      );
    }
    const tarball = ociDescriptor(last, MEDIA_TYPES.tarball, "gzip");
    const tarballPath = blobPathOf(last.digest);
    const specD = ociDescriptor(manifest.config, manifest.config.mediaType, "none");
    return {
      ref,
      spec,
      signed: false,
      tarball,
      tarballPath,
      metadataPath: `manifests/${tag}`,
      metadataText: new TextDecoder().decode(fetched.bytes),
      specBlob: { descriptor: specD, path: blobPathOf(manifest.config.digest) },
      openTarball: tarballOpener(
        client.getBlob.bind(client),
        last.digest,
        tarball,
        `layer "${last.digest}" of ${what}`,
      ),
    };
  }

  /** OCI build caches publish no keys (they are never signed). */
  keys(): Promise<{ fingerprint: string; armored: string }[]> {
    return Promise.resolve([]);
  }
}
