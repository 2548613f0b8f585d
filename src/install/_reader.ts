/**
 * A small reader of v3 and v2 build caches over a ReadStore, for install: what the layout
 * readers provide (`CacheReader`), reduced to listing from the index, fetching and checking
 * the metadata (signature through a Verifier when one is required), and opening the tarball
 * verified against its checksum and size while it streams.
 *
 * @module
 */
import { InvalidDataError, NotFoundError, SignatureError } from "../errors.ts";
import { collect, collectText } from "../core/streams.ts";
import { gunzipBytes, isGzip } from "../core/gzip.ts";
import { verifyStream } from "../core/digest.ts";
import type { ReadStore } from "../storage/store.ts";
import type { Verifier } from "../sign/types.ts";
import type { CacheReader, Descriptor, Entry, EntryRef, ReadOptions } from "../layout/types.ts";
import type { DepType, SpecDag, SpecNode } from "../spec/types.ts";

const SIGNED_HEAD = "-----BEGIN PGP SIGNED MESSAGE-----";
const TARBALL_TYPE = "application/vnd.spack.install.v2.tar+gzip";

function clearsignedBody(text: string): string {
  const m =
    /^-----BEGIN PGP SIGNED MESSAGE-----\r?\n(?:[^\r\n]+\r?\n)*?\r?\n([\s\S]*?)\r?\n-----BEGIN PGP SIGNATURE-----/
      .exec(text);
  if (!m) throw new InvalidDataError("Cannot read a clear-signed document: no signature block");
  return m[1].split(/\r?\n/).map((l) => l.startsWith("- ") ? l.slice(2) : l).join("\n");
}

/** Parses a spec file (formats 2 to 5: `spec.nodes`) into the spec model. */
export function parseSpecDoc(doc: Record<string, unknown>): SpecDag {
  const spec = (doc.spec ?? doc) as { _meta?: { version?: number }; nodes?: unknown[] };
  if (!Array.isArray(spec.nodes) || spec.nodes.length === 0) {
    throw new InvalidDataError("Cannot read spec: no nodes");
  }
  const nodes = new Map<string, SpecNode>();
  for (const raw of spec.nodes as Record<string, any>[]) {
    const hash = String(raw.hash ?? "");
    const deps = (Array.isArray(raw.dependencies) ? raw.dependencies : []).map((d: any) => ({
      name: String(d.name),
      hash: String(d.hash ?? d.build_hash ?? ""),
      depTypes: ((d.parameters?.deptypes ?? d.type ?? []) as string[]).filter(Boolean) as DepType[],
      virtuals: (d.parameters?.virtuals ?? []) as string[],
    }));
    const arch = raw.arch
      ? {
        platform: String(raw.arch.platform),
        platformOs: String(raw.arch.platform_os),
        target: typeof raw.arch.target === "string"
          ? raw.arch.target
          : String(raw.arch.target?.name),
      }
      : undefined;
    nodes.set(hash, {
      name: String(raw.name),
      version: String(raw.version),
      hash,
      arch,
      compiler: raw.compiler
        ? { name: raw.compiler.name, version: String(raw.compiler.version) }
        : undefined,
      namespace: raw.namespace,
      external: raw.external ? { path: raw.external.path, module: raw.external.module } : undefined,
      dependencies: deps,
      raw,
    });
  }
  return {
    root: String((spec.nodes[0] as any).hash),
    nodes,
    formatVersion: Number(spec._meta?.version ?? 1),
    buildcacheLayoutVersion: doc.buildcache_layout_version as number | undefined,
    raw: doc,
  };
}

async function readText(store: ReadStore, path: string, signal?: AbortSignal): Promise<string> {
  return await collectText(await store.read(path, { signal }));
}

