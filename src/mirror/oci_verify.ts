/**
 * `verify` of a build cache in an OCI registry: the `index.spack` image and its index blob,
 * and for every spec tag (or a sample) its manifest, its config (digest, size, a spec whose
 * root is the tag's hash, `buildcache_layout_version` <= 3, the checksum of the last layer),
 * every layer blob streamed and hashed (each distinct blob once), the `diff_id` of the spec's
 * own layer (sha256 of the uncompressed tar), and that index and tags agree. OCI caches are
 * unsigned: each entry counts as unsigned (untrusted with `requireSignatures`).
 *
 * @module
 */
import { createHash } from "node:crypto";
import { errorMessage, NotFoundError, SpackleError } from "../errors.ts";
import { parseIndex } from "../layout/_index.ts";
import { isSpecTag, OCI_INDEX_TAG, parseOciManifest, parseSpecTag } from "../layout/oci/reader.ts";
import { MANIFEST_TYPES } from "../storage/registry/client.ts";
import { blobPathOf, type RegistryStore } from "../storage/registry/store.ts";
import {
  type Finding,
  type FindingKind,
  VERIFY_FLAGS,
  type VerifyOptions,
  type VerifyReport,
} from "./verify_report.ts";

function kindOf(e: unknown): FindingKind {
  if (e instanceof SpackleError) {
    if (e.code === "not_found" || e.code === "integrity" || e.code === "invalid_data") {
      return "corrupt";
    }
  }
  if (e instanceof Error && e.name === "AbortError") throw e;
  return "unreachable";
}

