/**
 * Writing Spack's build caches to an OCI registry as Spack 1.2 writes them (FORMAT.md 9.4):
 * for each spec its tarball as a layer blob (skipped when the repository has it, mounted
 * from another repository of the same registry when the source is there), an image config
 * (`architecture`, `os`, `rootfs.diff_ids`, `config.Env`, then the spec with
 * `buildcache_layout_version` 3 and the tarball's checksum, size, timestamp and compression),
 * then the image manifest under the tag `{name}-{version}-{hash}.spack`, the commit point:
 * layers are the spec's link/run dependencies first and its own tarball last. The index is
 * the image `index.spack` whose single layer is the index JSON, written last.
 *
 * The `diff_id` of a layer (sha256 of the uncompressed tar) is computed while the tarball
 * streams up, or taken from the source image when a blob is mounted or already there.
 * Without a base image, an image has only the spec's layers and a default config (Spack's
 * `default_config`); with one, its layers come first and its config (Env, diff_ids) is the
 * start of each image's config, in its manifest format (OCI or Docker v2). `config.Env` gets
 * no runtime variables of the specs (Spack computes those from package recipes). OCI caches
 * are never signed.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { InvalidDataError, NotFoundError, UnsupportedError, UsageError } from "../../errors.ts";
import { verifyStream } from "../../core/digest.ts";
import { buildcacheRecords, buildIndexJson } from "../../index/writer.ts";
import type { SpecDag, SpecNode } from "../../spec/types.ts";
import { INDEX_TYPES, MANIFEST_TYPES, type UploadResult } from "../../storage/registry/client.ts";
import type { RepositoryRef } from "../../storage/registry/reference.ts";
import type { RegistryStore } from "../../storage/registry/store.ts";
import { parseSpecDoc } from "../_spec.ts";
import { MEDIA_TYPES } from "../media_types.ts";
import type { Descriptor, TarballSource } from "../types.ts";
import { pyJsonDumps } from "../../core/json.ts";
import {
  isSpecTag,
  OCI_INDEX_TAG,
  ociDescriptor,
  type OciManifestJson,
  ociSpecTag,
  parseOciManifest,
} from "./reader.ts";

/** OCI media types Spack writes. */
export const OCI_MEDIA = {
  manifest: "application/vnd.oci.image.manifest.v1+json",
  config: "application/vnd.oci.image.config.v1+json",
  layer: "application/vnd.oci.image.layer.v1.tar+gzip",
} as const;

const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/** A base image's manifest (its media type included) and config. */
interface BaseImage {
  manifest: {
    mediaType: string;
    config: { mediaType: string };
    layers: { mediaType: string; digest: string; size: number }[];
  };
  config: Record<string, unknown>;
}

/** A tarball to push to a registry, with what is known of it. */
export interface OciTarballSource extends TarballSource {
  /** `sha256:<hex>` of the uncompressed tar, when known (else computed while uploading). */
  diffId?: string;
  /** A repository of the same registry holding the blob (mounted instead of uploaded). */
  mountFrom?: RepositoryRef;
}

/** What is known of a spec's layer. */
interface LayerInfo {
  digest: string;
  size: number;
  diffId: string;
}

/** What an OCI push did (the shape of a v3 push result). */
export interface OciPushResult {
  manifestPath: string;
  skipped: boolean;
  tarball: Descriptor;
  spec?: Descriptor;
  /** How the tarball blob got there. */
  blob?: UploadResult;
}

/** Options of `OciWriter.push`. */
export interface OciPushOptions {
  force?: boolean;
  signal?: AbortSignal;
  /** Signing is refused: OCI build caches are not signed. */
  signer?: unknown;
  /** `archive_timestamp` (default: now, with the local offset as Spack writes it). */
  timestamp?: string;
}

/** Go's architecture name of a spec target (Spack's `_oci_archspec_to_gooarch`). */
export function goArch(node: SpecNode | undefined): string {
  const t = (node?.arch?.target ?? "x86_64").toLowerCase();
  if (/^(aarch64|arm64|neoverse|a64fx|m[1-4]\b|thunderx|cortex|graviton)/.test(t)) return "arm64";
  if (/^(ppc64le|power\d+le)/.test(t)) return "ppc64le";
  if (/^(ppc64|power\d+)$/.test(t)) return "ppc64";
  if (/^riscv64|^u74/.test(t)) return "riscv64";
  return "amd64";
}