async function checkSigned(
  text: string,
  label: string,
  opts: ReadOptions & { verifier?: Verifier },
): Promise<{ body: string; signed: boolean; signedBy?: string }> {
  const signed = text.startsWith(SIGNED_HEAD);
  const require = opts.requireSignature ?? true;
  if (!signed) {
    if (require) throw new SignatureError(`"${label}" is not signed (use --allow-unsigned)`);
    return { body: text, signed };
  }
  if (!require) return { body: clearsignedBody(text), signed };
  if (!opts.verifier) {
    throw new SignatureError(
      `Cannot verify "${label}": no trusted key was given (use --key FILE or --allow-unsigned)`,
    );
  }
  const r = await opts.verifier.verify(text, label);
  return { body: r.body, signed, signedBy: r.fingerprint };
}

/** Opens a v3 or v2 reader for the mirror in `store` (v3 when `v3/layout.json` exists). */
export async function openCacheReader(
  store: ReadStore,
  opts: { verifier?: Verifier } = {},
): Promise<CacheReader> {
  if (await store.stat("v3/layout.json")) return new V3(store, opts.verifier);
  return new V2(store, opts.verifier);
}

function refsFromIndex(text: string, layout: 2 | 3): EntryRef[] {
  const db = JSON.parse(text) as { database?: { installs?: Record<string, any> } };
  const out: EntryRef[] = [];
  for (const [hash, rec] of Object.entries(db.database?.installs ?? {})) {
    const s = rec.spec ?? {};
    out.push({
      name: String(s.name),
      version: String(s.version),
      hash,
      arch: s.arch
        ? `${s.arch.platform}-${s.arch.platform_os}-${s.arch.target?.name ?? s.arch.target}`
        : undefined,
      compiler: s.compiler ? `${s.compiler.name}@${s.compiler.version}` : undefined,
      inBuildcache: rec.in_buildcache !== false && !s.external,
      layout,
    });
  }
  return out;
}

class V3 implements CacheReader {
  readonly version = 3 as const;
  private refs?: EntryRef[];
  constructor(private store: ReadStore, private verifier?: Verifier) {}

  private blobPath(sum: string): string {
    return `blobs/sha256/${sum.slice(0, 2)}/${sum}`;
  }

  async *list(opts?: { signal?: AbortSignal }): AsyncIterable<EntryRef> {
    if (!this.refs) {
      const m = JSON.parse(
        await readText(this.store, "v3/manifests/index/index.manifest.json", opts?.signal),
      );
      const d = (m.data ?? [])[0];
      if (!d) throw new InvalidDataError("Cannot read the mirror index: empty manifest");
      this.refs = refsFromIndex(
        await readText(this.store, this.blobPath(d.checksum), opts?.signal),
        3,
      );
    }
    yield* this.refs;
  }

  async entry(hash: string, opts: ReadOptions = {}): Promise<Entry> {
    let ref: EntryRef | undefined;
    for await (const r of this.list(opts)) if (r.hash === hash) ref = r;
    if (!ref) throw new NotFoundError(`Cannot find spec "${hash}" in the mirror index`);
    const path =
      `v3/manifests/spec/${ref.name}/${ref.name}-${ref.version}-${hash}.spec.manifest.json`;
    let text: string;
    try {
      text = await readText(this.store, path, opts.signal);
    } catch (e) {
      if (e instanceof NotFoundError) {
        throw new NotFoundError(
          `Cannot install ${ref.name}@${ref.version}/${hash}: the index lists it but its manifest "${path}" is missing`,
        );
      }
      throw e;
    }
    const s = await checkSigned(text, path, { ...opts, verifier: this.verifier });
    const manifest = JSON.parse(s.body) as { data?: any[] };
    const tar = manifest.data?.find((d) => d.mediaType === TARBALL_TYPE);
    const spec = manifest.data?.find((d) => String(d.mediaType).includes("spec"));
    if (!tar || !spec) throw new InvalidDataError(`Cannot read "${path}": no tarball or spec blob`);
    let specBytes = await collect(await this.store.read(this.blobPath(spec.checksum), opts));
    if (isGzip(specBytes)) specBytes = gunzipBytes(specBytes);
    const dag = parseSpecDoc(JSON.parse(new TextDecoder().decode(specBytes)));
    const descriptor: Descriptor = {
      mediaType: tar.mediaType,
      checksum: tar.checksum,
      checksumAlgorithm: "sha256",
      size: tar.contentLength,
      compression: "gzip",
    };
    return makeEntry(this.store, ref, dag, descriptor, this.blobPath(tar.checksum), path, s);
  }

