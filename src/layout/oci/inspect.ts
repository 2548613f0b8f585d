/**
 * Tolerant reading of a build cache in a registry (see `../tolerant.ts`): an image manifest
 * and the image config Spack writes (a spec document with the layout version, the tarball
 * checksum and the `diff_ids`), each as a problem instead of an error when damaged.
 *
 * @module
 */
import { NotFoundError } from "../../errors.ts";
import { parseSpec } from "../_spec.ts";
import { type Tolerant, tolerantly, tolerantlyAsync } from "../tolerant.ts";
import { type OciManifestJson, parseOciManifest } from "./reader.ts";

/** An image manifest, or the problem that prevents reading it. */
export function inspectOciManifest(bytes: Uint8Array, label: string): Tolerant<OciManifestJson> {
  return tolerantly(() => parseOciManifest(bytes, label));
}

/** What the config of a spec image says. */
export interface OciConfigView {
  /** The root hash of the spec it holds. */
  root: string;
  /** `buildcache_layout_version`, when a number. */
  layoutVersion?: number;
  /** `binary_cache_checksum.hash`: the sha256 hex of the tarball, when present. */
  tarballSha256?: string;
  /** `rootfs.diff_ids`. */
  diffIds: string[];
}

/** The config of a spec image, or the problem that prevents reading it. */
export function inspectOciConfig(
  bytes: Uint8Array,
  label: string,
): Promise<Tolerant<OciConfigView>> {
  return tolerantlyAsync(async () => {
    const cfg = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
    if (!cfg || typeof cfg !== "object" || !("spec" in cfg)) {
      throw new NotFoundError(`its config holds no "spec"`);
    }
    const dag = await parseSpec(cfg, label);
    const blv = cfg.buildcache_layout_version;
    return {
      root: dag.root,
      layoutVersion: typeof blv === "number" ? blv : undefined,
      tarballSha256: (cfg.binary_cache_checksum as { hash?: string } | undefined)?.hash,
      diffIds: (cfg.rootfs as { diff_ids?: string[] } | undefined)?.diff_ids ?? [],
    };
  });
}
