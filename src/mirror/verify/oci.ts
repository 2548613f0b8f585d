/**
 * Checks of a build cache in an OCI registry: the spec tags, the `index.spack` image and its
 * index blob, each spec image (manifest, config, the spec's root hash, layout version, tarball
 * checksum, `diff_ids`) and each layer blob, streamed and hashed once. Manifests and configs
 * are read by the layout layer's tolerant OCI reader.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { errorMessage, NotFoundError, SpackleError } from "../../errors.ts";
import { inspectIndex } from "../../layout/inspect.ts";
import { inspectOciConfig, inspectOciManifest } from "../../layout/oci/inspect.ts";
import { isSpecTag, OCI_INDEX_TAG, parseSpecTag } from "../../layout/oci/reader.ts";
import { MANIFEST_TYPES } from "../../storage/registry/client.ts";
import {
  blobPathOf,
  MANIFEST_PREFIX,
  manifestPathOf,
  type RegistryStore,
} from "../../storage/registry/store.ts";
import type { Finding } from "../verify_report.ts";
import { findingKindOf, type VerifyRun } from "./run.ts";

/** A layer or config: digest and size. */
export type Blob = { digest: string; size: number };

/** Records a finding about the (only) layout of a registry cache. */
export function addOci(run: VerifyRun, f: Omit<Finding, "layout">): void {
  run.add({ ...f, layout: 3 });
}

/** The spec tags of the repository, sorted; a finding when they cannot be listed. */
export async function listSpecTags(run: VerifyRun, store: RegistryStore): Promise<string[]> {
  const tags: string[] = [];
  try {
    for await (const p of store.list(MANIFEST_PREFIX, { signal: run.signal })) {
      const t = p.slice(MANIFEST_PREFIX.length);
      if (isSpecTag(t)) tags.push(t);
    }
  } catch (e) {
    if (e instanceof SpackleError && e.code === "usage") throw e;
    const kind = findingKindOf(e);
    addOci(run, {
      kind: kind === "corrupt" ? "unreachable" : kind,
      code: "read_failed",
      path: MANIFEST_PREFIX,
      message: `Cannot list the tags of ${store.client.display}: ${errorMessage(e)}`,
    });
  }
  return tags.sort();
}

/** What the index image lists as in the build cache: hash to `name@version`. */
export async function readOciIndex(
  run: VerifyRun,
  store: RegistryStore,
): Promise<Map<string, string>> {
  const indexed = new Map<string, string>();
  const path = manifestPathOf(OCI_INDEX_TAG);
  const fail = (e: unknown) =>
    addOci(run, {
      kind: findingKindOf(e),
      code: "index_invalid",
      path,
      message: `The index "${OCI_INDEX_TAG}" is unusable: ${errorMessage(e)}`,
    });
  let layer: Blob | undefined;
  let bytes: Uint8Array;
  try {
    const m = await store.client.getManifest(OCI_INDEX_TAG, {
      accept: MANIFEST_TYPES,
      signal: run.signal,
    });
    const man = inspectOciManifest(m.bytes, `"${OCI_INDEX_TAG}"`);
    if (!man.ok) return fail(man.error), indexed;
    layer = man.value.layers[0];
    if (!layer) return fail(new NotFoundError(`"${OCI_INDEX_TAG}" has no layer`)), indexed;
    bytes = await store.client.readBlobBytes(layer.digest, layer.size, run.signal);
  } catch (e) {
    if (e instanceof NotFoundError && /manifest unknown|does not exist/.test(e.message)) {
      addOci(run, {
        kind: "notice",
        code: "index_missing",
        path,
        message: `There is no "${OCI_INDEX_TAG}" index (\`spackle update-index\` writes one)`,
      });
    } else fail(e);
    return indexed;
  }
  run.checked.blobs++;
  run.checked.bytes += bytes.byteLength;
  const idx = inspectIndex(bytes, 3, `index blob "${layer.digest}"`);
  if (!idx.ok) return fail(idx.error), indexed;
  for (const r of idx.value.refs) if (r.inBuildcache) indexed.set(r.hash, `${r.name}@${r.version}`);
  return indexed;
}

