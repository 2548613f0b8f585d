/**
 * Checks of the v2 part: the index and its hash file, every spec file (found by listing, or by
 * the names the index implies where the store cannot list): signature, JSON, the spec it holds,
 * its tarball against `binary_cache_checksum`; legacy files and tarballs without a spec file.
 * Names and spec files are read by the layout layer's tolerant v2 reader.
 *
 * @module
 */
import { sha256Hex } from "../../core/digest.ts";
import { collect } from "../../core/streams.ts";
import { inspectIndex } from "../../layout/inspect.ts";
import type { EntryRef } from "../../layout/types.ts";
import {
  classifyV2Listing,
  inspectV2SpecFile,
  v2IndexHashOf,
  type V2Listing,
  v2NamesOfRef,
  v2StemNames,
  v2StemOfSpecPath,
  v2UnknownTarballPath,
} from "../../layout/v2/inspect.ts";
import {
  V2_DIR,
  V2_INDEX,
  V2_INDEX_HASH,
  v2SpecPath,
  v2TarballPath,
} from "../../layout/v2/paths.ts";
import { checkBlob } from "./blobs.ts";
import type { Scan } from "./detect.ts";
import { checkSpecDoc, type Task } from "./entries.ts";
import { readMetadata, statOrReport } from "./metadata.ts";
import { findingKindOf, type VerifyRun } from "./run.ts";
import { checkSignature } from "./signatures.ts";

/** What gathering the v2 part found. */
export interface V2Part {
  tasks: Task[];
  index?: EntryRef[];
  listing?: V2Listing;
}

/** Checks the index and finds the spec files to check. */
export async function gatherV2(run: VerifyRun, scan: Scan): Promise<V2Part> {
  const listing = scan.v2Listing ? classifyV2Listing(scan.v2Listing) : undefined;
  const index = await readIndexV2(run, listing);
  if (listing) {
    for (const { path } of listing.legacy) {
      run.add({
        kind: "notice",
        code: "legacy_metadata",
        path,
        layout: 2,
        message:
          `"${path}" is a .spec.yaml file (Spack 0.16 and older), which Spack no longer reads`,
      });
    }
    const tasks: Task[] = [];
    for (const [stem, path] of listing.specFiles) {
      tasks.push({ layout: 2, path, ...v2StemNames(stem) });
    }
    return { tasks, index, listing };
  }
  return { tasks: tasksFromIndex(run, index), index };
}

/** The entries of the index, by the file names it implies (a store that cannot list). */
function tasksFromIndex(run: VerifyRun, index: EntryRef[] | undefined): Task[] {
  const tasks: Task[] = [];
  let unnamed = 0;
  for (const e of index ?? []) {
    if (!e.inBuildcache) continue;
    const names = v2NamesOfRef(e);
    if (!names) {
      unnamed++;
      continue;
    }
    tasks.push({
      layout: 2,
      path: v2SpecPath(names, true),
      alt: v2SpecPath(names, false),
      tarball: v2TarballPath(names),
      hash: e.hash,
      label: `${e.name}@${e.version}/${e.hash}`,
      fromIndex: true,
    });
  }
  if (!index || unnamed) {
    run.add({
      kind: "notice",
      code: "cannot_enumerate",
      path: V2_DIR,
      layout: 2,
      message: index
        ? `The store cannot list, and ${unnamed} index entries lack what their file names are made of: they were not checked`
        : "The store cannot list and has no v2 index: no v2 entry could be found to check",
    });
  }
  return tasks;
}

async function readIndexV2(
  run: VerifyRun,
  listing: V2Listing | undefined,
): Promise<EntryRef[] | undefined> {
  const path = V2_INDEX;
  if (listing && !listing.hasIndex) {
    run.add({
      kind: "notice",
      code: "no_index",
      path,
      layout: 2,
      message: "The v2 part has no index.json",
    });
    return undefined;
  }
  let bytes: Uint8Array;
  try {
    bytes = await collect(await run.store.read(path, { signal: run.signal }));
  } catch (e) {
    run.add({
      kind: findingKindOf(e),
      code: "read_failed",
      path,
      layout: 2,
      message: `Cannot read "${path}": ${(e as Error).message}`,
    });
    return undefined;
  }
  run.referenced.add(path);
  if (!listing || listing.hasIndexHash) await checkIndexHash(run, bytes);
  const idx = inspectIndex(bytes, 2, `"${path}"`);
  if (!idx.ok) {
    run.add({
      kind: "corrupt",
      code: "index_invalid",
      path,
      layout: 2,
      message: `The v2 index does not parse: ${idx.problem}`,
    });
    return undefined;
  }
  return idx.value.refs;
}

