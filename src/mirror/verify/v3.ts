/**
 * Checks of the v3 part: `layout.json`, the index (manifest and blob), every spec manifest
 * (signature, records, each blob, the spec it holds), the other manifests (keys, index views)
 * and the blobs nothing names. Paths, manifests and records are read by the layout layer's
 * tolerant v3 reader.
 *
 * @module
 */
import { runPool } from "../../core/pool.ts";
import { inspectIndex } from "../../layout/inspect.ts";
import type { EntryRef } from "../../layout/types.ts";
import {
  classifyV3Listing,
  inspectV3Manifest,
  inspectV3ManifestBody,
  v3BlobOf,
  type V3Listing,
  v3SpecManifestNames,
} from "../../layout/v3/inspect.ts";
import {
  V3_BLOB_DIR,
  V3_LAYOUT_JSON,
  V3_SPEC_DIR,
  v3IndexManifestPath,
  v3SpecManifestPath,
} from "../../layout/v3/paths.ts";
import { checkBlob } from "./blobs.ts";
import type { Scan } from "./detect.ts";
import { listAll } from "./detect.ts";
import { checkSpecDoc, type Task } from "./entries.ts";
import { readMetadata } from "./metadata.ts";
import type { VerifyRun } from "./run.ts";
import { checkSignature } from "./signatures.ts";

/** What gathering the v3 part found. */
export interface V3Part {
  tasks: Task[];
  /** The index entries, when the index could be read. */
  index?: EntryRef[];
  /** What the listing holds, where the store lists. */
  listing?: V3Listing;
}

function taskOf(path: string, fromIndex: boolean): Task {
  const n = v3SpecManifestNames(path);
  return { layout: 3, path, hash: n.hash, label: `${n.name}@${n.version}/${n.hash}`, fromIndex };
}

/** Checks `layout.json` and the index, and finds the spec manifests to check. */
export async function gatherV3(run: VerifyRun, scan: Scan): Promise<V3Part> {
  const listing = scan.v3Listing ? classifyV3Listing(scan.v3Listing) : undefined;
  await checkLayoutJson(run, listing);
  const index = await readIndexV3(run, listing);
  if (listing) {
    return { tasks: listing.specManifests.map((p) => taskOf(p, false)), index, listing };
  }
  if (!index) {
    run.add({
      kind: "notice",
      code: "cannot_enumerate",
      path: V3_SPEC_DIR,
      layout: 3,
      message: "The store cannot list and has no index: no v3 entry could be found to check",
    });
  }
  const tasks = (index ?? []).filter((e) => e.inBuildcache).map((e) =>
    taskOf(v3SpecManifestPath(e.name, e.version, e.hash), true)
  );
  return { tasks, index };
}

async function checkLayoutJson(run: VerifyRun, listing: V3Listing | undefined): Promise<void> {
  if (listing && !listing.hasLayoutJson) {
    run.add({
      kind: "corrupt",
      code: "metadata_missing",
      path: V3_LAYOUT_JSON,
      layout: 3,
      message: `"${V3_LAYOUT_JSON}" is missing (Spack does not recognise the mirror without it)`,
    });
    return;
  }
  const text = await readMetadata(run, V3_LAYOUT_JSON, { layout: 3 });
  if (text === undefined) return;
  try {
    JSON.parse(text);
  } catch (e) {
    run.add({
      kind: "corrupt",
      code: "metadata_invalid",
      path: V3_LAYOUT_JSON,
      layout: 3,
      message: `"${V3_LAYOUT_JSON}" is not JSON: ${(e as Error).message}`,
    });
  }
}