/** Checks a build cache in a registry repository (see the module doc). */
export async function verifyOciMirror(
  store: RegistryStore,
  opts: VerifyOptions = {},
): Promise<VerifyReport> {
  const client = store.client;
  const signal = opts.signal;
  const findings: Finding[] = [];
  const add = (f: Omit<Finding, "layout">) => findings.push({ ...f, layout: 3 });
  const checked = {
    entries: 0,
    blobs: 0,
    bytes: 0,
    signaturesVerified: 0,
    signedUnchecked: 0,
    unsigned: 0,
  };
  const tags: string[] = [];
  try {
    for await (const p of store.list("manifests/", { signal })) {
      const t = p.slice("manifests/".length);
      if (isSpecTag(t)) tags.push(t);
    }
  } catch (e) {
    if (e instanceof SpackleError && e.code === "usage") throw e;
    add({
      kind: kindOf(e) === "corrupt" ? "unreachable" : kindOf(e),
      code: "read_failed",
      path: "manifests/",
      message: `Cannot list the tags of ${client.display}: ${errorMessage(e)}`,
    });
  }
  tags.sort();

  // The index, and what it says is in the cache.
  const indexed = new Map<string, string>();
  try {
    const m = await client.getManifest(OCI_INDEX_TAG, { accept: MANIFEST_TYPES, signal });
    const man = parseOciManifest(m.bytes, `"${OCI_INDEX_TAG}"`);
    const layer = man.layers[0];
    if (!layer) throw new NotFoundError(`"${OCI_INDEX_TAG}" has no layer`);
    const bytes = await client.readBlobBytes(layer.digest, layer.size, signal);
    checked.blobs++;
    checked.bytes += bytes.byteLength;
    const idx = parseIndex(new TextDecoder().decode(bytes), 3, `index blob "${layer.digest}"`);
    for (const r of idx.refs) if (r.inBuildcache) indexed.set(r.hash, `${r.name}@${r.version}`);
  } catch (e) {
    if (e instanceof NotFoundError && /manifest unknown|does not exist/.test(e.message)) {
      add({
        kind: "notice",
        code: "index_missing",
        path: `manifests/${OCI_INDEX_TAG}`,
        message: `There is no "${OCI_INDEX_TAG}" index (\`spackle update-index\` writes one)`,
      });
    } else {
      add({
        kind: kindOf(e),
        code: "index_invalid",
        path: `manifests/${OCI_INDEX_TAG}`,
        message: `The index "${OCI_INDEX_TAG}" is unusable: ${errorMessage(e)}`,
      });
    }
  }

  let sampled = false;
  let todo = tags;
  if (opts.sample !== undefined && opts.sample < tags.length) {
    const rnd = opts.random ?? Math.random;
    todo = [...tags].sort(() => rnd() - 0.5).slice(0, opts.sample);
    sampled = true;
  }
  const blobs = new Map<string, Promise<boolean>>();
  const checkBlob = (
    d: { digest: string; size: number },
    ctx: { spec: string; what: string; diffId?: string },
  ): Promise<boolean> => {
    let p = blobs.get(d.digest + (ctx.diffId ?? ""));
    if (p) return p;
    p = (async () => {
      const path = blobPathOf(d.digest);
      let body: ReadableStream<Uint8Array>;
      try {
        body = await client.getBlob(d.digest, { signal });
      } catch (e) {
        add({
          kind: kindOf(e),
          code: e instanceof NotFoundError ? "blob_missing" : "read_failed",
          path,
          spec: ctx.spec,
          message: `The ${ctx.what} "${d.digest}" of ${ctx.spec} cannot be read: ${
            errorMessage(e)
          }`,
        });
        return false;
      }
      const h = createHash("sha256");
      const u = ctx.diffId ? createHash("sha256") : undefined;
      let size = 0;
      const ds = u ? new DecompressionStream("gzip") : undefined;
      const w = ds?.writable.getWriter();
      const unz = ds
        ? (async () => {
          for await (const c of ds.readable) u!.update(c);
        })()
        : undefined;
      unz?.catch(() => {});
      try {
        for await (const c of body) {
          h.update(c);
          size += c.byteLength;
          if (w) await w.write(c as Uint8Array<ArrayBuffer>);
        }
        await w?.close();
        await unz;
      } catch (e) {
        add({
          kind: kindOf(e) === "unreachable" && w ? "corrupt" : kindOf(e),
          code: "read_failed",
          path,
          spec: ctx.spec,
          message: `The ${ctx.what} "${d.digest}" of ${ctx.spec} cannot be read: ${
            errorMessage(e)
          }`,
        });
        return false;
      }
      checked.blobs++;
      checked.bytes += size;
      const got = "sha256:" + h.digest("hex");
      if (got !== d.digest || size !== d.size) {
        add({
          kind: "corrupt",
          code: size < d.size ? "blob_truncated" : "digest_mismatch",
          path,
          spec: ctx.spec,
          message:
            `The ${ctx.what} "${d.digest}" of ${ctx.spec} has sha256 "${got}" and ${size} bytes (${d.size} declared)`,
        });
        return false;
      }
      if (u && "sha256:" + u.digest("hex") !== ctx.diffId) {
        add({
          kind: "corrupt",
          code: "diff_id_mismatch",
          path,
          spec: ctx.spec,
          message: `The ${ctx.what} "${d.digest}" of ${ctx.spec} uncompresses to sha256 "sha256:${
            u.digest("hex")
          }", but the config's diff_id is "${ctx.diffId}"`,
        });
        return false;
      }
      return true;
    })();
    blobs.set(d.digest + (ctx.diffId ?? ""), p);
    return p;
  };

  const depLayers: { l: { digest: string; size: number }; spec: string }[] = [];
  let done = 0;
  let next = 0;
  const tagged = new Set<string>();
  const worker = async () => {
    while (next < todo.length) {
      const tag = todo[next++];
      const path = `manifests/${tag}`;
      const parsed = parseSpecTag(tag);
      const spec = parsed ? `${parsed.name}@${parsed.version}/${parsed.hash}` : tag;
      if (parsed) tagged.add(parsed.hash);
      try {
        const m = await client.getManifest(tag, { accept: MANIFEST_TYPES, signal });
        const man = parseOciManifest(m.bytes, `manifest "${tag}"`);
        const cfgBytes = await client.readBlobBytes(man.config.digest, man.config.size, signal);
        checked.blobs++;
        checked.bytes += cfgBytes.byteLength;
        const cfg = JSON.parse(new TextDecoder().decode(cfgBytes)) as Record<string, unknown>;
        if (!("spec" in cfg)) throw new NotFoundError(`its config holds no "spec"`);
        const { parseSpecJson } = await import("../spec/parse.ts");
        const dag = parseSpecJson(cfg, `config of "${tag}"`);
        if (parsed && dag.root !== parsed.hash) {
          add({
            kind: "corrupt",
            code: "hash_mismatch",
            path,
            spec,
            message: `The image "${tag}" holds the spec "${dag.root}", not "${parsed.hash}"`,
          });
        }
        const blv = cfg.buildcache_layout_version;
        if (typeof blv === "number" && blv > 3) {
          add({
            kind: "inconsistent",
            code: "layout_too_new",
            path,
            spec,
            message:
              `The config of "${tag}" has buildcache_layout_version ${blv} (Spack reads up to 3)`,
          });
        }
        const last = man.layers.at(-1);
        if (!last) throw new NotFoundError("the image has no layers");
        const sum = (cfg.binary_cache_checksum as { hash?: string } | undefined)?.hash;
        if (sum !== undefined && `sha256:${sum}` !== last.digest) {
          add({
            kind: "corrupt",
            code: "checksum_mismatch",
            path,
            spec,
            message:
              `The config of "${tag}" names tarball sha256 "${sum}", the last layer is "${last.digest}"`,
          });
        }
        const diffs = (cfg.rootfs as { diff_ids?: string[] } | undefined)?.diff_ids ?? [];
        if (diffs.length !== man.layers.length) {
          add({
            kind: "inconsistent",
            code: "diff_ids_count",
            path,
            spec,
            message:
              `The config of "${tag}" has ${diffs.length} diff_ids for ${man.layers.length} layers`,
          });
        }
        await checkBlob(last, { spec, what: "tarball layer", diffId: diffs.at(-1) });
        // Dependency layers are checked after every image's own layer (most are one).
        for (const l of man.layers.slice(0, -1)) depLayers.push({ l, spec });
        checked.entries++;
        checked.unsigned++;
        if (opts.requireSignatures) {
          add({
            kind: "untrusted",
            code: "unsigned",
            path,
            spec,
            message: `${spec} is unsigned (OCI build caches are never signed)`,
          });
        }
      } catch (e) {
        add({
          kind: kindOf(e),
          code: "manifest_invalid",
          path,
          spec,
          message: `The image "${tag}" is unusable: ${errorMessage(e)}`,
        });
      }
      opts.onProgress?.({ done: ++done, total: todo.length, bytes: checked.bytes });
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.jobs ?? 4) }, worker));
  for (const { l, spec } of depLayers) {
    if ([...blobs.keys()].some((k) => k.startsWith(l.digest))) continue;
    await checkBlob(l, { spec, what: "dependency layer" });
  }

  if (!sampled) {
    for (const [hash, what] of indexed) {
      if (!tagged.has(hash)) {
        add({
          kind: "inconsistent",
          code: "index_lists_missing",
          path: `manifests/${OCI_INDEX_TAG}`,
          spec: `${what}/${hash}`,
          message: `The index lists ${what}/${hash}, which has no image`,
        });
      }
    }
    if (indexed.size) {
      for (const hash of tagged) {
        if (!indexed.has(hash)) {
          add({
            kind: "inconsistent",
            code: "not_in_index",
            path: `manifests/${OCI_INDEX_TAG}`,
            spec: hash,
            message: `The image of ${hash} is not in the index (\`spackle update-index\` adds it)`,
          });
        }
      }
    }
  }
  const FLAGS = VERIFY_FLAGS;
  let flags = 0;
  for (const f of findings) if (f.kind !== "notice") flags |= FLAGS[f.kind];
  const order: Record<FindingKind, number> = {
    corrupt: 0,
    untrusted: 1,
    unreachable: 2,
    inconsistent: 3,
    notice: 4,
  };
  findings.sort((a, b) => order[a.kind] - order[b.kind] || a.path.localeCompare(b.path));
  return { url: store.url.href, layouts: [3], sampled, checked, findings, flags };
}
