/**
 * `verify` of a build cache in an OCI registry: the `index.spack` image and its index blob,
 * and for every spec tag (or a sample) its manifest, its config (digest, size, a spec whose
 * root is the tag's hash, `buildcache_layout_version` <= 3, the checksum of the last layer),
 * every layer blob streamed and hashed (each distinct blob once), the `diff_id` of the spec's
 * own layer (sha256 of the uncompressed tar), and that index and tags agree. OCI caches are
 * unsigned: each entry counts as unsigned (untrusted with `requireSignatures`).
 *
 * This is the driver; the checks are in `verify/oci.ts`.
 *
 * @module
 */
import { OCI_INDEX_TAG, parseSpecTag } from "../layout/oci/reader.ts";
import { manifestPathOf, type RegistryStore } from "../storage/registry/store.ts";
import {
  addOci,
  type Blob,
  checkImage,
  checkLayer,
  layerChecked,
  listSpecTags,
  readOciIndex,
} from "./verify/oci.ts";
import { sampleOf, VerifyRun } from "./verify/run.ts";
import type { VerifyOptions, VerifyReport } from "./verify_report.ts";

/** Checks a build cache in a registry repository (see the module doc). */
export async function verifyOciMirror(
  store: RegistryStore,
  opts: VerifyOptions = {},
): Promise<VerifyReport> {
  const run = new VerifyRun(store, opts);
  const tags = await listSpecTags(run, store);
  const indexed = await readOciIndex(run, store);
  const { picked, sampled } = sampleOf(tags, opts);
  const { tagged, depLayers } = await checkImages(run, store, picked);
  for (const { layer, spec } of depLayers) {
    if (layerChecked(run, layer.digest)) continue;
    await checkLayer(run, store, layer, { spec, what: "dependency layer" });
  }
  if (!sampled) compareIndexAndTags(run, indexed, tagged);
  return run.report([3], sampled);
}

/** Checks every image picked, `opts.jobs` at a time. */
async function checkImages(run: VerifyRun, store: RegistryStore, todo: string[]) {
  const tagged = new Set<string>();
  const depLayers: { layer: Blob; spec: string }[] = [];
  let done = 0;
  let next = 0;
  const worker = async () => {
    while (next < todo.length) {
      const tag = todo[next++];
      const parsed = parseSpecTag(tag);
      const spec = parsed ? `${parsed.name}@${parsed.version}/${parsed.hash}` : tag;
      if (parsed) tagged.add(parsed.hash);
      const res = await checkImage(run, store, tag, spec);
      if (res) {
        for (const layer of res.depLayers) depLayers.push({ layer, spec });
        run.checked.entries++;
        run.checked.unsigned++;
        if (run.opts.requireSignatures) {
          addOci(run, {
            kind: "untrusted",
            code: "unsigned",
            path: manifestPathOf(tag),
            spec,
            message: `${spec} is unsigned (OCI build caches are never signed)`,
          });
        }
      }
      run.opts.onProgress?.({ done: ++done, total: todo.length, bytes: run.checked.bytes });
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, run.opts.jobs ?? 4) }, worker));
  return { tagged, depLayers };
}

/** The index against the tags: entries without an image, images not in the index. */
function compareIndexAndTags(
  run: VerifyRun,
  indexed: Map<string, string>,
  tagged: Set<string>,
): void {
  const path = manifestPathOf(OCI_INDEX_TAG);
  for (const [hash, what] of indexed) {
    if (tagged.has(hash)) continue;
    addOci(run, {
      kind: "inconsistent",
      code: "index_lists_missing",
      path,
      spec: `${what}/${hash}`,
      message: `The index lists ${what}/${hash}, which has no image`,
    });
  }
  if (!indexed.size) return;
  for (const hash of tagged) {
    if (indexed.has(hash)) continue;
    addOci(run, {
      kind: "inconsistent",
      code: "not_in_index",
      path,
      spec: hash,
      message: `The image of ${hash} is not in the index (\`spackle update-index\` adds it)`,
    });
  }
}
