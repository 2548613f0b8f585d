/**
 * Which layouts a mirror holds: v3 (`v3/layout.json` or a v3 index manifest), v2
 * (`build_cache/index.json` or spec files in `build_cache/`), or both (then v3 is read and a
 * note says so).
 *
 * @module
 */
import { NotFoundError } from "../errors.ts";
import type { ReadStore } from "../storage/store.ts";
import { parseV2SpecPath, V2_DIR, V2_INDEX } from "./v2/paths.ts";
import { V3_LAYOUT_JSON, V3_SPEC_DIR, v3IndexManifestPath } from "./v3/paths.ts";

/** What detection found. */
export interface LayoutInfo {
  /** Layouts present, preferred first. */
  versions: (2 | 3)[];
  /** The layout read by default. */
  primary: 2 | 3;
  /** Things worth telling (both layouts present, legacy files, no index). */
  notes: string[];
}

async function anyUnder(
  store: ReadStore,
  prefix: string,
  pred: (p: string) => boolean,
  signal?: AbortSignal,
): Promise<boolean> {
  if (!store.list) return false;
  try {
    for await (const p of store.list(prefix, { signal })) if (pred(p)) return true;
  } catch (e) {
    if (!(e instanceof NotFoundError)) throw e;
  }
  return false;
}

/** Detects the layouts of the mirror in `store`; NotFoundError when it holds no build cache. */
export async function detectLayout(
  store: ReadStore,
  opts: { signal?: AbortSignal } = {},
): Promise<LayoutInfo> {
  const signal = opts.signal;
  // All three probes run at once; a failure (unreachable, wrong credentials) is reported for
  // the first of them in this order, whichever failed first, so the error is the same each time.
  const probes = await Promise.allSettled([
    store.stat(V3_LAYOUT_JSON, { signal }),
    store.stat(v3IndexManifestPath(), { signal }),
    store.stat(V2_INDEX, { signal }),
  ]);
  const [layoutJson, v3Index, v2Index] = probes.map((p) => {
    if (p.status === "rejected") throw p.reason;
    return p.value;
  });
  const notes: string[] = [];
  const v3 = !!(layoutJson || v3Index) ||
    await anyUnder(store, V3_SPEC_DIR, (p) => p.endsWith(".spec.manifest.json"), signal);
  let legacy = false;
  const v2 = !!v2Index || await anyUnder(store, V2_DIR, (p) => {
    const m = parseV2SpecPath(p);
    if (m?.kind === "yaml") legacy = true;
    return !!m;
  }, signal);
  if (v3 && !layoutJson) notes.push(`v3 part has no "${V3_LAYOUT_JSON}"`);
  if (legacy) {
    notes.push(
      'v2 part holds legacy ".spec.yaml" entries (Spack 0.17 or older): listed, not installable',
    );
  }
  if (v3 && v2) {
    notes.push(
      "mirror holds both layouts (v3 and v2, as after `spack buildcache migrate`): reading v3",
    );
    return { versions: [3, 2], primary: 3, notes };
  }
  if (v3) return { versions: [3], primary: 3, notes };
  if (v2) return { versions: [2], primary: 2, notes };
  throw new NotFoundError(
    `Cannot find a build cache at "${store.url.href}": no "${V3_LAYOUT_JSON}", no v3 index, no "${V2_INDEX}" and no spec files in "${V2_DIR}"`,
  );
}
