/**
 * Helpers for the install tests on the fixture mirrors: the packages of a mirror, staging
 * them by hand (extract + relocate), and comparing prefixes with Spack's installed trees.
 *
 * @module
 */
import assert from "node:assert/strict";
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { createReadStream } from "node:fs";
import { fixture } from "./_fixtures.ts";
import { gunzipBytes, gunzipStream, toWebStream } from "../src/core/mod.ts";
import { extractTarball } from "../src/install/extract.ts";
import {
  parseBuildinfo,
  parseFlowMapping,
  prefixMap,
  relocatePrefix,
} from "../src/install/relocate.ts";
import { parse as parseYaml } from "yaml";
import { compareTrees, describePrefix, substTable, type TreeEntry } from "./_install_tree.ts";

/** A package of a fixture mirror. */
export interface FixturePkg {
  name: string;
  version: string;
  hash: string;
  tarball: string;
}

/** The packages of a fixture mirror and their tarball files (v3 manifests, else v2 files). */
export function fixturePackages(mirror: string, layout: 2 | 3): FixturePkg[] {
  const out: FixturePkg[] = [];
  if (layout === 3) {
    const specDir = join(mirror, "v3/manifests/spec");
    for (const pkg of readdirSync(specDir)) {
      for (const f of readdirSync(join(specDir, pkg))) {
        let text = readFileSync(join(specDir, pkg, f), "utf8");
        if (text.startsWith("-----BEGIN PGP SIGNED MESSAGE-----")) {
          text = text.slice(text.indexOf("\n\n") + 2, text.indexOf("-----BEGIN PGP SIGNATURE"));
        }
        const m = JSON.parse(text) as { data: { mediaType: string; checksum: string }[] };
        const blob = (sum: string) => join(mirror, "blobs/sha256", sum.slice(0, 2), sum);
        const tar = m.data.find((d) => d.mediaType.includes("tar+gzip"))!;
        const spec = m.data.find((d) => d.mediaType.includes("spec"))!;
        const doc = JSON.parse(
          new TextDecoder().decode(gunzipBytes(readFileSync(blob(spec.checksum)))),
        );
        const node = doc.spec.nodes[0];
        out.push({
          name: node.name,
          version: node.version,
          hash: node.hash,
          tarball: blob(tar.checksum),
        });
      }
    }
  } else {
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        const p = join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name.endsWith(".spack")) {
          const m = /-([^-]+)-([^-]+)-([a-z0-9]{32})\.spack$/.exec(e.name)!;
          out.push({ name: m[1], version: m[2], hash: m[3], tarball: p });
        }
      }
    };
    walk(join(mirror, "build_cache"));
  }
  return out;
}

/** Extracts and relocates every package of a fixture mirror into `root` (Spack 1.x projection). */
export async function stageFixture(mirror: string, layout: 2 | 3, root: string) {
  const pkgs = fixturePackages(mirror, layout);
  const prefixOf = (p: FixturePkg) =>
    join(root, "linux-x86_64", `${p.name}-${p.version}-${p.hash}`);
  const byHash = new Map(pkgs.map((p) => [p.hash, p]));
  for (const p of pkgs) {
    const staging = join(root, ".spackle-staging", p.hash);
    mkdirSync(staging, { recursive: true });
    const src = toWebStream(createReadStream(p.tarball)).pipeThrough(gunzipStream());
    const res = await extractTarball(src, staging, { label: p.tarball });
    const infoText = readFileSync(join(res.prefixDir, ".spack/binary_distribution"), "utf8");
    const info = parseBuildinfo(infoText);
    // The fast flow-mapping reader agrees with the YAML parser on Spack's own files.
    const fast = parseFlowMapping(infoText);
    if (fast !== undefined) assert.deepEqual(fast, parseYaml(infoText));
    const specs = [...info.hashToPrefix.keys()].filter((h) => byHash.has(h)).map((h) => ({
      hash: h,
      prefix: prefixOf(byHash.get(h)!),
    }));
    const pairs = prefixMap(info, { root, sbangPath: join(root, "bin/sbang"), specs });
    relocatePrefix(res.prefixDir, info, pairs, res.entries, p.name);
    mkdirSync(join(root, "linux-x86_64"), { recursive: true });
    renameSync(res.prefixDir, prefixOf(p));
    rmSync(staging, { recursive: true });
  }
  return pkgs.map((p) => ({ name: p.name, prefix: prefixOf(p), hash: p.hash }));
}

const EXPECTED = {
  3: "expected/v3-install-tree.json",
  2: "expected/v2-install-tree-by-spack-v3.json",
} as const;

/** Compares the staged prefixes with the expected tree of that layout. */
export function compareWithExpected(
  layout: 2 | 3,
  root: string,
  specs: { name: string; prefix: string }[],
): string[] {
  const exp = JSON.parse(readFileSync(fixture(EXPECTED[layout]), "utf8")) as {
    prefixes: Record<string, { name: string; entries: TreeEntry[] }>;
  };
  const pairs = substTable(specs, root);
  const diffs: string[] = [];
  for (const s of specs) {
    const e = Object.values(exp.prefixes).find((x) => x.name === s.name);
    if (!e) {
      diffs.push(`no expected tree for ${s.name}`);
      continue;
    }
    for (const d of compareTrees(e.entries, describePrefix(s.prefix, pairs))) {
      diffs.push(`${s.name}: ${d}`);
    }
  }
  return diffs;
}
