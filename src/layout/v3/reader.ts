/**
 * Reading a v3 build cache: the index (manifest, then its blob, verified), spec manifests
 * (clear-signed or not), spec and tarball blobs checked against the manifest's sha256 and
 * size, and the keys the mirror publishes.
 *
 * @module
 */
import { IntegrityError, InvalidDataError, NotFoundError, UnsupportedError } from "../../errors.ts";
import type { Verifier } from "../../sign/types.ts";
import type { SpecNode } from "../../spec/types.ts";
import type { ReadStore } from "../../storage/store.ts";
import { clearsignedBody, isClearsigned } from "../signed_metadata.ts";
import {
  descriptorOf,
  findSpecRecord,
  type Manifest,
  parseManifest,
  requireRecord,
} from "../manifest.ts";
import { isIndexMediaType, MEDIA_TYPES } from "../media_types.ts";
import { type ParsedIndex, readIndexBlob } from "../_index.ts";
import {
  checkRootHash,
  checkSignature,
  HashRefs,
  maybeGunzipText,
  readBlob,
  readText,
  signedEntryFields,
  tarballOpener,
} from "../_read.ts";
import { parseSpec } from "../_spec.ts";
import type { CacheReader, Descriptor, Entry, EntryRef, ReadOptions } from "../types.ts";
import {
  parseV3KeyManifestPath,
  parseV3SpecManifestPath,
  V3_KEY_DIR,
  V3_KEY_INDEX_MANIFEST,
  V3_SPEC_DIR,
  v3BlobPath,
  v3IndexManifestPath,
  v3KeyManifestPath,
  v3SpecManifestPath,
} from "./paths.ts";

/** Options of a V3Reader. */
export interface V3ReaderOptions {
  /** Verifies clear-signed manifests (required unless reads allow unsigned metadata). */
  verifier?: Verifier;
  /** Read this index view instead of the main index. */
  view?: string;
  /** Told when the index cannot be used and the manifests are listed instead. */
  onWarning?: (message: string) => void;
}

/** A reader of the v3 part of a mirror. */
export class V3Reader implements CacheReader {
  readonly version = 3 as const;
  readonly notes: string[] = [];
  #index?: Promise<ParsedIndex>;
  #refs = new HashRefs();

  constructor(readonly store: ReadStore, private opts: V3ReaderOptions = {}) {}