/** Spack's `spec.format()` of a node, as the image description annotation. */
export function specDescription(node: SpecNode): string {
  const parts = [`${node.name}@=${node.version}`];
  const params = node.raw.parameters as Record<string, unknown> | undefined;
  const flags: string[] = [];
  for (const [k, v] of Object.entries(params ?? {})) {
    if (typeof v === "boolean") flags.push(v ? `+${k}` : `~${k}`);
    else if (typeof v === "string") parts.push(`${k}=${v}`);
    else if (Array.isArray(v) && v.length && v.every((x) => typeof x === "string")) {
      parts.push(`${k}=${v.join(",")}`);
    }
  }
  if (flags.length) parts[0] += flags.join("");
  if (node.arch) {
    parts.push(
      `platform=${node.arch.platform}`,
      `os=${node.arch.platformOs}`,
      `target=${node.arch.target}`,
    );
  }
  return parts.join(" ");
}

/** ISO 8601 with the local offset and microseconds, as Python's `isoformat()` writes it. */
function isoNow(): string {
  const d = new Date();
  const off = -d.getTimezoneOffset();
  const local = new Date(d.getTime() + off * 60_000).toISOString().replace("Z", "");
  const sign = off >= 0 ? "+" : "-";
  const hh = String(Math.floor(Math.abs(off) / 60)).padStart(2, "0");
  const mm = String(Math.abs(off) % 60).padStart(2, "0");
  return `${local}000${sign}${hh}:${mm}`;
}

/** The link/run closure of the root, dependencies before dependents, root last. */
function layerOrder(spec: SpecDag): SpecNode[] {
  const out: SpecNode[] = [];
  const seen = new Set<string>();
  const visit = (h: string) => {
    if (seen.has(h)) return;
    seen.add(h);
    const n = spec.nodes.get(h);
    if (!n) return;
    for (const d of n.dependencies) {
      if (d.depTypes.some((t) => t === "link" || t === "run")) visit(d.hash);
    }
    if (!n.external) out.push(n);
  };
  visit(spec.root);
  return out;
}

/** Hashes the uncompressed bytes of a gzip stream as it passes through. */
function diffIdStream(): {
  stream: TransformStream<Uint8Array, Uint8Array>;
  diffId: Promise<string>;
} {
  const ds = new DecompressionStream("gzip");
  const w = ds.writable.getWriter();
  const h = createHash("sha256");
  const done = (async () => {
    for await (const c of ds.readable) h.update(c);
    return "sha256:" + h.digest("hex");
  })();
  done.catch(() => {});
  const stream = new TransformStream<Uint8Array, Uint8Array>({
    async transform(chunk, c) {
      await w.write(chunk as Uint8Array<ArrayBuffer>);
      c.enqueue(chunk);
    },
    async flush() {
      await w.close();
      await done;
    },
  });
  return { stream, diffId: done };
}

/** A writer of Spack's OCI images into one registry repository. */
export class OciWriter {
  #layers = new Map<string, Promise<LayerInfo | undefined>>();
  /** Specs this writer pushed, by tag (the index rebuild does not read them back). */
  #specs = new Map<string, SpecDag>();

  #base?: { store: RegistryStore; reference: string };
  #baseImages = new Map<string, Promise<BaseImage>>();

  /**
   * A writer into `store`; with `baseImage` (a repository and a tag or digest, usually of
   * another registry) each image is built on that image's layers for the spec's architecture
   * (its layers are copied into `store`'s repository when missing, mounted within a registry),
   * so that it runs as a container.
   */
  constructor(
    readonly store: RegistryStore,
    opts: { baseImage?: { store: RegistryStore; reference: string } } = {},
  ) {
    this.#base = opts.baseImage;
  }

  /** The base image for an architecture, its missing layers copied (once per architecture). */
  #baseImage(arch: string, signal?: AbortSignal): Promise<BaseImage> {
    let p = this.#baseImages.get(arch);
    if (!p) {
      p = this.#loadBase(arch, signal);
      this.#baseImages.set(arch, p);
      p.catch(() => this.#baseImages.delete(arch));
    }
    return p;
  }

