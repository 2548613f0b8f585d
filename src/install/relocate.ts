/**
 * Relocation of an extracted package prefix, as Spack's `relocate_package` does it: read the
 * buildinfo (`.spack/binary_distribution`), build the ordered old -> new prefix map (sbang,
 * each relocated spec's prefix by hash, the store root), then rewrite ELF RPATH/RUNPATH and
 * interpreters, absolute symlinks, text files and C strings inside binaries.
 *
 * {@link planRelocation} reads every file and computes every change without writing, so a
 * prefix that cannot be relocated (a longer prefix where C strings must keep their length) is
 * refused before anything is changed, naming the files and lengths.
 *
 * @module
 */
import {
  closeSync,
  fstatSync,
  ftruncateSync,
  lstatSync,
  openSync,
  readlinkSync,
  readSync,
  symlinkSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { Buffer } from "node:buffer";
import { basename, join } from "node:path";
import { InvalidDataError, UnsupportedError } from "../errors.ts";
import { onFirstUse } from "../core/lazy_require.ts";
import { type ElfStringUpdate, isElf, parseElfAt, planElfUpdates } from "./relocate_elf.ts";
import {
  ElfGrowError,
  type ElfGrowth,
  type FileWrite,
  planElfGrowth,
} from "./relocate/elf_grow.ts";
import { isArm64, isMachoMagic, planMachoUpdates } from "./relocate/macho.ts";
import { CodeSignError, readCodeDirectories, resignSlice, signAdhoc } from "./relocate/codesign.ts";
import {
  type BinaryPatch,
  BinaryReplacer,
  type BinaryStringProblem,
  type PrefixPairs,
  TextReplacer,
} from "./relocate_text.ts";
import type { PrefixEntryType } from "./extract.ts";

/** The buildinfo file, with the keys relocation uses. */
export interface Buildinfo {
  sbangInstallPath?: string;
  buildpath: string;
  relativePrefix?: string;
  hardlinksDeduped: boolean;
  /** DAG hash -> prefix on the build machine. */
  hashToPrefix: Map<string, string>;
  relocateTextfiles: string[];
  relocateBinaries: string[];
  relocateLinks: string[];
  /** The parsed document. */
  raw: Record<string, unknown>;
}

const strList = (v: unknown, key: string): string[] => {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) {
    throw new InvalidDataError(`Cannot read buildinfo: "${key}" is not a list of paths`);
  }
  return v as string[];
};

/**
 * A fast reader for the one-line flow mapping Spack writes when every scalar is plain
 * (`{key: value, key: [a, b], key: {k: v}}`): undefined for anything else (quotes, explicit
 * keys, nesting deeper than one level, YAML tags), which the complete YAML parser then reads.
 * Scalars stay strings except `true`, `false` and `null`.
 */
export function parseFlowMapping(text: string): Record<string, unknown> | undefined {
  const t = text.trim();
  let i = 0;
  const n = t.length;
  const ws = () => {
    while (i < n && (t[i] === " " || t[i] === "\n" || t[i] === "\r")) i++;
  };
  const scalar = (stops: string): string | undefined => {
    ws();
    const c = t[i];
    if (c === undefined || "'\"&*!|>%@`?#{[".includes(c)) return undefined;
    let j = i;
    while (j < n && !stops.includes(t[j])) {
      if (t[j] === ":" && (t[j + 1] === " " || t[j + 1] === undefined) && stops !== ":") break;
      if (t[j] === " " && t[j + 1] === "#") return undefined;
      j++;
    }
    const v = t.slice(i, j).trimEnd();
    i = j;
    return v;
  };
  const value = (v: string): unknown =>
    v === "true" ? true : v === "false" ? false : v === "null" || v === "~" || v === "" ? null : v;
  const list = (): unknown[] | undefined => {
    // Fast path: a list of plain ASCII scalars (a buildinfo lists tens of thousands of paths),
    // split at once; the same values as the loop below, which reads anything else.
    const close = t.indexOf("]", i);
    if (close > i && !LIST_SPECIAL.test(t.slice(i + 1, close))) {
      const seg = t.slice(i + 1, close);
      i = close + 1;
      return /[^ \n\r]/.test(seg) ? seg.split(",").map((x) => value(x.trim())) : [];
    }
    const out: unknown[] = [];
    i++; // [
    ws();
    if (t[i] === "]") {
      i++;
      return out;
    }
    for (;;) {
      const v = scalar(",]");
      if (v === undefined) return undefined;
      out.push(value(v));
      ws();
      if (t[i] === ",") i++;
      else if (t[i] === "]") {
        i++;
        return out;
      } else return undefined;
    }
  };
  const mapping = (nested: boolean): Record<string, unknown> | undefined => {
    const out: Record<string, unknown> = {};
    i++; // {
    ws();
    if (t[i] === "}") {
      i++;
      return out;
    }
    for (;;) {
      const k = scalar(":,}");
      if (k === undefined || t[i] !== ":") return undefined;
      i++;
      ws();
      let v: unknown;
      if (t[i] === "[") v = list();
      else if (t[i] === "{") v = nested ? undefined : mapping(true);
      else {
        const sv = scalar(",}");
        v = sv === undefined ? undefined : value(sv);
      }
      if (v === undefined) return undefined;
      out[k] = v;
      ws();
      if (t[i] === ",") i++;
      else if (t[i] === "}") {
        i++;
        return out;
      } else return undefined;
    }
  };
  if (t[0] !== "{") return undefined;
  const r = mapping(false);
  ws();
  return r && i === n ? r : undefined;
}