  /** Reads and parses a manifest, unwrapping (never verifying) a clear-signed one. */
  async #plainManifest(path: string, signal?: AbortSignal): Promise<Manifest> {
    let text = await readText(this.store, path, signal);
    if (isClearsigned(text)) text = clearsignedBody(text, path);
    return parseManifest(text, `"${path}"`);
  }

  /** The index, fetched once: refs from the index blob, else from listing spec manifests. */
  index(signal?: AbortSignal): Promise<ParsedIndex> {
    if (!this.#index) {
      this.#index = this.#loadIndex(signal);
      this.#index.catch(() => (this.#index = undefined));
    }
    return this.#index;
  }

  async #loadIndex(signal?: AbortSignal): Promise<ParsedIndex> {
    const mpath = v3IndexManifestPath(this.opts.view);
    let manifest: Manifest | undefined;
    try {
      manifest = await this.#plainManifest(mpath, signal);
    } catch (e) {
      if (!(e instanceof NotFoundError)) throw e;
    }
    // A damaged index (bad blob, missing blob, bad JSON) is not the end: the spec manifests
    // are listed instead, with one note, where the store can be listed.
    let broken: string | undefined;
    if (manifest) {
      try {
        const rec = manifest.data.find((r) => isIndexMediaType(r.mediaType));
        if (!rec) {
          throw new InvalidDataError(`Cannot read "${mpath}": it has no index record`);
        }
        const d = descriptorOf(rec, `"${mpath}"`);
        const path = v3BlobPath(d.checksum);
        return await readIndexBlob(this.store, path, d, 3, `index blob "${path}"`, signal);
      } catch (e) {
        const damaged = e instanceof IntegrityError || e instanceof InvalidDataError ||
          e instanceof NotFoundError;
        if (!damaged || signal?.aborted || this.opts.view || !this.store.list) throw e;
        broken = (e as Error).message;
      }
    }
    if (this.opts.view) {
      throw new NotFoundError(
        `Cannot find the index view "${this.opts.view}" of "${this.store.url.href}": "${mpath}" is missing`,
      );
    }
    if (!this.store.list) {
      throw new NotFoundError(
        `Cannot list the v3 mirror "${this.store.url.href}": it has no index ("${mpath}") and the store cannot be listed`,
      );
    }
    if (broken) {
      const w = `the index of "${this.store.url.href}" cannot be used (${broken}): entries ` +
        `found by listing spec manifests; "spackle update-index" rebuilds it`;
      this.notes.push(w);
      this.opts.onWarning?.(w);
    } else {
      this.notes.push(`v3 part has no index ("${mpath}"): entries found by listing manifests`);
    }
    const refs: EntryRef[] = [];
    for await (const p of this.store.list(V3_SPEC_DIR, { signal })) {
      const n = parseV3SpecManifestPath(p);
      if (n) refs.push({ ...n, inBuildcache: true, layout: 3 });
    }
    refs.sort((a, b) => a.name.localeCompare(b.name) || a.version.localeCompare(b.version));
    return { refs, node: () => undefined, dbVersion: "" };
  }

  async *list(opts?: { signal?: AbortSignal }): AsyncIterable<EntryRef> {
    yield* (await this.index(opts?.signal)).refs;
  }

  /** The entries of `list`, as one array. */
  async refs(opts?: { signal?: AbortSignal }): Promise<readonly EntryRef[]> {
    return (await this.index(opts?.signal)).refs;
  }

  /** The index node of a hash (none when the mirror has no index). */
  async node(hash: string, opts?: { signal?: AbortSignal }): Promise<SpecNode | undefined> {
    return (await this.index(opts?.signal)).node(hash);
  }

  #listed?: Promise<Map<string, EntryRef>>;

  /** Spec manifests found by listing the store, by hash (listed once). */
  #listing(signal?: AbortSignal): Promise<Map<string, EntryRef>> {
    if (!this.#listed) {
      this.#listed = (async () => {
        const out = new Map<string, EntryRef>();
        if (!this.store.list) return out;
        for await (const p of this.store.list(V3_SPEC_DIR, { signal })) {
          const n = parseV3SpecManifestPath(p);
          if (n) out.set(n.hash, { ...n, inBuildcache: true, layout: 3 });
        }
        return out;
      })();
      this.#listed.catch(() => (this.#listed = undefined));
    }
    return this.#listed;
  }

  /**
   * The reference of a full hash: from the index, else (an entry pushed without an index
   * update) from the store listing. NotFoundError when the mirror lacks it.
   */
  async ref(hash: string, opts?: { signal?: AbortSignal }): Promise<EntryRef> {
    const signal = opts?.signal;
    const ref = await this.#refs.find(
      hash,
      () => this.index(signal),
      async () => this.store.list ? (await this.#listing(signal)).get(hash) : undefined,
      (r) =>
        this.notes.push(`${r.name}@${r.version}/${hash} is in the mirror but not in its index`),
    );
    if (!ref) {
      throw new NotFoundError(
        `Cannot find spec "${hash}" in the v3 mirror "${this.store.url.href}"`,
      );
    }
    return ref;
  }

  async entry(hash: string, opts: ReadOptions = {}): Promise<Entry> {
    const ref = await this.ref(hash, opts);
    const what = `${ref.name}@${ref.version}/${hash}`;
    if (!ref.inBuildcache) {
      throw new NotFoundError(
        `Cannot fetch ${what}: the index lists it but not as in the build cache (external or build-only)`,
      );
    }
    const path = v3SpecManifestPath(ref.name, ref.version, hash);
    let text: string;
    try {
      text = await readText(this.store, path, opts.signal);
    } catch (e) {
      if (e instanceof NotFoundError) {
        throw new NotFoundError(`Cannot fetch ${what}: its manifest "${path}" is missing`, {
          cause: e,
        });
      }
      throw e;
    }
    const sig = await checkSignature(text, what, opts, this.opts.verifier);
    const manifest = parseManifest(sig.body, `manifest "${path}"`);
    const tarRec = requireRecord(manifest, MEDIA_TYPES.tarball, `manifest "${path}"`);
    const specRec = findSpecRecord(manifest.data);
    if (!specRec) {
      throw new NotFoundError(`Cannot find a spec record in manifest "${path}"`);
    }
    const tarball = descriptorOf(tarRec, `manifest "${path}"`);
    const specD = descriptorOf(specRec, `manifest "${path}"`);
    const specPath = v3BlobPath(specD.checksum);
    const specBytes = await readBlob(
      this.store,
      specPath,
      specD,
      `spec blob "${specPath}" of ${what}`,
      opts.signal,
    );
    const label = `spec blob "${specPath}" of ${what}`;
    let doc: unknown;
    try {
      doc = JSON.parse(maybeGunzipText(specBytes, label));
    } catch (e) {
      throw new InvalidDataError(`Cannot parse ${label}: ${(e as Error).message}`, { cause: e });
    }
    const spec = await parseSpec(doc, label);
    checkRootHash(spec.root, hash, label);
    if ((spec.buildcacheLayoutVersion ?? 0) > 3) {
      throw new UnsupportedError(
        `Cannot use ${what}: its ${label} has buildcache_layout_version ${spec.buildcacheLayoutVersion}, newer than the 3 spackle reads`,
      );
    }
    const tarballPath = v3BlobPath(tarball.checksum);
    const store = this.store;
    return {
      ...signedEntryFields(ref, spec, sig, opts),
      tarball,
      tarballPath,
      metadataPath: path,
      metadataText: text,
      specBlob: { descriptor: specD, path: specPath },
      openTarball: tarballOpener(
        store.read.bind(store),
        tarballPath,
        tarball,
        `tarball "${tarballPath}" of ${what}`,
      ),
    };
  }

  async keys(opts?: { signal?: AbortSignal }): Promise<{ fingerprint: string; armored: string }[]> {
    const signal = opts?.signal;
    let fprs: string[] | undefined;
    try {
      const m = await this.#plainManifest(V3_KEY_INDEX_MANIFEST, signal);
      const d = descriptorOf(
        requireRecord(m, MEDIA_TYPES.keyIndex, `"${V3_KEY_INDEX_MANIFEST}"`),
        `"${V3_KEY_INDEX_MANIFEST}"`,
      );
      const path = v3BlobPath(d.checksum);
      const doc = JSON.parse(
        new TextDecoder().decode(
          await readBlob(this.store, path, d, `key index "${path}"`, signal),
        ),
      ) as { keys?: Record<string, unknown> };
      fprs = Object.keys(doc.keys ?? {});
    } catch (e) {
      if (!(e instanceof NotFoundError)) throw e;
    }
    if (!fprs) {
      if (!this.store.list) return [];
      fprs = [];
      for await (const p of this.store.list(V3_KEY_DIR, { signal })) {
        const f = parseV3KeyManifestPath(p);
        if (f) fprs.push(f);
      }
      fprs.sort();
    }
    const out: { fingerprint: string; armored: string }[] = [];
    for (const fingerprint of fprs) {
      const mpath = v3KeyManifestPath(fingerprint);
      let m: Manifest;
      try {
        m = await this.#plainManifest(mpath, signal);
      } catch (e) {
        if (e instanceof NotFoundError) {
          this.notes.push(`key index lists ${fingerprint} but "${mpath}" is missing`);
          continue;
        }
        throw e;
      }
      const d: Descriptor = descriptorOf(
        requireRecord(m, MEDIA_TYPES.key, `"${mpath}"`),
        `"${mpath}"`,
      );
      const path = v3BlobPath(d.checksum);
      const bytes = await readBlob(this.store, path, d, `key blob "${path}"`, signal);
      out.push({ fingerprint, armored: new TextDecoder().decode(bytes) });
    }
    return out;
  }
}
