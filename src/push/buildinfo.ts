/**
 * The buildinfo file `.spack/binary_distribution` as Spack writes it: one line of flow YAML,
 * keys in Spack's order (FORMAT.md 5.3).
 *
 * @module
 */

/** What a push knows about the build side of a prefix. */
export interface BuildinfoMeta {
  /** `<store root>/bin/sbang` (unpadded root). */
  sbangInstallPath: string;
  /** The store root (layout root, padding included). */
  buildpath: string;
  /** Informational: the installation that wrote the tarball. */
  spackprefix: string;
  /** The prefix relative to `buildpath`. */
  relativePrefix: string;
  /** DAG hash -> absolute prefix: the root, its link closure and direct run dependencies. */
  hashToPrefix: Record<string, string>;
}

/** The relocation lists found while packing. */
export interface RelocationLists {
  relocateBinaries: string[];
  relocateLinks: string[];
  relocateTextfiles: string[];
}

/** The prefixes whose mention makes a file relocatable: every prefix, sbang, the store root. */
export function prefixesToRelocate(meta: BuildinfoMeta): string[] {
  return [...Object.values(meta.hashToPrefix), meta.sbangInstallPath, meta.buildpath];
}

const RESERVED = /^(?:true|false|yes|no|on|off|null|~|y|n)$/i;

/** A YAML flow scalar: plain where that reads back as the same string, else double-quoted. */
export function yamlScalar(s: string): string {
  const plain = /^[A-Za-z0-9_/.][A-Za-z0-9_/.+@=%^~-]*$/.test(s) && !RESERVED.test(s) &&
    !/^[-+]?(?:\d[\d_]*(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$/.test(s) && !/^0[xob]/i.test(s) &&
    !/^\.(?:inf|nan)$/i.test(s);
  if (plain) return s;
  return JSON.stringify(s).replace(
    /[\u007f-\u009f\u2028\u2029]/g,
    (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"),
  );
}

function list(xs: string[]): string {
  return "[" + xs.map(yamlScalar).join(", ") + "]";
}

/** Serialises the buildinfo as Spack does (`syaml.dump(..., default_flow_style=True)`). */
export function serializeBuildinfo(meta: BuildinfoMeta, lists: RelocationLists): string {
  const h2p = Object.entries(meta.hashToPrefix).map(([h, p]) =>
    `${yamlScalar(h)}: ${yamlScalar(p)}`
  );
  return "{" + [
    `sbang_install_path: ${yamlScalar(meta.sbangInstallPath)}`,
    `buildpath: ${yamlScalar(meta.buildpath)}`,
    `spackprefix: ${yamlScalar(meta.spackprefix)}`,
    `relative_prefix: ${yamlScalar(meta.relativePrefix)}`,
    "hardlinks_deduped: true",
    `hash_to_prefix: {${h2p.join(", ")}}`,
    `relocate_binaries: ${list(lists.relocateBinaries)}`,
    `relocate_links: ${list(lists.relocateLinks)}`,
    `relocate_textfiles: ${list(lists.relocateTextfiles)}`,
  ].join(", ") + "}\n";
}