/** What a list's fast path leaves to the scalar reader: anything but plain ASCII paths. */
const LIST_SPECIAL = /[^\x20-\x7e\n\r]|['"&*!|>%@`?#{}[\]:]/;

declare const require: ((id: string) => unknown) | undefined;

/** yaml, loaded on the first buildinfo that is not the one-line form `parseFlowMapping` reads. */
const yaml = onFirstUse(() => (eagerYaml ?? require!("yaml")) as typeof import("yaml"));
/** Where modules have no `require` (Deno, browsers), yaml is imported with the module. */
const eagerYaml = typeof require === "function" ? undefined : await import("yaml");

/** Parses `.spack/binary_distribution` (one line of flow YAML, old and new key sets). */
export function parseBuildinfo(text: string): Buildinfo {
  let raw: unknown;
  try {
    raw = parseFlowMapping(text) ?? yaml().parse(text, { logLevel: "error" });
  } catch (e) {
    throw new InvalidDataError(`Cannot read buildinfo: ${(e as Error).message}`, { cause: e });
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new InvalidDataError("Cannot read buildinfo: it is not a mapping");
  }
  const r = raw as Record<string, unknown>;
  if (typeof r.buildpath !== "string") {
    throw new InvalidDataError('Cannot read buildinfo: "buildpath" is missing');
  }
  const hashToPrefix = new Map<string, string>();
  if (r.hash_to_prefix && typeof r.hash_to_prefix === "object") {
    for (const [h, p] of Object.entries(r.hash_to_prefix as Record<string, unknown>)) {
      if (typeof p !== "string") {
        throw new InvalidDataError(
          `Cannot read buildinfo: the prefix of hash_to_prefix "${h}" is not a string`,
        );
      }
      hashToPrefix.set(h, p);
    }
  } else if (r.prefix_to_hash && typeof r.prefix_to_hash === "object") {
    for (const [p, h] of Object.entries(r.prefix_to_hash as Record<string, unknown>)) {
      if (typeof h !== "string") {
        throw new InvalidDataError(
          `Cannot read buildinfo: the hash of prefix_to_hash "${p}" is not a string`,
        );
      }
      hashToPrefix.set(h, p);
    }
  } else {
    throw new UnsupportedError(
      "Cannot relocate: the package tarball was created from an install prefix with a " +
        "different directory layout (no hash_to_prefix or prefix_to_hash in its buildinfo)",
    );
  }
  return {
    sbangInstallPath: typeof r.sbang_install_path === "string" ? r.sbang_install_path : undefined,
    buildpath: r.buildpath,
    relativePrefix: typeof r.relative_prefix === "string" ? r.relative_prefix : undefined,
    hardlinksDeduped: r.hardlinks_deduped === true,
    hashToPrefix,
    relocateTextfiles: strList(r.relocate_textfiles, "relocate_textfiles"),
    relocateBinaries: strList(r.relocate_binaries, "relocate_binaries"),
    relocateLinks: strList(r.relocate_links, "relocate_links"),
    raw: r,
  };
}

/** Where things go on this machine. */
export interface RelocationTarget {
  /** The local store root (install tree root). */
  root: string;
  /** The local `bin/sbang` path. */
  sbangPath: string;
  /**
   * The specs to relocate in Spack's order (`specs_to_relocate`: the root, its transitive
   * link dependencies breadth-first, then its direct run dependencies), with local prefixes.
   */
  specs: { hash: string; prefix: string }[];
}

/** The ordered old -> new prefix map of Spack's `relocate_package` (identity pairs dropped). */
export function prefixMap(info: Buildinfo, target: RelocationTarget): PrefixPairs {
  const map = new Map<string, string>();
  if (info.sbangInstallPath) map.set(info.sbangInstallPath, target.sbangPath);
  for (const s of target.specs) {
    const old = info.hashToPrefix.get(s.hash);
    if (old !== undefined) map.set(old, s.prefix);
  }
  map.set(info.buildpath, target.root);
  return [...map].filter(([o, n]) => o !== n);
}

/** A planned change to one file. */
type FileChange =
  | { kind: "text"; path: string }
  | {
    kind: "binary";
    path: string;
    elf: ElfStringUpdate[];
    patches: BinaryPatch[];
    /** Strings that grow: written into a new segment after the in-place changes. */
    grow?: ElfGrowth;
    /** Mach-O load command regions, written before the C-string patches. */
    writes?: FileWrite[];
    /** Mach-O code signatures to regenerate once the file is written. */
    signatures?: { base: number; dataoff: number; datasize: number }[];
    /** An unsigned arm64 Mach-O file: signed ad hoc (with this identifier) once written. */
    sign?: string;
  }
  | { kind: "link"; path: string; target: string };

/** One reason a prefix cannot be relocated. */
export interface RelocationProblem {
  file: string;
  message: string;
}

/** Every change relocation would make, computed without writing. */
export interface RelocationPlan {
  pairs: PrefixPairs;
  changes: FileChange[];
  problems: RelocationProblem[];
}

const bytes = (s: string) => Buffer.from(s, "utf8");
const latin1 = (b: Uint8Array) => Buffer.from(b).toString("latin1");
const EMPTY = new Uint8Array(0);

/**
 * Reads the prefix and plans its relocation. `entries` are the paths extraction produced
 * (buildinfo lists are only followed to paths of the expected type, never through symlinks).
 */
export function planRelocation(
  prefixDir: string,
  info: Buildinfo,
  pairs: PrefixPairs,
  entries: Map<string, PrefixEntryType>,
  /** Text files already relocated (while extracting: see `relocate/stream.ts`). */
  done?: Set<string>,
): RelocationPlan {
  const plan: RelocationPlan = { pairs, changes: [], problems: [] };
  if (pairs.length === 0) return plan;
  const check = (rel: string, want: PrefixEntryType[], list: string): boolean => {
    const t = entries.get(rel);
    if (t === undefined) return false; // Spack would fail on a missing file; nothing to do
    if (!want.includes(t)) {
      throw new InvalidDataError(
        `Cannot relocate: buildinfo ${list} lists "${rel}", which is a ${t}`,
      );
    }
    return true;
  };
  // Old archives may list several paths of one inode: relocate each inode once.
  const seen = new Set<string>();
  const once = (rel: string): boolean => {
    if (info.hardlinksDeduped) {
      // Spack trusts the lists then; a path listed twice is still relocated once.
      if (seen.has(rel)) return false;
      seen.add(rel);
      return true;
    }
    const st = lstatSync(join(prefixDir, rel));
    const key = `${st.dev}:${st.ino}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  };

  const bytePairs: [Uint8Array, Uint8Array][] = pairs.map(([o, n]) => [bytes(o), bytes(n)]);
  const bin = new BinaryReplacer(pairs);
  let window = new Uint8Array(0);
  for (const rel of info.relocateBinaries) {
    if (!check(rel, ["file", "link"], "relocate_binaries") || !once(rel)) continue;
    const path = join(prefixDir, rel);
    // Read in windows of 1 MiB (a buffer that stays in cache), never the whole file at once.
    const fd = openSync(path, "r");
    let elf: ElfStringUpdate[] = [];
    let grow: ElfGrowth | undefined;
    let writes: FileWrite[] = [];
    let signatures: { base: number; dataoff: number; datasize: number }[] = [];
    let sign: string | undefined;
    const patches: BinaryPatch[] = [];
    const problems: BinaryStringProblem[] = [];
    try {
      const size = fstatSync(fd).size;
      const get = (off: number, len: number) => {
        const b = new Uint8Array(Math.max(0, Math.min(len, size - off)));
        readFully(fd, b, off);
        return b;
      };
      if (size >= 4 && isElf(get(0, 4))) {
        elf = planElfUpdates({ get, size }, bytePairs);
        const longer = elf.filter((u) => u.new.byteLength > u.old.byteLength);
        if (longer.length) {
          // As Spack falls back to patchelf: the longer strings go into a new segment and the
          // old ones are zero-filled in place (so the C-string pass below does not see them).
          grow = {};
          for (const u of longer) grow[u.kind] = u.new;
          elf = elf.map((u) => u.new.byteLength > u.old.byteLength ? { ...u, new: EMPTY } : u);
          try {
            planElfGrowth(get, size, grow);
          } catch (e) {
            if (!(e instanceof ElfGrowError)) throw e;
            for (const u of longer) {
              plan.problems.push({
                file: rel,
                message: `ELF ${u.kind === "rpath" ? "RPATH/RUNPATH" : "interpreter"} at ` +
                  `offset ${u.offset} would grow from "${latin1(u.old)}" (${u.old.byteLength} ` +
                  `bytes) to "${latin1(u.new)}" (${u.new.byteLength} bytes) and the file ` +
                  `cannot be extended: ${e.message}`,
              });
            }
            elf = [];
            grow = undefined;
          }
        }
      }
      const head = size >= 4 ? get(0, 4) : new Uint8Array(0);
      const macho = isMachoMagic(head) ? planMachoUpdates(get, size, pairs, rel) : undefined;
      if (macho) {
        for (const m of macho.problems) plan.problems.push({ file: rel, message: m });
        writes = macho.problems.length ? [] : macho.writes;
        const thin = macho.slices.length === 1 ? macho.slices[0] : undefined;
        if (thin && isArm64(thin) && !thin.codeSignature) sign = basename(rel);
        for (const s of macho.slices) {
          if (!s.codeSignature) continue;
          try {
            readCodeDirectories(get, s.offset, s.codeSignature.dataoff, s.codeSignature.datasize);
            signatures.push({ base: s.offset, ...s.codeSignature });
          } catch (e) {
            if (!(e instanceof CodeSignError)) throw e;
            plan.problems.push({
              file: rel,
              message: `cannot regenerate its code signature: ${e.message}`,
            });
          }
        }
      }
      const overlap = bin.overlap;
      if (window.byteLength < WINDOW + overlap) window = new Uint8Array(WINDOW + overlap);
      let from = 0;
      for (let start = 0; start < size; start += WINDOW) {
        const len = Math.min(WINDOW + overlap, size - start);
        const w = window.subarray(0, len);
        readFully(fd, w, start);
        // The C-string scan sees the content after the ELF string rewrites, as in Spack.
        for (const u of elf) overlay(w, start, u);
        for (const x of writes) overlayWrite(w, start, x);
        const limit = start + len === size ? size : start + WINDOW;
        from = bin.planWindow(w, start, from, limit, patches, problems);
      }
    } finally {
      closeSync(fd);
    }
    for (const p of problems) {
      plan.problems.push({
        file: rel,
        message: p.kind === "grow"
          ? `C string at offset ${p.offset}: prefix "${p.old}" (${bytes(p.old).byteLength} ` +
            `bytes) cannot grow to "${p.new}" (${bytes(p.new).byteLength} bytes)`
          : `C string at offset ${p.offset}: cannot shorten "${p.old}" to "${p.new}" in ` +
            `"${p.cString}"`,
      });
    }
    if (elf.length || patches.length || grow || writes.length) {
      if (!writes.length && !patches.length) [signatures, sign] = [[], undefined];
      plan.changes.push({
        kind: "binary",
        path: rel,
        elf,
        patches,
        grow,
        writes,
        signatures,
        sign,
      });
    }
  }

  for (const rel of info.relocateLinks) {
    if (!check(rel, ["symlink"], "relocate_links")) continue;
    const target = readlinkSync(join(prefixDir, rel));
    if (!target.startsWith("/")) continue;
    for (const [o, n] of pairs) {
      if (target.startsWith(o)) {
        plan.changes.push({ kind: "link", path: rel, target: n + target.slice(o.length) });
        break;
      }
    }
  }

  // Files relocated while extracting count as relocated (their other paths too).
  for (const rel of done ?? []) once(rel);
  for (const rel of info.relocateTextfiles) {
    if (!check(rel, ["file", "link"], "relocate_textfiles") || done?.has(rel) || !once(rel)) {
      continue;
    }
    // Text files are read and rewritten one at a time in applyRelocation (no plan to keep).
    plan.changes.push({ kind: "text", path: rel });
  }
  return plan;
}

/** Applies a plan made by {@link planRelocation}. Returns the number of files changed. */
export function applyRelocation(prefixDir: string, plan: RelocationPlan): number {
  if (plan.problems.length) throw new Error("applyRelocation: the plan has problems");
  const text = new TextReplacer(plan.pairs);
  let scratch = new Uint8Array(1 << 16); // reused read buffer for text files
  let outScratch = new Uint8Array(1 << 16); // reused output buffer
  let changed = 0;
  for (const c of plan.changes) {
    const path = join(prefixDir, c.path);
    if (c.kind === "link") {
      unlinkSync(path);
      symlinkSync(c.target, path);
      changed++;
    } else if (c.kind === "binary") {
      const fd = openSync(path, "r+");
      try {
        for (const u of c.elf) {
          const buf = new Uint8Array(u.old.byteLength);
          buf.set(u.new);
          writeAll(fd, buf, u.offset);
        }
        for (const w of c.writes ?? []) writeAll(fd, w.bytes, w.offset);
        for (const p of c.patches) writeAll(fd, p.bytes, p.offset);
        if (c.signatures?.length) {
          const size = fstatSync(fd).size;
          const get = (off: number, len: number) => {
            const b = new Uint8Array(Math.max(0, Math.min(len, size - off)));
            readFully(fd, b, off);
            return b;
          };
          for (const s of c.signatures) {
            for (const w of resignSlice(get, s.base, s)) writeAll(fd, w.bytes, w.offset);
          }
        }
        if (c.sign) {
          // macOS runs no unsigned arm64 code: the file gets the signature its linker omitted
          // (it stays unsigned when it does not have the shape for one, as it was).
          const size = fstatSync(fd).size;
          const get = (off: number, len: number) => {
            const b = new Uint8Array(Math.max(0, Math.min(len, size - off)));
            readFully(fd, b, off);
            return b;
          };
          for (const w of signAdhoc(get, size, c.sign)?.writes ?? []) {
            writeAll(fd, w.bytes, w.offset);
          }
        }
        if (c.grow) {
          // Read after the in-place changes: the string table copy carries them.
          const size = fstatSync(fd).size;
          const get = (off: number, len: number) => {
            const b = new Uint8Array(Math.max(0, Math.min(len, size - off)));
            readFully(fd, b, off);
            return b;
          };
          for (const w of planElfGrowth(get, size, c.grow)) writeAll(fd, w.bytes, w.offset);
        }
      } finally {
        closeSync(fd);
      }
      changed++;
    } else {
      const fd = openSync(path, "r+");
      try {
        const size = fstatSync(fd).size;
        if (size > scratch.byteLength) {
          scratch = new Uint8Array(Math.max(size, scratch.byteLength * 2));
        }
        const data = scratch.subarray(0, size);
        let off = 0;
        while (off < size) {
          const n = readSync(fd, data, off, size - off, off);
          if (n === 0) break;
          off += n;
        }
        const content = data.subarray(0, off);
        const parts = text.partsOk ? text.applyParts(content) : undefined;
        const out = parts ? undefined : text.apply(content);
        if (parts) {
          // The pieces (views of the content in memory) gathered into one write.
          let total = 0;
          for (const p of parts) total += p.byteLength;
          if (total > outScratch.byteLength) {
            outScratch = new Uint8Array(Math.max(total, outScratch.byteLength * 2));
          }
          let o = 0;
          for (const p of parts) {
            outScratch.set(p, o);
            o += p.byteLength;
          }
          writeAll(fd, outScratch.subarray(0, total), 0);
          if (total !== size) ftruncateSync(fd, total);
          changed++;
        } else if (out) {
          writeAll(fd, out, 0);
          if (out.byteLength !== size) ftruncateSync(fd, out.byteLength);
          changed++;
        }
      } finally {
        closeSync(fd);
      }
    }
  }
  return changed;
}

/**
 * Spack's `drop_redundant_rpaths` post-install hook: in each ELF file, RPATH/RUNPATH entries
 * that neither start with `$` nor are absolute paths that exist are removed (the string is
 * rewritten in place, zero-filled). `exists` answers for final paths (the caller maps paths of
 * prefixes still in staging). Returns the number of files changed.
 */
export function dropMissingRpaths(
  prefixDir: string,
  elfFiles: string[],
  exists: (path: string) => boolean,
): number {
  let changed = 0;
  for (const rel of elfFiles) {
    const fd = openSync(join(prefixDir, rel), "r+");
    try {
      const size = fstatSync(fd).size;
      const get = (off: number, len: number) => {
        const b = new Uint8Array(Math.max(0, Math.min(len, size - off)));
        readFully(fd, b, off);
        return b;
      };
      const elf = parseElfAt(get, size);
      if (!elf?.rpath) continue;
      const old = Buffer.from(elf.rpath.value).toString("latin1");
      const kept = old.split(":").filter((p) =>
        p.startsWith("$") || (p.startsWith("/") && exists(p))
      );
      const now = kept.join(":");
      if (now === old) continue;
      const out = new Uint8Array(elf.rpath.value.byteLength);
      out.set(Buffer.from(now, "latin1"));
      writeAll(fd, out, elf.rpath.offset);
      changed++;
    } finally {
      closeSync(fd);
    }
  }
  return changed;
}

const WINDOW = 1 << 20;

/** Reads `buf.byteLength` bytes at `position` (fewer only at the end of the file). */
function readFully(fd: number, buf: Uint8Array, position: number): number {
  let off = 0;
  while (off < buf.byteLength) {
    const n = readSync(fd, buf, off, buf.byteLength - off, position + off);
    if (n === 0) break;
    off += n;
  }
  return off;
}

/** Writes an ELF string update (new value, zero-filled to the old length) into a window. */
function overlay(w: Uint8Array, start: number, u: ElfStringUpdate): void {
  const full = new Uint8Array(u.old.byteLength);
  full.set(u.new);
  const from = Math.max(u.offset, start);
  const to = Math.min(u.offset + full.byteLength, start + w.byteLength);
  if (from < to) w.set(full.subarray(from - u.offset, to - u.offset), from - start);
}

/** Writes bytes planned at a file offset into a window starting at `start`. */
function overlayWrite(w: Uint8Array, start: number, x: FileWrite): void {
  const from = Math.max(x.offset, start);
  const to = Math.min(x.offset + x.bytes.byteLength, start + w.byteLength);
  if (from < to) w.set(x.bytes.subarray(from - x.offset, to - x.offset), from - start);
}

function writeAll(fd: number, data: Uint8Array, position: number): void {
  let off = 0;
  while (off < data.byteLength) {
    off += writeSync(fd, data, off, data.byteLength - off, position + off);
  }
}

/** Throws the error that names every file that cannot be relocated, with advice. */
export function relocationError(
  spec: string,
  plan: RelocationPlan,
  newPrefix: string,
  oldPrefix?: string,
): UnsupportedError {
  // Every file is named; within a file, the first problems (offsets and strings) are shown.
  const byFile = new Map<string, string[]>();
  for (const p of plan.problems) {
    const list = byFile.get(p.file) ?? [];
    list.push(p.message);
    byFile.set(p.file, list);
  }
  const lines: string[] = [];
  for (const [file, messages] of byFile) {
    for (const m of messages.slice(0, 3)) lines.push(`  ${file}: ${m}`);
    if (messages.length > 3) lines.push(`  ${file}: ... and ${messages.length - 3} more`);
  }
  const lens = oldPrefix
    ? ` The build prefix is ${bytes(oldPrefix).byteLength} bytes long, the install prefix ` +
      `"${newPrefix}" is ${bytes(newPrefix).byteLength}.`
    : "";
  return new UnsupportedError(
    `Cannot relocate ${spec} into "${newPrefix}": binaries hold prefixes that cannot be ` +
      `rewritten in place:\n${lines.join("\n")}\n${lens.trim()}\nInstall into a root with a ` +
      "shorter path, or ask the builder of the cache to use more padding " +
      "(config:install_tree:padded_length).",
  );
}

/** Plans and applies the relocation of one prefix; throws before writing if it cannot. */
export function relocatePrefix(
  prefixDir: string,
  info: Buildinfo,
  pairs: PrefixPairs,
  entries: Map<string, PrefixEntryType>,
  spec = "package",
): number {
  const plan = planRelocation(prefixDir, info, pairs, entries);
  if (plan.problems.length) {
    const root = pairs.find(([o]) => o === info.buildpath);
    throw relocationError(spec, plan, root?.[1] ?? "", root?.[0]);
  }
  return applyRelocation(prefixDir, plan);
}
