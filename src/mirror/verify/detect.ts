/**
 * What verify finds first: the listings of both layout parts (where the store can list) and
 * which layouts the mirror has (by `v3/layout.json` and `build_cache/index.json` otherwise).
 *
 * @module
 */
import { V2_DIR, V2_INDEX } from "../../layout/v2/paths.ts";
import { V3_DIR, V3_LAYOUT_JSON } from "../../layout/v3/paths.ts";
import { statOrReport } from "./metadata.ts";
import type { VerifyRun } from "./run.ts";

/** The layouts of a mirror and, where the store can list, the paths of each part. */
export interface Scan {
  canList: boolean;
  v3Listing?: string[];
  v2Listing?: string[];
  hasV3: boolean;
  hasV2: boolean;
  /** Layouts found, v3 first. */
  layouts: (2 | 3)[];
}

/** Every path under `prefix` (the store can list). */
export async function listAll(run: VerifyRun, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const p of run.store.list!(prefix, { signal: run.signal })) out.push(p);
  return out;
}

/** Lists or probes both parts; a finding when the mirror has neither. */
export async function detect(run: VerifyRun): Promise<Scan> {
  const canList = typeof run.store.list === "function";
  const v3Listing = canList ? await listAll(run, V3_DIR) : undefined;
  const v2Listing = canList ? await listAll(run, V2_DIR) : undefined;
  let failed = false;
  const probe = async (path: string) => {
    const r = await statOrReport(run, path, {});
    failed ||= !r.ok;
    return r.exists;
  };
  const hasV3 = v3Listing ? v3Listing.length > 0 : await probe(V3_LAYOUT_JSON);
  const hasV2 = v2Listing ? v2Listing.length > 0 : await probe(V2_INDEX);
  const layouts: (2 | 3)[] = [];
  if (hasV3) layouts.push(3);
  if (hasV2) layouts.push(2);
  if (!layouts.length && !failed) {
    const url = run.store.url.href;
    run.add({
      kind: "corrupt",
      code: "no_build_cache",
      path: "",
      message: canList
        ? `No build cache at ${url}: neither "${V3_LAYOUT_JSON}" nor "${V2_DIR}" exists`
        : `No build cache at ${url}: neither "${V3_LAYOUT_JSON}" nor ` +
          `"${V2_INDEX}" exists (a store that cannot list is found by these)`,
    });
  }
  return { canList, v3Listing, v2Listing, hasV3, hasV2, layouts };
}
