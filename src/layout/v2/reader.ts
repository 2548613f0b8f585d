/**
 * Reading a v2 (`build_cache/`) build cache: `index.json`, `.spec.json` / `.spec.json.sig`
 * spec files, `.spack` tarballs checked against `binary_cache_checksum`, and `_pgp/` keys.
 * Legacy entries (`.spec.yaml`, layout-0 tarball-in-tarball) are recognised and reported.
 *
 * @module
 */
import { v2IndexHashOf } from "./inspect.ts";
import { InvalidDataError, NotFoundError, SignatureError, UnsupportedError } from "../../errors.ts";
import type { Verifier } from "../../sign/types.ts";
import type { SpecNode } from "../../spec/types.ts";
import type { ReadStore } from "../../storage/store.ts";
import { digestStream } from "../../core/digest.ts";
import { isGzip } from "../../core/gzip.ts";
import { clearsignedBody, isClearsigned } from "../signed_metadata.ts";
import { type ParsedIndex, readIndexBlob } from "../_index.ts";
import {
  checkRootHash,
  checkSignature,
  HashRefs,
  maybeGunzipText,
  readBytesIfExists,
  readText,
  signedEntryFields,
  tarballOpener,
} from "../_read.ts";
import { parseSpec } from "../_spec.ts";
import { archString, namingCompiler, nodeFromDict } from "../../spec/node.ts";
import type { CacheReader, Descriptor, Entry, EntryRef, ReadOptions } from "../types.ts";
import { MEDIA_TYPES } from "../media_types.ts";
import {
  parseV2SpecPath,
  V2_DIR,
  V2_INDEX,
  V2_INDEX_HASH,
  V2_KEY_INDEX,
  v2KeyPath,
  type V2Names,
  v2SpecPath,
  v2Stem,
  v2TarballPath,
} from "./paths.ts";

/** Options of a V2Reader. */
export interface V2ReaderOptions {
  /** Verifies `.spec.json.sig` files (required unless reads allow unsigned metadata). */
  verifier?: Verifier;
}

/** Why legacy entries cannot be installed. */
export const LEGACY_YAML_REASON =
  'its metadata is a ".spec.yaml" file (build cache layout 0, Spack 0.17 or older); Spack stopped reading these in 0.20';
/** Why layout-0 entries cannot be installed. */
export const LEGACY_NESTED_REASON =
  'its ".spack" file is build cache layout 0 (a tarball inside a tarball, Spack 0.17 or older), which Spack 1.x cannot install either';

interface Listing {
  /** Metadata files by hash (`.sig` preferred over `.json` over `.yaml`). */
  meta: Map<string, { path: string; kind: "json" | "sig" | "yaml"; stem: string }>;
  /** `.spack` files by base name. */
  tarballs: Map<string, string>;
}

const KIND_RANK = { sig: 0, json: 1, yaml: 2 } as const;

/** A reader of the v2 part of a mirror. */
export class V2Reader implements CacheReader {
  readonly version = 2 as const;
  readonly notes: string[] = [];
  #index?: Promise<ParsedIndex>;
  #listing?: Promise<Listing>;
  #refs = new HashRefs();

  constructor(readonly store: ReadStore, private opts: V2ReaderOptions = {}) {}

