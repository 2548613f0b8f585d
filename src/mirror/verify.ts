/**
 * `verify`: an fsck for a build cache. Every manifest (v3) and spec file (v2) parses; every
 * blob it names exists with the right size and sha256; signatures verify against a keyring
 * (or are reported unsigned); the index agrees with the metadata; blobs nothing names are
 * reported as orphans; the v2 and v3 parts of a migrated mirror agree.
 *
 * Findings have a kind; the kinds of the errors found make the exit flags (`VERIFY_FLAGS`),
 * as `nix store verify` does.
 *
 * This is the driver: each check is a module of `verify/` (detect, v3, v2, blobs, signatures,
 * consistency, temporaries), reading the mirror through the layout layer's tolerant readers.
 *
 * @module
 */
import type { ReadStore } from "../storage/store.ts";
import { isRegistryStore } from "../storage/registry/store.ts";
import { runPool } from "../core/pool.ts";
import { compareIndex, compareLayouts } from "./verify/consistency.ts";
import { detect, type Scan } from "./verify/detect.ts";
import type { Task } from "./verify/entries.ts";
import { sampleOf, VerifyRun } from "./verify/run.ts";
import { reportTemporaries } from "./verify/temporaries.ts";
import { checkV2Entry, gatherV2, reportOrphanTarballs, type V2Part } from "./verify/v2.ts";
import {
  checkOtherV3Manifests,
  checkV3Entry,
  gatherV3,
  reportOrphanBlobs,
  type V3Part,
} from "./verify/v3.ts";
import type { VerifyOptions, VerifyReport } from "./verify_report.ts";

export {
  type Finding,
  type FindingKind,
  VERIFY_FLAGS,
  type VerifyOptions,
  type VerifyReport,
} from "./verify_report.ts";

/**
 * Checks a whole mirror (or a sample of it) and reports every problem found.
 *
 * @example Check a whole mirror
 * ```ts
 * import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * import {
 *   openStore,
 *   prefixSource,
 *   pushSpecs,
 *   specsToPush,
 *   type Store,
 *   updateIndex,
 *   V3Writer,
 *   verifyMirror,
 * } from "@spackle/spackle";
 *
 * // A build cache with one package, pushed from an installed prefix (files + .spack/spec.json).
 * const dir = mkdtempSync(join(tmpdir(), "spackle-example-"));
 * const hash = "a".repeat(32);
 * const prefix = join(dir, "tree", "linux-x86_64", `hello-1.0-${hash}`);
 * mkdirSync(join(prefix, ".spack"), { recursive: true });
 * writeFileSync(join(prefix, "hello.txt"), `hello from ${prefix}\n`);
 * const arch = { platform: "linux", platform_os: "debian12", target: "x86_64" };
 * const node = { name: "hello", version: "1.0", arch, hash };
 * const spec = { spec: { _meta: { version: 5 }, nodes: [node] } };
 * writeFileSync(join(prefix, ".spack", "spec.json"), JSON.stringify(spec));
 * const installed = prefixSource([prefix]);
 * const writer = new V3Writer(await openStore(join(dir, "mirror"), { writable: true }) as Store);
 * await pushSpecs(specsToPush(installed.roots, installed).items, installed, writer);
 * await updateIndex(writer);
 *
 * const report = await verifyMirror(await openStore(join(dir, "mirror")));
 * // Findings name each problem; flags is 0 when the mirror is sound.
 * if (report.flags !== 0) throw new Error(JSON.stringify(report.findings));
 * console.log(`${report.checked.entries} entries, ${report.checked.blobs} blobs checked`);
 * rmSync(dir, { recursive: true, force: true });
 * ```
 */
export async function verifyMirror(
  store: ReadStore,
  opts: VerifyOptions = {},
): Promise<VerifyReport> {
  if (isRegistryStore(store)) {
    const { verifyOciMirror } = await import("./oci_verify.ts");
    return await verifyOciMirror(store, opts);
  }
  const run = new VerifyRun(store, opts);
  const scan = await detect(run);
  const v3: V3Part = scan.hasV3 ? await gatherV3(run, scan) : { tasks: [] };
  const v2: V2Part = scan.hasV2 ? await gatherV2(run, scan) : { tasks: [] };
  const { picked, sampled } = sampleOf([...v3.tasks, ...v2.tasks], opts);
  const tarballs = { v2: new Map<string, string>(), v3: new Map<string, string>() };
  await checkEntries(run, picked, v2, tarballs);

  const sample = { sampled, picked: new Set(picked) };
  compareIndex(run, { ...v3, layout: 3, enumerated: !!scan.v3Listing }, sample);
  compareIndex(run, { ...v2, layout: 2, enumerated: !!scan.v2Listing }, sample);
  if (scan.hasV2 && scan.hasV3) {
    compareLayouts(run, v2.tasks, tarballs, !sampled && !!scan.v3Listing);
  }
  if (!sampled) await checkWholeMirror(run, scan, v3, v2);
  return run.report(scan.layouts, sampled);
}

/** Checks every entry picked, `opts.jobs` at a time, telling `onProgress` after each. */
async function checkEntries(
  run: VerifyRun,
  tasks: Task[],
  v2: V2Part,
  tarballs: { v2: Map<string, string>; v3: Map<string, string> },
): Promise<void> {
  let done = 0;
  await runPool(tasks, run.opts.jobs ?? 4, async (t) => {
    run.signal?.throwIfAborted();
    if (t.layout === 3) await checkV3Entry(run, t, tarballs.v3);
    else await checkV2Entry(run, t, v2, tarballs.v2);
    run.checked.entries++;
    run.opts.onProgress?.({ done: ++done, total: tasks.length, bytes: run.checked.bytes });
  });
}

/** The checks that need the whole mirror (skipped for a sample): orphans, temporaries. */
async function checkWholeMirror(run: VerifyRun, scan: Scan, v3: V3Part, v2: V2Part) {
  if (scan.hasV3 && v3.listing) {
    await checkOtherV3Manifests(run, v3.listing);
    await reportOrphanBlobs(run);
  }
  if (scan.hasV2) reportOrphanTarballs(run, v2);
  reportTemporaries(run);
}
