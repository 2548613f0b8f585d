/**
 * Tolerant reading of a v2 build cache (see `../tolerant.ts`): what a listing of `build_cache/`
 * holds, the file names the index implies for an entry, and a spec file's tarball checksum,
 * each as a problem instead of an error when damaged.
 *
 * @module
 */
import { type Tolerant, tolerantly } from "../tolerant.ts";
import type { EntryRef } from "../types.ts";
import { V2_DIR, V2_INDEX, V2_INDEX_HASH, type V2Names } from "./paths.ts";

/** What a listing of `build_cache/` holds. */
export interface V2Listing {
  /** Spec files by stem: the signed one when both exist, as Spack prefers. */
  specFiles: Map<string, string>;
  /** `.spack` tarballs (at any depth) by stem. */
  tarballs: Map<string, string>;
  /** `.spec.yaml` files (Spack 0.16 and older), which Spack no longer reads. */
  legacy: { path: string; stem: string }[];
  /** `index.json` is present. */
  hasIndex: boolean;
  /** `index.json.hash` is present. */
  hasIndexHash: boolean;
}

/** Sorts the paths of a listing of `build_cache/` by what they are. */
export function classifyV2Listing(paths: readonly string[]): V2Listing {
  const out: V2Listing = {
    specFiles: new Map(),
    tarballs: new Map(),
    legacy: [],
    hasIndex: paths.includes(V2_INDEX),
    hasIndexHash: paths.includes(V2_INDEX_HASH),
  };
  for (const p of paths) {
    const rest = p.slice(V2_DIR.length);
    if (rest.endsWith(".spack")) out.tarballs.set(rest.split("/").pop()!.slice(0, -6), p);
    if (rest.includes("/")) continue;
    if (rest.endsWith(".spec.yaml")) {
      out.legacy.push({ path: p, stem: rest.slice(0, -".spec.yaml".length) });
    }
    const m = /^(.*)\.spec\.json(\.sig)?$/.exec(rest);
    if (m && (!out.specFiles.has(m[1]) || m[2])) out.specFiles.set(m[1], p);
  }
  return out;
}

/** The sha256 hex `index.json.hash` holds (its first 64 characters, as Spack writes it). */
export function v2IndexHashOf(text: string): string {
  return text.slice(0, 64);
}

/** The stem of a spec file path (`build_cache/<stem>.spec.json[.sig]`). */
export function v2StemOfSpecPath(path: string): string {
  return path.slice(V2_DIR.length).replace(/\.spec\.json(\.sig)?$/, "");
}

/** Where a finding points for a missing tarball whose directory is unknown. */
export function v2UnknownTarballPath(stem: string): string {
  return `${V2_DIR}.../${stem}.spack`;
}

/** The hash and `name@version/hash`-like label of a listed spec file stem. */
export function v2StemNames(stem: string): { hash: string; label: string } {
  const hash = stem.slice(-32);
  return { hash, label: `${stem.slice(0, -33)}/${hash}` };
}

/**
 * What the v2 file names of an index entry are made of (FORMAT.md 2.2), or undefined when the
 * entry lacks it (an arch). `v2SpecPath` and `v2TarballPath` make the names.
 */
export function v2NamesOfRef(ref: EntryRef): V2Names | undefined {
  const arch = ref.arch?.split("-");
  if (!ref.arch || !arch || arch.length < 3 || arch.some((p) => !p)) return undefined;
  const c = ref.compiler ?? "";
  const at = c.indexOf("@");
  return {
    arch: ref.arch,
    compilerName: at > 0 ? c.slice(0, at) : "none",
    compilerVersion: at > 0 ? c.slice(at + 1) : "none",
    name: ref.name,
    version: ref.version,
    hash: ref.hash,
  };
}

/** What a v2 spec file says of its tarball. */
export interface V2SpecFile {
  doc: Record<string, unknown>;
  /** The sha256 of the tarball (`binary_cache_checksum`), when the file has one. */
  tarballSha256?: string;
}

/** The spec file JSON (signature already removed), or the problem that prevents reading it. */
export function inspectV2SpecFile(body: string): Tolerant<V2SpecFile> {
  return tolerantly(() => {
    const doc = JSON.parse(body) as Record<string, unknown>;
    const sum = doc?.binary_cache_checksum as
      | { hash_algorithm?: unknown; hash?: unknown }
      | undefined;
    const ok = sum?.hash_algorithm === "sha256" && typeof sum.hash === "string";
    return { doc, tarballSha256: ok ? sum.hash as string : undefined };
  });
}