/** What a layer is, for the findings about it. */
export interface LayerContext {
  spec: string;
  what: string;
  /** The `diff_id` the config gives it: its uncompressed bytes are hashed too. */
  diffId?: string;
}

/** A layer blob checked once per run (by digest and diff_id). */
export function checkLayer(
  run: VerifyRun,
  store: RegistryStore,
  d: Blob,
  ctx: LayerContext,
): Promise<boolean> {
  const key = d.digest + (ctx.diffId ?? "");
  let p = run.blobChecks.get(key);
  if (!p) {
    p = checkLayerOnce(run, store, d, ctx).then((ok) => ({ ok }));
    run.blobChecks.set(key, p);
  }
  return p.then((r) => r.ok);
}

/** True when some check of the blob `digest` was made (with or without a diff_id). */
export function layerChecked(run: VerifyRun, digest: string): boolean {
  return [...run.blobChecks.keys()].some((k) => k.startsWith(digest));
}

async function checkLayerOnce(
  run: VerifyRun,
  store: RegistryStore,
  d: Blob,
  ctx: LayerContext,
): Promise<boolean> {
  const path = blobPathOf(d.digest);
  const about = `The ${ctx.what} "${d.digest}" of ${ctx.spec}`;
  const sums = await digestLayer(run, store, d.digest, !!ctx.diffId);
  if (!sums.ok) {
    const { stage, error } = sums;
    const kind = findingKindOf(error);
    addOci(run, {
      // A layer that does not uncompress (not a transport failure) is damaged data.
      kind: stage === "stream" && ctx.diffId && !(error instanceof SpackleError) ? "corrupt" : kind,
      code: stage === "open" && error instanceof NotFoundError ? "blob_missing" : "read_failed",
      path,
      spec: ctx.spec,
      message: `${about} cannot be read: ${errorMessage(error)}`,
    });
    return false;
  }
  run.checked.blobs++;
  run.checked.bytes += sums.size;
  const got = "sha256:" + sums.hex;
  if (got !== d.digest || sums.size !== d.size) {
    addOci(run, {
      kind: "corrupt",
      code: sums.size < d.size ? "blob_truncated" : "digest_mismatch",
      path,
      spec: ctx.spec,
      message: `${about} has sha256 "${got}" and ${sums.size} bytes (${d.size} declared)`,
    });
    return false;
  }
  if (ctx.diffId && "sha256:" + sums.diff !== ctx.diffId) {
    addOci(run, {
      kind: "corrupt",
      code: "diff_id_mismatch",
      path,
      spec: ctx.spec,
      message: `${about} uncompresses to sha256 "sha256:${sums.diff}", ` +
        `but the config's diff_id is "${ctx.diffId}"`,
    });
    return false;
  }
  return true;
}

/** The sums of a layer, or why they could not be made. */
type LayerSums =
  | { ok: true; hex: string; size: number; diff?: string }
  /** "open": the blob cannot be fetched; "stream": reading it failed. */
  | { ok: false; stage: "open" | "stream"; error: unknown };

/** Streams a blob through sha256 (and, with `uncompressed`, gunzip and a second sha256). */
async function digestLayer(
  run: VerifyRun,
  store: RegistryStore,
  digest: string,
  uncompressed: boolean,
): Promise<LayerSums> {
  let body: ReadableStream<Uint8Array>;
  try {
    body = await store.client.getBlob(digest, { signal: run.signal });
  } catch (error) {
    return { ok: false, stage: "open", error };
  }
  const h = createHash("sha256");
  const u = uncompressed ? createHash("sha256") : undefined;
  const ds = u ? new DecompressionStream("gzip") : undefined;
  const w = ds?.writable.getWriter();
  const unz = ds
    ? (async () => {
      for await (const c of ds.readable) u!.update(c);
    })()
    : undefined;
  unz?.catch(() => {});
  let size = 0;
  try {
    for await (const c of body) {
      h.update(c);
      size += c.byteLength;
      if (w) await w.write(c as Uint8Array<ArrayBuffer>);
    }
    await w?.close();
    await unz;
  } catch (error) {
    return { ok: false, stage: "stream", error };
  }
  return { ok: true, hex: h.digest("hex"), size, diff: u?.digest("hex") };
}