  async #loadBase(arch: string, signal?: AbortSignal): Promise<BaseImage> {
    if (!this.#base) {
      return {
        manifest: {
          mediaType: OCI_MEDIA.manifest,
          config: { mediaType: OCI_MEDIA.config },
          layers: [],
        },
        config: {
          architecture: arch,
          os: "linux",
          rootfs: { type: "layers", diff_ids: [] },
          config: { Env: [] },
        },
      };
    }
    const base = this.#base.store.client;
    let ref = this.#base.reference;
    let m = await base.getManifest(ref, { signal });
    const label = () => `base image ${base.display}@${ref}`;
    if ((INDEX_TYPES as readonly string[]).includes(m.mediaType)) {
      const index = JSON.parse(new TextDecoder().decode(m.bytes)) as {
        manifests?: { digest: string; platform?: { architecture?: string; os?: string } }[];
      };
      const pick = index.manifests?.find((x) =>
        x.platform?.architecture === arch && (x.platform.os ?? "linux") === "linux"
      );
      if (!pick) {
        throw new NotFoundError(`Cannot use ${label()}: it has no linux/${arch} image`);
      }
      ref = pick.digest;
      m = await base.getManifest(ref, { accept: MANIFEST_TYPES, signal });
    }
    const manifest = parseOciManifest(m.bytes, label()) as OciManifestJson & { mediaType: string };
    manifest.mediaType = m.mediaType || manifest.mediaType || OCI_MEDIA.manifest;
    const config = JSON.parse(
      new TextDecoder().decode(
        await base.readBlobBytes(manifest.config.digest, manifest.config.size, signal),
      ),
    ) as Record<string, unknown>;
    const diffs = (config.rootfs as { diff_ids?: unknown } | undefined)?.diff_ids;
    if (!Array.isArray(diffs) || diffs.length !== manifest.layers.length) {
      throw new InvalidDataError(
        `Cannot use ${label()}: its config has no rootfs.diff_ids matching its ${manifest.layers.length} layers`,
      );
    }
    const sameRegistry = this.#base.store.ref.domain === this.store.ref.domain;
    for (const l of manifest.layers) {
      await this.#client.uploadBlob(
        l.digest,
        l.size,
        async () =>
          (await base.getBlob(l.digest, { signal })).pipeThrough(
            verifyStream(
              { digest: l.digest.slice(7), size: l.size },
              `layer "${l.digest}" of ${label()}`,
            ),
          ),
        { mountFrom: sameRegistry ? this.#base.store.ref.name : undefined, signal },
      );
    }
    return { manifest, config };
  }

  get #client() {
    return this.store.client;
  }

  /** The manifest and config of a spec tag, or undefined when the tag is absent or not Spack's. */
  async image(
    tag: string,
    signal?: AbortSignal,
  ): Promise<{ manifest: OciManifestJson; config: Record<string, unknown> } | undefined> {
    let bytes: Uint8Array;
    try {
      bytes = (await this.#client.getManifest(tag, { accept: MANIFEST_TYPES, signal })).bytes;
    } catch (e) {
      if (e instanceof NotFoundError) return undefined;
      throw e;
    }
    const manifest = parseOciManifest(bytes, `manifest "${tag}" of ${this.#client.display}`);
    const cfg = await this.#client.readBlobBytes(
      manifest.config.digest,
      manifest.config.size,
      signal,
    );
    const config = JSON.parse(new TextDecoder().decode(cfg)) as Record<string, unknown>;
    return { manifest, config };
  }

  /** The layer of a spec already in the registry (from its image), or undefined. */
  async #registryLayer(node: SpecNode, signal?: AbortSignal): Promise<LayerInfo | undefined> {
    try {
      const img = await this.image(ociSpecTag(node.name, node.version, node.hash), signal);
      const last = img?.manifest.layers.at(-1);
      const diff = (img?.config.rootfs as { diff_ids?: string[] } | undefined)?.diff_ids?.at(-1);
      if (!last || !diff) return undefined;
      return { digest: last.digest, size: last.size, diffId: diff };
    } catch {
      return undefined;
    }
  }

  /** Specs about to be pushed concurrently: a dependent's manifest waits for their layers. */
  #pending = new Map<string, (info: LayerInfo | undefined) => void>();

  /**
   * Announces the specs a batch will push (in any order, concurrently): the manifest of a
   * dependent waits for their layers instead of leaving them out. Each must be settled by its
   * `push` or by `done`.
   */
  plan(hashes: Iterable<string>): void {
    for (const h of hashes) {
      if (this.#pending.has(h)) continue;
      this.#layers.set(h, new Promise((resolve) => this.#pending.set(h, resolve)));
    }
  }

  /** Ends the wait for a planned spec (pushed, skipped or failed). */
  done(hash: string): void {
    const resolve = this.#pending.get(hash);
    if (!resolve) return;
    this.#pending.delete(hash);
    this.#layers.delete(hash);
    resolve(undefined);
  }

  #settle(hash: string, info: LayerInfo): void {
    const resolve = this.#pending.get(hash);
    this.#pending.delete(hash);
    this.#layers.set(hash, Promise.resolve(info));
    resolve?.(info);
  }

  async #layer(node: SpecNode, signal?: AbortSignal): Promise<LayerInfo | undefined> {
    const planned = this.#layers.get(node.hash);
    if (planned) {
      const got = await planned.catch(() => undefined);
      if (got) return got;
    }
    let p = this.#layers.get(node.hash);
    if (!p) {
      p = this.#registryLayer(node, signal);
      this.#layers.set(node.hash, p);
    }
    return p.catch(() => undefined);
  }

  /**
   * True when the spec's image is there (one request: its manifest; the registry accepted it
   * only with its layers and config present, so they are not asked for again).
   */
  async complete(
    name: string,
    version: string,
    hash: string,
    signal?: AbortSignal,
  ): Promise<boolean> {
    const tag = ociSpecTag(name, version, hash);
    try {
      const m = await this.#client.getManifest(tag, { accept: MANIFEST_TYPES, signal });
      const manifest = parseOciManifest(m.bytes, `manifest "${tag}" of ${this.#client.display}`);
      return manifest.layers.length > 0;
    } catch (e) {
      if (signal?.aborted) throw e;
      return false;
    }
  }

  /** Uploads (or mounts, or finds) the tarball blob and learns its diff_id. */
  async #putTarball(
    tarball: OciTarballSource,
    signal?: AbortSignal,
  ): Promise<{ info: LayerInfo; how: UploadResult }> {
    const d = tarball.descriptor;
    const digest = `sha256:${d.checksum}`;
    const verify = () => verifyStream({ digest: d.checksum, size: d.size }, `tarball "${digest}"`);
    let how: UploadResult;
    let diffId = tarball.diffId;
    if (tarball.mountFrom && tarball.mountFrom.domain === this.store.ref.domain && diffId) {
      how = await this.#client.uploadBlob(digest, d.size, () => tarball.open(), {
        mountFrom: tarball.mountFrom.name,
        signal,
      });
      // Mounted, found, or (a registry that does not mount) uploaded from the source.
      return { info: { digest, size: d.size, diffId }, how };
    }
    const have = await this.#client.blobSize(digest, signal);
    if (have !== undefined && diffId) {
      return { info: { digest, size: d.size, diffId }, how: "present" };
    }
    if (have !== undefined) {
      // The blob is there but its diff_id is unknown: read the tarball once to learn it.
      const ds = diffIdStream();
      await (await tarball.open()).pipeThrough(verify()).pipeThrough(ds.stream).pipeTo(
        new WritableStream(),
        { signal },
      );
      return { info: { digest, size: d.size, diffId: await ds.diffId }, how: "present" };
    }
    let computed: Promise<string> | undefined;
    how = await this.#client.uploadBlob(digest, d.size, async () => {
      let s = (await tarball.open()).pipeThrough(verify());
      if (!diffId) {
        const ds = diffIdStream();
        computed = ds.diffId;
        s = s.pipeThrough(ds.stream);
      }
      return s;
    }, { signal, force: true });
    diffId ??= await computed!;
    return { info: { digest, size: d.size, diffId }, how };
  }

  #put = new Map<string, Promise<{ info: LayerInfo; how: UploadResult }>>();

  /**
   * Uploads (mounts, or finds) the tarball layer of spec `hash` and learns its diff_id, once
   * per writer: a later `push` of the spec reuses it. Pushing every layer of a batch first and
   * the manifests after (as Spack does) lets each manifest name all its dependencies' layers.
   */
  putLayer(
    hash: string,
    tarball: OciTarballSource,
    signal?: AbortSignal,
  ): Promise<{ info: LayerInfo; how: UploadResult }> {
    let p = this.#put.get(hash);
    if (!p) {
      p = this.#putTarball(tarball, signal);
      this.#put.set(hash, p);
      p.then((r) => this.#settle(hash, r.info), () => {
        this.#put.delete(hash);
        this.done(hash);
      });
    }
    return p;
  }

  /**
   * Pushes one spec: its tarball layer, its config, then its manifest under its tag. Layers
   * of link/run dependencies come from this writer's earlier pushes or from their images in
   * the registry; a dependency in neither is left out (as Spack does).
   */
  async push(
    spec: SpecDag,
    tarball: OciTarballSource,
    opts: OciPushOptions = {},
  ): Promise<OciPushResult> {
    if (opts.signer) {
      throw new UsageError("Cannot sign an OCI build cache: Spack reads OCI mirrors unsigned");
    }
    const root = spec.nodes.get(spec.root);
    if (!root) throw new InvalidDataError(`Cannot push spec ${spec.root}: root node missing`);
    const tag = ociSpecTag(root.name, root.version, root.hash);
    const manifestPath = `manifests/${tag}`;
    if (!opts.force && await this.complete(root.name, root.version, root.hash, opts.signal)) {
      return { manifestPath, skipped: true, tarball: tarball.descriptor };
    }
    const { info, how } = await this.putLayer(root.hash, tarball, opts.signal);
    const layers: LayerInfo[] = [];
    for (const n of layerOrder(spec)) {
      const l = n.hash === root.hash ? info : await this.#layer(n, opts.signal);
      if (l) layers.push(l);
    }
    const raw = spec.raw as Record<string, unknown>;
    const base = await this.#baseImage(goArch(root), opts.signal);
    const docker = base.manifest.mediaType === DOCKER_MANIFEST;
    // The base image's config with the layers' diff_ids appended and its Env (PATH at least),
    // then the spec metadata, as Spack builds it.
    const config: Record<string, unknown> = structuredClone(base.config);
    const rootfs = (config.rootfs ??= { type: "layers", diff_ids: [] }) as { diff_ids: string[] };
    rootfs.diff_ids = [...(rootfs.diff_ids ?? []), ...layers.map((l) => l.diffId)];
    const env = new Map<string, string>([["PATH", "/bin:/usr/bin"]]);
    const inner = (config.config ??= {}) as { Env?: string[] };
    for (const e of inner.Env ?? []) {
      const i = e.indexOf("=");
      if (i > 0) env.set(e.slice(0, i), e.slice(i + 1));
    }
    inner.Env = [...env].map(([k, v]) => `${k}=${v}`);
    Object.assign(config, {
      spec: raw.spec,
      buildcache_layout_version: 3,
      binary_cache_checksum: { hash_algorithm: "sha256", hash: tarball.descriptor.checksum },
      archive_size: tarball.descriptor.size,
      archive_timestamp: opts.timestamp ?? isoNow(),
      archive_compression: "gzip",
    });
    if (raw.spec === undefined) {
      throw new InvalidDataError(
        `Cannot push ${root.name}/${root.hash}: its spec document has no "spec"`,
      );
    }
    const cfgBytes = new TextEncoder().encode(pyJsonDumps(config));
    const cfgDigest = "sha256:" + createHash("sha256").update(cfgBytes).digest("hex");
    // A config is new with each push (its timestamp): sent without asking whether it is there.
    await this.#client.uploadBlob(cfgDigest, cfgBytes.byteLength, cfgBytes, {
      signal: opts.signal,
      force: true,
    });
    this.#specs.set(tag, spec);
    const manifest: Record<string, unknown> = {
      mediaType: base.manifest.mediaType,
      schemaVersion: 2,
      config: {
        mediaType: base.manifest.config.mediaType,
        digest: cfgDigest,
        size: cfgBytes.byteLength,
      },
      layers: [
        ...base.manifest.layers,
        ...layers.map((l) => ({
          mediaType: docker ? DOCKER_LAYER : OCI_MEDIA.layer,
          digest: l.digest,
          size: l.size,
        })),
      ],
    };
    // Docker-format images carry no annotations (Singularity/Apptainer refuse mixed formats).
    if (!docker) {
      manifest.annotations = { "org.opencontainers.image.description": specDescription(root) };
    }
    await this.#client.putManifest(
      tag,
      new TextEncoder().encode(pyJsonDumps(manifest)),
      base.manifest.mediaType,
      opts.signal,
    );
    return {
      manifestPath,
      skipped: false,
      tarball: tarball.descriptor,
      spec: ociDescriptor(
        { digest: cfgDigest, size: cfgBytes.byteLength },
        OCI_MEDIA.config,
        "none",
      ),
      blob: how,
    };
  }

  /** Writes the index image `index.spack` from index JSON (the commit point of the index). */
  async writeIndex(indexJson: string, opts: { signal?: AbortSignal } = {}): Promise<Descriptor> {
    const bytes = new TextEncoder().encode(indexJson);
    const digest = "sha256:" + createHash("sha256").update(bytes).digest("hex");
    await this.#client.uploadBlob(digest, bytes.byteLength, bytes, { signal: opts.signal });
    const cfg = new TextEncoder().encode("{}");
    const cfgDigest = "sha256:" + createHash("sha256").update(cfg).digest("hex");
    await this.#client.uploadBlob(cfgDigest, cfg.byteLength, cfg, { signal: opts.signal });
    const manifest = {
      mediaType: OCI_MEDIA.manifest,
      schemaVersion: 2,
      config: { mediaType: OCI_MEDIA.config, digest: cfgDigest, size: cfg.byteLength },
      layers: [{ mediaType: OCI_MEDIA.layer, digest, size: bytes.byteLength }],
    };
    await this.#client.putManifest(
      OCI_INDEX_TAG,
      new TextEncoder().encode(pyJsonDumps(manifest)),
      OCI_MEDIA.manifest,
      opts.signal,
    );
    return ociDescriptor({ digest, size: bytes.byteLength }, MEDIA_TYPES.index, "none");
  }

  /**
   * Rebuilds `index.spack` from every spec tag: each image's config is read (digest checked)
   * and parsed; unreadable ones are skipped with the reason, as Spack skips them.
   */
  async rebuildIndex(
    opts: { jobs?: number; signal?: AbortSignal } = {},
  ): Promise<{ specs: number; skipped: { path: string; reason: string }[]; index: Descriptor }> {
    const tags: string[] = [];
    for await (const p of this.store.list("manifests/", { signal: opts.signal })) {
      const t = p.slice("manifests/".length);
      if (isSpecTag(t)) tags.push(t);
    }
    tags.sort();
    const specs: SpecDag[] = new Array(tags.length);
    const skipped: { path: string; reason: string }[] = [];
    let next = 0;
    const worker = async () => {
      while (next < tags.length) {
        const i = next++;
        const known = this.#specs.get(tags[i]);
        if (known) {
          specs[i] = known;
          continue;
        }
        try {
          const img = await this.image(tags[i], opts.signal);
          if (!img || !("spec" in img.config)) throw new InvalidDataError("no spec in its config");
          specs[i] = parseSpecDoc(img.config, `config of "${tags[i]}"`);
        } catch (e) {
          if (opts.signal?.aborted) throw e;
          skipped.push({ path: `manifests/${tags[i]}`, reason: (e as Error).message });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, opts.jobs ?? 8) }, worker));
    const good = specs.filter((s) => s !== undefined);
    const index = await this.writeIndex(
      buildIndexJson(buildcacheRecords(good), { kind: "buildcache" }),
      opts,
    );
    return { specs: good.length, skipped, index };
  }

  /** OCI build caches publish no keys. */
  publishKey(): Promise<Descriptor> {
    return Promise.reject(
      new UnsupportedError("Cannot publish keys to an OCI registry: OCI build caches are unsigned"),
    );
  }
}