  #list(signal?: AbortSignal): Promise<Listing> {
    if (!this.#listing) {
      this.#listing = (async () => {
        if (!this.store.list) {
          throw new UnsupportedError(
            `Cannot list "${this.store.url.href}${V2_DIR}": the store cannot be listed`,
          );
        }
        const meta: Listing["meta"] = new Map();
        const tarballs = new Map<string, string>();
        for await (const p of this.store.list(V2_DIR, { signal })) {
          if (p.endsWith(".spack")) {
            tarballs.set(p.slice(p.lastIndexOf("/") + 1), p);
            continue;
          }
          const m = parseV2SpecPath(p);
          if (!m) continue;
          const old = meta.get(m.hash);
          if (!old || KIND_RANK[m.kind] < KIND_RANK[old.kind]) meta.set(m.hash, { path: p, ...m });
        }
        return { meta, tarballs };
      })();
      this.#listing.catch(() => (this.#listing = undefined));
    }
    return this.#listing;
  }

  /** The index, fetched once; without `index.json`, built by reading every spec file. */
  index(signal?: AbortSignal): Promise<ParsedIndex> {
    if (!this.#index) {
      this.#index = this.#loadIndex(signal);
      this.#index.catch(() => (this.#index = undefined));
    }
    return this.#index;
  }

  async #loadIndex(signal?: AbortSignal): Promise<ParsedIndex> {
    // Streamed, a batch of records at a time (as the v3 index blob), its sha256 taken on the way.
    const { stream, result } = digestStream();
    let parsed: ParsedIndex | undefined;
    try {
      parsed = await readIndexBlob(this.store, V2_INDEX, stream, 2, `"${V2_INDEX}"`, signal);
    } catch (e) {
      if (!(e instanceof NotFoundError)) throw e;
    }
    if (parsed) {
      // Spack never compares the two (races are tolerated); a difference is worth a note.
      const hashFile = await readBytesIfExists(this.store, V2_INDEX_HASH, signal);
      if (hashFile) {
        const want = v2IndexHashOf(new TextDecoder().decode(hashFile));
        const got = (await result).digest.hex;
        if (want !== got) {
          this.notes.push(
            `"${V2_INDEX_HASH}" says "${want}" but "${V2_INDEX}" has sha256 "${got}" (stale hash file)`,
          );
        }
      }
      return parsed;
    }
    if (!this.store.list) {
      throw new NotFoundError(
        `Cannot list the v2 mirror "${this.store.url.href}": it has no "${V2_INDEX}" and the store cannot be listed`,
      );
    }
    this.notes.push(`v2 part has no index ("${V2_INDEX}"): entries found by reading spec files`);
    const { meta } = await this.#list(signal);
    const refs: EntryRef[] = [];
    const nodes = new Map<string, SpecNode>();
    for (const [hash, m] of meta) {
      const node = await this.#peekNode(m.path, m.kind, hash, signal);
      if (!node) continue;
      nodes.set(hash, node);
      refs.push(specFileRef(node, hash));
    }
    refs.sort((a, b) => a.name.localeCompare(b.name) || a.version.localeCompare(b.version));
    return { refs, node: (h) => nodes.get(h), dbVersion: "" };
  }

  /** The root node of a spec file read without signature checks (for listing only). */
  async #peekNode(
    path: string,
    kind: "json" | "sig" | "yaml",
    hash: string,
    signal?: AbortSignal,
  ): Promise<SpecNode | undefined> {
    try {
      let text = maybeGunzipText(await this.#bytes(path, signal), `"${path}"`);
      if (kind === "yaml") {
        const { parse } = await import("yaml");
        const doc = parse(text, { logLevel: "error" }) as {
          spec?: Record<string, Record<string, unknown>>[];
        };
        const first = doc.spec?.[0];
        const [name, body] = Object.entries(first ?? {})[0] ?? [];
        if (!name) return undefined;
        return nodeFromDict({ ...body, name, hash });
      }
      if (isClearsigned(text)) text = clearsignedBody(text, path);
      const spec = await parseSpec(JSON.parse(text), `"${path}"`);
      return spec.nodes.get(spec.root);
    } catch (e) {
      this.notes.push(`cannot read "${path}": ${(e as Error).message}`);
      return undefined;
    }
  }

  async #bytes(path: string, signal?: AbortSignal): Promise<Uint8Array> {
    const b = await readBytesIfExists(this.store, path, signal);
    if (!b) throw new NotFoundError(`Cannot read "${path}": it does not exist`);
    return b;
  }

  async *list(opts?: { signal?: AbortSignal }): AsyncIterable<EntryRef> {
    yield* (await this.index(opts?.signal)).refs;
  }

  /** The entries of `list`, as one array. */
  async refs(opts?: { signal?: AbortSignal }): Promise<readonly EntryRef[]> {
    return (await this.index(opts?.signal)).refs;
  }

  /** The index node of a hash. */
  async node(hash: string, opts?: { signal?: AbortSignal }): Promise<SpecNode | undefined> {
    return (await this.index(opts?.signal)).node(hash);
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
      () => this.#unindexedRef(hash, signal),
      (r) =>
        this.notes.push(`${r.name}@${r.version}/${hash} is in the mirror but not in its index`),
    );
    if (!ref) {
      throw new NotFoundError(
        `Cannot find spec "${hash}" in the v2 mirror "${this.store.url.href}"`,
      );
    }
    return ref;
  }

  /** Pushed without an index update: the spec file may be there all the same. */
  async #unindexedRef(hash: string, signal?: AbortSignal): Promise<EntryRef | undefined> {
    if (!this.store.list) return undefined;
    const m = (await this.#list(signal)).meta.get(hash);
    const node = m && await this.#peekNode(m.path, m.kind, hash, signal);
    return node && specFileRef(node, hash);
  }

  /** Where the metadata of `ref` is: computed from the index, else found by listing. */
  async #locate(
    ref: EntryRef,
    signal?: AbortSignal,
  ): Promise<{ path: string; kind: "json" | "sig" | "yaml" } | undefined> {
    const idx = await this.index(signal);
    const node = idx.node(ref.hash);
    if (node?.arch && idx.dbVersion !== "") {
      const names = v2Names(node, (h) => idx.node(h));
      for (const signed of [true, false]) {
        const p = v2SpecPath(names, signed);
        if (await this.store.stat(p, { signal })) return { path: p, kind: signed ? "sig" : "json" };
      }
    }
    if (!this.store.list) return undefined;
    return (await this.#list(signal)).meta.get(ref.hash);
  }

  async entry(hash: string, opts: ReadOptions = {}): Promise<Entry> {
    const ref = await this.ref(hash, opts);
    const what = `${ref.name}@${ref.version}/${hash}`;
    if (!ref.inBuildcache) {
      throw new NotFoundError(
        `Cannot fetch ${what}: the index lists it but not as in the build cache (external or build-only)`,
      );
    }
    const loc = await this.#locate(ref, opts.signal);
    if (!loc) throw new NotFoundError(`Cannot fetch ${what}: its spec file is missing`);
    if (loc.kind === "yaml") {
      throw new UnsupportedError(`Cannot use ${what} ("${loc.path}"): ${LEGACY_YAML_REASON}`);
    }
    const required = (opts.requireSignature ?? true) && !opts.inspect;
    if (required && loc.kind === "json") {
      throw new SignatureError(
        `Cannot use ${what}: it does not have signed metadata ("${loc.path}") and signatures are required (use --allow-unsigned to read it anyway)`,
      );
    }
    const rawBytes = await this.#bytes(loc.path, opts.signal);
    const raw = isGzip(rawBytes) ? undefined : new TextDecoder().decode(rawBytes);
    const text = maybeGunzipText(rawBytes, `"${loc.path}"`);
    const sig = await checkSignature(text, what, opts, this.opts.verifier);
    let doc: Record<string, unknown>;
    try {
      doc = JSON.parse(sig.body);
    } catch (e) {
      throw new InvalidDataError(`Cannot parse "${loc.path}": ${(e as Error).message}`, {
        cause: e,
      });
    }
    const spec = await parseSpec(doc, `"${loc.path}"`);
    checkRootHash(spec.root, hash, `"${loc.path}"`);
    const layoutVersion = typeof doc.buildcache_layout_version === "number"
      ? doc.buildcache_layout_version
      : 0;
    if (layoutVersion > 2) {
      throw new UnsupportedError(
        `Cannot use ${what}: "${loc.path}" has buildcache_layout_version ${layoutVersion}, v2 mirrors hold at most 2`,
      );
    }
    const sum = doc.binary_cache_checksum as
      | { hash_algorithm?: unknown; hash?: unknown }
      | undefined;
    if (!sum || sum.hash_algorithm !== "sha256" || typeof sum.hash !== "string") {
      throw new InvalidDataError(
        `Cannot use ${what}: "${loc.path}" has no sha256 "binary_cache_checksum"`,
      );
    }
    if (!/^[0-9a-f]{64}$/.test(sum.hash)) {
      throw new InvalidDataError(
        `Cannot use ${what}: "${loc.path}" has checksum "${sum.hash}", not lowercase sha256 hex`,
      );
    }
    const root = spec.nodes.get(spec.root)!;
    const names = v2Names(root, (h) => spec.nodes.get(h));
    let tarballPath = v2TarballPath(names);
    let st = await this.store.stat(tarballPath, { signal: opts.signal });
    if (!st && this.store.list) {
      const base = loc.path.slice(V2_DIR.length).replace(/\.spec\.json(\.sig)?$/, ".spack");
      const found = (await this.#list(opts.signal)).tarballs.get(base);
      if (found) {
        tarballPath = found;
        st = await this.store.stat(found, { signal: opts.signal });
      }
    }
    if (!st) {
      throw new NotFoundError(`Cannot fetch ${what}: its tarball "${tarballPath}" is missing`);
    }
    const tarball: Descriptor = {
      mediaType: MEDIA_TYPES.tarball,
      checksum: sum.hash,
      checksumAlgorithm: "sha256",
      size: st.size,
      compression: "gzip",
    };
    const legacy = layoutVersion === 0 ? LEGACY_NESTED_REASON : undefined;
    const store = this.store;
    const path = tarballPath;
    return {
      ...signedEntryFields(ref, spec, sig, opts),
      tarball,
      tarballPath,
      metadataPath: loc.path,
      metadataText: raw,
      legacy,
      // The size comes from the store itself, so only the digest is a real check here.
      openTarball: legacy
        ? () => Promise.reject(new UnsupportedError(`Cannot install ${what}: ${legacy}`))
        : tarballOpener(store.read.bind(store), path, tarball, `tarball "${path}" of ${what}`),
    };
  }

  async keys(opts?: { signal?: AbortSignal }): Promise<{ fingerprint: string; armored: string }[]> {
    const signal = opts?.signal;
    let fprs: string[] | undefined;
    const idx = await readBytesIfExists(this.store, V2_KEY_INDEX, signal);
    if (idx) {
      try {
        fprs = Object.keys(
          (JSON.parse(new TextDecoder().decode(idx)) as { keys?: object }).keys ?? {},
        );
      } catch (e) {
        throw new InvalidDataError(`Cannot parse "${V2_KEY_INDEX}": ${(e as Error).message}`);
      }
    } else if (this.store.list) {
      fprs = [];
      for await (const p of this.store.list(`${V2_DIR}_pgp/`, { signal })) {
        const m = /^build_cache\/_pgp\/([0-9A-Fa-f]{16,40})\.pub$/.exec(p);
        if (m) fprs.push(m[1]);
      }
      fprs.sort();
    } else return [];
    const out: { fingerprint: string; armored: string }[] = [];
    for (const fingerprint of fprs) {
      try {
        out.push({
          fingerprint,
          armored: await readText(this.store, v2KeyPath(fingerprint), signal),
        });
      } catch (e) {
        if (!(e instanceof NotFoundError)) throw e;
        this.notes.push(
          `key index lists ${fingerprint} but "${v2KeyPath(fingerprint)}" is missing`,
        );
      }
    }
    return out;
  }
}

/** The names of a node in a v2 mirror. */
export function v2Names(node: SpecNode, lookup: (hash: string) => SpecNode | undefined): V2Names {
  const c = namingCompiler(node, lookup);
  return {
    arch: archString(node.arch) ?? "none-none-none",
    compilerName: c?.name ?? "none",
    compilerVersion: c?.version ?? "none",
    name: node.name,
    version: node.version,
    hash: node.hash,
  };
}

/** The stem of a node's v2 file names. */
export function v2StemOf(node: SpecNode, lookup: (hash: string) => SpecNode | undefined): string {
  return v2Stem(v2Names(node, lookup));
}

/** The reference of an entry found by its spec file (not by an index): its root node's facts. */
function specFileRef(node: SpecNode, hash: string): EntryRef {
  const c = namingCompiler(node, () => undefined);
  return {
    name: node.name,
    version: node.version,
    hash,
    arch: archString(node.arch),
    compiler: c ? `${c.name}@${c.version}` : undefined,
    inBuildcache: true,
    layout: 2,
  };
}