/** One spec image checked: its dependency layers, checked after every image's own layer. */
export interface ImageResult {
  depLayers: Blob[];
}

/** Checks a spec image: manifest, config, the spec it holds, its own layer. */
export async function checkImage(
  run: VerifyRun,
  store: RegistryStore,
  tag: string,
  spec: string,
): Promise<ImageResult | undefined> {
  const path = manifestPathOf(tag);
  const fail = (e: unknown) => {
    addOci(run, {
      kind: findingKindOf(e),
      code: "manifest_invalid",
      path,
      spec,
      message: `The image "${tag}" is unusable: ${errorMessage(e)}`,
    });
    return undefined;
  };
  let man, cfg;
  try {
    const m = await store.client.getManifest(tag, { accept: MANIFEST_TYPES, signal: run.signal });
    man = inspectOciManifest(m.bytes, `manifest "${tag}"`);
    if (!man.ok) return fail(man.error);
    const bytes = await store.client.readBlobBytes(
      man.value.config.digest,
      man.value.config.size,
      run.signal,
    );
    run.checked.blobs++;
    run.checked.bytes += bytes.byteLength;
    cfg = await inspectOciConfig(bytes, `config of "${tag}"`);
    if (!cfg.ok) return fail(cfg.error);
  } catch (e) {
    return fail(e);
  }
  const { layers } = man.value;
  const c = cfg.value;
  checkConfig(run, tag, spec, c, layers);
  const last = layers.at(-1);
  if (!last) return fail(new NotFoundError("the image has no layers"));
  await checkLayer(run, store, last, { spec, what: "tarball layer", diffId: c.diffIds.at(-1) });
  return { depLayers: layers.slice(0, -1) };
}

/** The config against the tag and the layers. */
function checkConfig(
  run: VerifyRun,
  tag: string,
  spec: string,
  c: { root: string; layoutVersion?: number; tarballSha256?: string; diffIds: string[] },
  layers: Blob[],
): void {
  const path = manifestPathOf(tag);
  const parsed = parseSpecTag(tag);
  if (parsed && c.root !== parsed.hash) {
    addOci(run, {
      kind: "corrupt",
      code: "hash_mismatch",
      path,
      spec,
      message: `The image "${tag}" holds the spec "${c.root}", not "${parsed.hash}"`,
    });
  }
  if (c.layoutVersion !== undefined && c.layoutVersion > 3) {
    addOci(run, {
      kind: "inconsistent",
      code: "layout_too_new",
      path,
      spec,
      message: `The config of "${tag}" has buildcache_layout_version ${c.layoutVersion} ` +
        `(Spack reads up to 3)`,
    });
  }
  const last = layers.at(-1);
  if (last && c.tarballSha256 !== undefined && `sha256:${c.tarballSha256}` !== last.digest) {
    addOci(run, {
      kind: "corrupt",
      code: "checksum_mismatch",
      path,
      spec,
      message: `The config of "${tag}" names tarball sha256 "${c.tarballSha256}", ` +
        `the last layer is "${last.digest}"`,
    });
  }
  if (layers.length && c.diffIds.length !== layers.length) {
    addOci(run, {
      kind: "inconsistent",
      code: "diff_ids_count",
      path,
      spec,
      message:
        `The config of "${tag}" has ${c.diffIds.length} diff_ids for ${layers.length} layers`,
    });
  }
}