async function readIndexV3(
  run: VerifyRun,
  listing: V3Listing | undefined,
): Promise<EntryRef[] | undefined> {
  const mpath = v3IndexManifestPath();
  if (listing && !listing.hasIndex) {
    run.add({
      kind: "notice",
      code: "no_index",
      path: mpath,
      layout: 3,
      message: "The v3 part has no index (spackle and Spack fall back to listing manifests)",
    });
    return undefined;
  }
  const text = await readMetadata(run, mpath, { layout: 3 });
  if (text === undefined) return undefined;
  const m = inspectV3Manifest(text, `"${mpath}"`);
  const rec = m.ok ? m.value.index : undefined;
  if (!rec) {
    run.add({
      kind: "corrupt",
      code: "manifest_invalid",
      path: mpath,
      layout: 3,
      message: `The index manifest is invalid: ${m.ok ? "no index record" : m.problem}`,
    });
    return undefined;
  }
  const path = v3BlobOf(rec);
  const res = await checkBlob(run, { checksum: rec.checksum, size: rec.size }, {
    path,
    layout: 3,
    what: "index blob",
    keep: true,
  });
  if (!res.bytes) return undefined;
  const idx = inspectIndex(res.bytes, 3, `"${path}"`);
  if (!idx.ok) {
    run.add({
      kind: "corrupt",
      code: "index_invalid",
      path,
      layout: 3,
      message: `The v3 index does not parse: ${idx.problem}`,
    });
    return undefined;
  }
  return idx.value.refs;
}

/**
 * Checks a spec manifest: signature, records, every blob it names, the spec blob's content.
 * Records the tarball checksum of the entry in `tarballs` (for comparing with v2).
 */
export async function checkV3Entry(
  run: VerifyRun,
  t: Task,
  tarballs: Map<string, string>,
): Promise<void> {
  const text = await readMetadata(run, t.path, {
    layout: 3,
    spec: t.label,
    fromIndex: t.fromIndex,
  });
  if (text === undefined) return;
  const ctx = { path: t.path, layout: 3 as const, spec: t.label };
  const body = await checkSignature(run, text, { ...ctx, mayBeSigned: true });
  if (body === undefined) return;
  const m = inspectV3ManifestBody(body, `"${t.path}"`);
  if (!m.ok) {
    run.add({
      ...ctx,
      kind: "corrupt",
      code: "manifest_invalid",
      message: `The manifest of "${t.label}" is invalid: ${m.problem}`,
    });
    return;
  }
  const { records, tarball, spec } = m.value;
  for (const [rec, what] of [[tarball, "tarball"], [spec, "spec"]] as const) {
    if (!rec) {
      run.add({
        ...ctx,
        kind: "corrupt",
        code: "record_missing",
        message: `The manifest of "${t.label}" has no ${what} record`,
      });
    }
  }
  if (tarball) tarballs.set(t.hash, tarball.checksum);
  await Promise.all(records.map(async (r) => {
    const isSpec = r === spec;
    const path = v3BlobOf(r);
    const res = await checkBlob(run, { checksum: r.checksum, size: r.size }, {
      path,
      spec: t.label,
      layout: 3,
      what: isSpec ? "spec blob" : r === tarball ? "tarball blob" : "blob",
      keep: isSpec,
    });
    if (isSpec && res.bytes) checkSpecDoc(run, res.bytes, t, path);
  }));
}

/** Checks the key manifests and index views, and their blobs. */
export async function checkOtherV3Manifests(run: VerifyRun, listing: V3Listing): Promise<void> {
  const paths = [...listing.keyManifests, ...listing.indexViews];
  await runPool(paths, run.opts.jobs ?? 4, async (path) => {
    const text = await readMetadata(run, path, { layout: 3 });
    if (text === undefined) return;
    const m = inspectV3Manifest(text, `"${path}"`);
    if (!m.ok) {
      run.add({
        kind: "corrupt",
        code: "manifest_invalid",
        path,
        layout: 3,
        message: `The manifest "${path}" is invalid: ${m.problem}`,
      });
      return;
    }
    for (const r of m.value.records) {
      await checkBlob(run, { checksum: r.checksum, size: r.size }, {
        path: v3BlobOf(r),
        layout: 3,
        what: "blob",
      });
    }
  });
}

/** Notices for the blobs no manifest names (after every manifest was checked). */
export async function reportOrphanBlobs(run: VerifyRun): Promise<void> {
  for (const p of await listAll(run, V3_BLOB_DIR)) {
    if (run.referenced.has(p)) continue;
    run.add({
      kind: "notice",
      code: "orphan_blob",
      path: p,
      layout: 3,
      message: `The blob "${p}" is named by no manifest (\`spackle prune\` removes it)`,
    });
  }
}