  keys(): Promise<{ fingerprint: string; armored: string }[]> {
    return Promise.resolve([]);
  }
}

class V2 implements CacheReader {
  readonly version = 2 as const;
  private refs?: EntryRef[];
  private files?: string[];
  constructor(private store: ReadStore, private verifier?: Verifier) {}

  async *list(opts?: { signal?: AbortSignal }): AsyncIterable<EntryRef> {
    if (!this.refs) {
      this.refs = refsFromIndex(
        await readText(this.store, "build_cache/index.json", opts?.signal),
        2,
      );
    }
    yield* this.refs;
  }

  private async allFiles(signal?: AbortSignal): Promise<string[]> {
    if (!this.files) {
      if (!this.store.list) throw new InvalidDataError("Cannot list a v2 mirror on this store");
      const out: string[] = [];
      for await (const p of this.store.list("build_cache/", { signal })) out.push(p);
      this.files = out;
    }
    return this.files;
  }

  async entry(hash: string, opts: ReadOptions = {}): Promise<Entry> {
    let ref: EntryRef | undefined;
    for await (const r of this.list(opts)) if (r.hash === hash) ref = r;
    if (!ref) throw new NotFoundError(`Cannot find spec "${hash}" in the mirror index`);
    const files = await this.allFiles(opts.signal);
    const specPath = files.find((f) => f.endsWith(`-${hash}.spec.json.sig`)) ??
      files.find((f) => f.endsWith(`-${hash}.spec.json`));
    if (!specPath) {
      throw new NotFoundError(
        `Cannot install ${ref.name}@${ref.version}/${hash}: the index lists it but its spec file is missing`,
      );
    }
    const s = await checkSigned(await readText(this.store, specPath, opts.signal), specPath, {
      ...opts,
      verifier: this.verifier,
    });
    const doc = JSON.parse(s.body);
    const dag = parseSpecDoc(doc);
    const sum = doc.binary_cache_checksum?.hash;
    if (typeof sum !== "string") {
      throw new InvalidDataError(`Cannot read "${specPath}": no binary_cache_checksum`);
    }
    const base = specPath.slice(specPath.lastIndexOf("/") + 1).replace(/\.spec\.json(\.sig)?$/, "");
    const tarPath = files.find((f) => f.endsWith(`/${base}.spack`));
    if (!tarPath) throw new NotFoundError(`Cannot find the tarball "${base}.spack" in the mirror`);
    const st = await this.store.stat(tarPath, opts);
    const descriptor: Descriptor = {
      mediaType: TARBALL_TYPE,
      checksum: sum,
      checksumAlgorithm: "sha256",
      size: st?.size ?? 0,
      compression: "gzip",
    };
    return makeEntry(this.store, ref, dag, descriptor, tarPath, specPath, s, false);
  }

  keys(): Promise<{ fingerprint: string; armored: string }[]> {
    return Promise.resolve([]);
  }
}

function makeEntry(
  store: ReadStore,
  ref: EntryRef,
  spec: SpecDag,
  tarball: Descriptor,
  tarballPath: string,
  metadataPath: string,
  s: { signed: boolean; signedBy?: string },
  checkSize = true,
): Entry {
  return {
    ref,
    spec,
    signed: s.signed,
    signedBy: s.signedBy,
    tarball,
    tarballPath,
    metadataPath,
    async openTarball(o?: { signal?: AbortSignal }) {
      const body = await store.read(tarballPath, o);
      return body.pipeThrough(
        verifyStream(
          { digest: tarball.checksum, size: checkSize ? tarball.size : undefined },
          `tarball "${tarballPath}"`,
        ),
      );
    },
  };
}
