/**
 * Describes an installed prefix the way the fixture dumps in `fixtures/expected` do (type,
 * mode, size, prefix-normalised sha256, symlink targets, ELF facts) and compares two
 * descriptions.
 *
 * @module
 */
import { lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { Buffer } from "node:buffer";
import { parseElf } from "../src/install/relocate_elf.ts";

/** One entry as the expected trees list it. */
export interface TreeEntry {
  path: string;
  mode: string;
  type: "d" | "f" | "l" | "h" | "other";
  meta?: boolean;
  size?: number;
  norm_sha256?: string;
  norm_target?: string;
  link?: string;
  elf?: { needed: string[]; rpath: string | null; runpath: string | null; soname: string | null };
}

/** Substitution pairs (longest first) as describe_tree.py builds them. */
export function substTable(
  specs: { name: string; prefix: string }[],
  root: string,
): [Buffer, Buffer][] {
  const pairs: [string, string][] = specs.map((s) => [s.prefix, `<prefix:${s.name}>`]);
  pairs.push([root, "<root>"]);
  pairs.push([root, "<unpadded_root>"]);
  return pairs.map(([a, b]) => [Buffer.from(a), Buffer.from(b)] as [Buffer, Buffer])
    .sort((a, b) => b[0].byteLength - a[0].byteLength);
}

function normalize(data: Buffer, pairs: [Buffer, Buffer][]): Buffer {
  for (const [o, n] of pairs) {
    const parts: Buffer[] = [];
    let pos = 0;
    for (;;) {
      const i = data.indexOf(o, pos);
      if (i < 0) break;
      parts.push(data.subarray(pos, i), n);
      pos = i + o.byteLength;
    }
    if (parts.length === 0) continue;
    parts.push(data.subarray(pos));
    data = Buffer.concat(parts);
  }
  return data;
}

/** Describes every entry under `top` (sorted by path). */
export function describePrefix(top: string, pairs: [Buffer, Buffer][]): TreeEntry[] {
  const out: TreeEntry[] = [];
  const inodes = new Map<string, string>();
  const walk = (dir: string, rel: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(p);
      const e: TreeEntry = { path: r, mode: "0o" + (st.mode & 0o7777).toString(8), type: "other" };
      if (r.split("/")[0] === ".spack") e.meta = true;
      if (st.isSymbolicLink()) {
        e.type = "l";
        e.norm_target = normalize(Buffer.from(readlinkSync(p)), pairs).toString();
      } else if (st.isDirectory()) {
        e.type = "d";
      } else if (st.isFile()) {
        const key = `${st.dev}:${st.ino}`;
        if (st.nlink > 1 && inodes.has(key)) {
          e.type = "h";
          e.link = inodes.get(key);
        } else {
          inodes.set(key, r);
          const data = readFileSync(p);
          e.type = "f";
          e.size = data.byteLength;
          if (data[0] === 0x7f && data.subarray(1, 4).toString() === "ELF") {
            const elf = parseElf(new Uint8Array(data));
            const n = (s: string | undefined) =>
              s === undefined ? null : normalize(Buffer.from(s, "latin1"), pairs).toString();
            e.elf = {
              needed: elf?.needed ?? [],
              rpath: elf?.rpath && !elf.rpath.runpath
                ? n(Buffer.from(elf.rpath.value).toString("latin1"))
                : null,
              runpath: elf?.rpath?.runpath
                ? n(Buffer.from(elf.rpath.value).toString("latin1"))
                : null,
              soname: elf?.soname ?? null,
            };
          } else {
            e.norm_sha256 = createHash("sha256").update(normalize(data, pairs)).digest("hex");
          }
        }
      }
      out.push(e);
      if (e.type === "d") walk(p, r);
    }
  };
  walk(top, "");
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/**
 * Differences between an expected and an actual description (non-meta entries: type, mode,
 * normalised checksum, normalised link target, hardlink partner, ELF facts).
 */
export function compareTrees(expected: TreeEntry[], actual: TreeEntry[]): string[] {
  const diffs: string[] = [];
  const exp = new Map(expected.filter((e) => !e.meta).map((e) => [e.path, e]));
  const act = new Map(actual.filter((e) => !e.meta).map((e) => [e.path, e]));
  for (const [p, e] of exp) {
    const a = act.get(p);
    if (!a) {
      diffs.push(`missing ${p}`);
      continue;
    }
    for (const k of ["type", "mode", "norm_sha256", "norm_target", "link"] as const) {
      if (e[k] !== undefined && e[k] !== a[k]) {
        diffs.push(`${p}: ${k} is ${JSON.stringify(a[k])}, expected ${JSON.stringify(e[k])}`);
      }
    }
    if (e.elf && JSON.stringify(e.elf) !== JSON.stringify(a.elf)) {
      diffs.push(`${p}: ELF ${JSON.stringify(a.elf)}, expected ${JSON.stringify(e.elf)}`);
    }
  }
  for (const p of act.keys()) if (!exp.has(p)) diffs.push(`unexpected ${p}`);
  return diffs;
}