/** Compares `index.json.hash` with the sha256 of `index.json`. */
async function checkIndexHash(run: VerifyRun, index: Uint8Array): Promise<void> {
  const h = await readMetadata(run, V2_INDEX_HASH, { layout: 2 });
  const want = h === undefined ? undefined : v2IndexHashOf(h);
  const got = sha256Hex(index);
  if (want !== undefined && want !== got) {
    run.add({
      kind: "inconsistent",
      code: "index_hash_mismatch",
      path: V2_INDEX_HASH,
      layout: 2,
      message: `"${V2_INDEX_HASH}" says "${want}" but index.json has sha256 "${got}"`,
    });
  }
}

/**
 * Checks a spec file: signature, JSON, the spec it holds, its tarball. Records the tarball
 * checksum of the entry in `tarballs` (for comparing with v3).
 */
export async function checkV2Entry(
  run: VerifyRun,
  task: Task,
  part: V2Part,
  tarballs: Map<string, string>,
): Promise<void> {
  let t = task;
  if (t.alt) {
    // Signed file first, as Spack does; the unsigned one when there is no signed one.
    const signed = await statOrReport(run, t.path, { layout: 2, spec: t.label });
    if (!signed.ok) return;
    if (!signed.exists) t = { ...t, path: t.alt, alt: undefined };
  }
  const text = await readMetadata(run, t.path, {
    layout: 2,
    spec: t.label,
    fromIndex: t.fromIndex,
  });
  if (text === undefined) return;
  const ctx = { path: t.path, layout: 2 as const, spec: t.label };
  const body = await checkSignature(run, text, { ...ctx, mayBeSigned: t.path.endsWith(".sig") });
  if (body === undefined) return;
  const file = inspectV2SpecFile(body);
  if (!file.ok) {
    run.add({
      ...ctx,
      kind: "corrupt",
      code: "metadata_invalid",
      message: `The spec file of "${t.label}" is not JSON: ${file.problem}`,
    });
    return;
  }
  checkSpecDoc(run, new TextEncoder().encode(body), t, t.path);
  const sum = file.value.tarballSha256;
  if (sum === undefined) {
    run.add({
      ...ctx,
      kind: "corrupt",
      code: "checksum_missing",
      message: `The spec file of "${t.label}" has no sha256 "binary_cache_checksum"`,
    });
    return;
  }
  tarballs.set(t.hash, sum);
  const stem = v2StemOfSpecPath(t.path);
  const tarPath = t.tarball ?? part.listing?.tarballs.get(stem);
  if (!tarPath) {
    run.add({
      ...ctx,
      kind: "corrupt",
      code: "blob_missing",
      path: v2UnknownTarballPath(stem),
      message: `The tarball "${stem}.spack" of "${t.label}" is missing`,
    });
    return;
  }
  await checkBlob(run, { checksum: sum }, {
    path: tarPath,
    spec: t.label,
    layout: 2,
    what: "tarball",
  });
}

/** Notices for the tarballs that have no spec file. */
export function reportOrphanTarballs(run: VerifyRun, part: V2Part): void {
  if (!part.listing) return;
  const stems = new Set(part.tasks.map((t) => v2StemOfSpecPath(t.path)));
  const legacy = new Set(part.listing.legacy.map((l) => l.stem));
  for (const [stem, p] of part.listing.tarballs) {
    if (stems.has(stem) || legacy.has(stem)) continue;
    run.add({
      kind: "notice",
      code: "orphan_tarball",
      path: p,
      layout: 2,
      message: `The tarball "${p}" has no spec file`,
    });
  }
}
