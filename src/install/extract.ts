/**
 * Streaming extraction of a Spack package tarball (already gunzipped) into a staging
 * directory, as Spack's `extract_buildcache_tarball` does it but without trusting the archive:
 * names with `..`, absolute names, names outside the package prefix, links leading outside
 * it, writes through symlinks, devices and FIFOs are refused; setuid/setgid bits are dropped.
 *
 * Every member lands under `<staging>/t/<member name>` while the archive streams (the package
 * prefix is only known from the last member, `.spack/binary_distribution`); when the archive
 * ends the package directory `<staging>/t/<prefix>` is checked and returned. Modes are the
 * ones Spack leaves after its permission hook with default settings: files `0755` when any
 * execute bit is set, else `0644`; directories `02755`.
 *
 * @module
 */
import {
  chmodSync,
  closeSync,
  constants,
  fchmodSync,
  linkSync,
  mkdirSync,
  openSync,
  symlinkSync,
  writeSync,
} from "node:fs";
import { join, posix } from "node:path";
import { Buffer, isUtf8 } from "node:buffer";
import process from "node:process";
import { InvalidDataError } from "../errors.ts";
import { TextReplacer } from "./relocate_text.ts";
import { readTar } from "../core/tar.ts";
import { MemoryPacer } from "../core/memory_pacer.ts";

/** The kinds of paths a package prefix holds. */
export type PrefixEntryType = "file" | "directory" | "symlink" | "link";

/** What an extraction produced. */
export interface ExtractResult {
  /** Absolute path of the extracted package directory (inside the staging directory). */
  prefixDir: string;
  /** The package prefix as named in the tarball (the build prefix without its leading `/`). */
  memberPrefix: string;
  /** Every extracted path relative to the package directory, with its type, in archive order. */
  entries: Map<string, PrefixEntryType>;
  /** Symlink targets by relative path. */
  symlinks: Map<string, string>;
  /** Hardlinks: relative path -> relative path of the file it shares. */
  hardlinks: Map<string, string>;
  /** Regular files (not hardlinks) with an execute bit. */
  execFiles: string[];
  /** Regular files (not hardlinks) that start with the ELF magic. */
  elfFiles: string[];
  /** Paths whose setuid/setgid/sticky bits were dropped. */
  strippedModes: string[];
  /** Bytes of file content written. */
  bytes: number;
  /** What was relocated while extracting (see {@link ExtractOptions.speculate}). */
  speculated?: SpeculatedText;
}

/** Text files relocated while extracting, on the guess that `oldPrefix` was the build prefix. */
export interface SpeculatedText {
  /** The guessed build prefix of the package (`/` + the member that ends with its hash). */
  oldPrefix: string;
  newPrefix: string;
  /** `/` + the first component of `oldPrefix` + `/`: every other occurrence of it was absent. */
  anchor: string;
  /** Relative paths rewritten. */
  files: Set<string>;
}

/** Options of {@link extractTarball}. */
export interface ExtractOptions {
  /** Names the tarball in error messages. */
  label?: string;
  signal?: AbortSignal;
  /** Mode of directories (default `0o2755`, Spack's default package directory permissions). */
  dirMode?: number;
  /**
   * Relocate plain-text files while they stream, before the buildinfo (the last member) is
   * known: the package prefix is taken to be the directory member ending with `hash`, and a
   * small text file whose only absolute paths under that prefix's first component are
   * occurrences of the prefix itself is rewritten as Spack's text relocation would rewrite it.
   * The caller must check the guess against the buildinfo ({@link speculationHolds}) and
   * extract again without this option when it does not hold.
   */
  speculate?: { hash: string; newPrefix: string };
  /** Paces collections (default: one of its own); told the bytes extracted. */
  pacer?: MemoryPacer;
}

const SPECULATE_MAX = 1 << 20;

/** A tar header block (what each member costs besides its body). */
const BLOCK = 512;

/** The process umask (read by setting it and restoring it at once). */
function currentUmask(): number {
  const m = process.umask(0o022);
  process.umask(m);
  return m;
}

/** In-stream relocation state. */
class Speculation {
  readonly hash: string;
  readonly newPrefix: string;
  oldPrefix = "";
  anchor = "";
  readonly files = new Set<string>();
  private anc = Buffer.alloc(0);
  private replacer?: TextReplacer;
  constructor(o: { hash: string; newPrefix: string }) {
    this.hash = o.hash;
    this.newPrefix = o.newPrefix;
  }
  start(oldPrefix: string): void {
    this.oldPrefix = oldPrefix;
    this.anchor = "/" + oldPrefix.split("/")[1] + "/";
    this.anc = Buffer.from(this.anchor);
    this.replacer = new TextReplacer([[oldPrefix, this.newPrefix]]);
  }
  /** The relocated pieces of a file's content, or undefined to leave it as it is. */
  relocate(data: Uint8Array): Uint8Array[] | undefined {
    if (!this.replacer || this.replacer.isNoop || !this.replacer.partsOk) return undefined;
    const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    if (isBinaryMagic(buf)) return undefined;
    const parts = this.replacer.applyParts(data);
    if (!parts) return undefined;
    if (!isUtf8(buf) && NOT_LATIN1_TEXT.test(buf.toString("latin1"))) return undefined;
    // Each replaced occurrence holds the anchor once at its start (the anchor is a path's
    // first component); any other occurrence could belong to another old prefix.
    if (count(buf, this.anc) !== (parts.length - 1) / 2) return undefined;
    return parts;
  }
}

// deno-lint-ignore no-control-regex
const NOT_LATIN1_TEXT = /[\x00\x7f-\x9f]/;

function count(buf: Buffer, needle: Buffer): number {
  let n = 0;
  for (let i = buf.indexOf(needle); i >= 0; i = buf.indexOf(needle, i + needle.byteLength)) n++;
  return n;
}

/** ELF or Mach-O magic in the first 8 bytes (what Spack lists as binaries). */
function isBinaryMagic(b: Uint8Array): boolean {
  const m = (b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3]) >>> 0;
  if (m === 0x7f454c46) return true;
  if ([0xcffaedfe, 0xfeedfacf, 0xcefaedfe, 0xfeedface].includes(m)) return true;
  if (m === 0xcafebabe || m === 0xbebafeca) {
    const n = m === 0xcafebabe
      ? (b[4] << 24 | b[5] << 16 | b[6] << 8 | b[7]) >>> 0
      : (b[7] << 24 | b[6] << 16 | b[5] << 8 | b[4]) >>> 0;
    return n < 10;
  }
  return false;
}

let joinBuf = new Uint8Array(1 << 16);

/** Writes the parts with one system call (joined in a reused buffer). */
function isElfMagic(b: Uint8Array): boolean {
  return b[0] === 0x7f && b[1] === 0x45 && b[2] === 0x4c && b[3] === 0x46;
}

function writeAllSync(fd: number, parts: Uint8Array[]): void {
  let data = parts[0];
  if (parts.length > 1) {
    let total = 0;
    for (const p of parts) total += p.byteLength;
    if (total > joinBuf.byteLength) {
      joinBuf = new Uint8Array(Math.max(total, joinBuf.byteLength * 2));
    }
    let o = 0;
    for (const p of parts) {
      joinBuf.set(p, o);
      o += p.byteLength;
    }
    data = joinBuf.subarray(0, total);
  }
  let off = 0;
  while (off < data.byteLength) off += writeSync(fd, data, off);
}

/**
 * True when what {@link extractTarball} relocated while streaming is exactly what Spack's
 * relocation with the real prefix map gives: the guessed prefix is the package's build prefix
 * and maps to the same new prefix, no earlier map entry can match where it matches, every
 * old prefix starts with the anchor (so the files, which held the anchor only inside the
 * prefix, hold no other old prefix), and every rewritten file is one the buildinfo lists.
 */
export function speculationHolds(
  s: SpeculatedText,
  ownOldPrefix: string | undefined,
  pairs: [string, string][],
  textfiles: string[],
): boolean {
  if (ownOldPrefix !== s.oldPrefix) return s.files.size === 0;
  const i = pairs.findIndex(([o]) => o === s.oldPrefix);
  if (s.files.size === 0) return true;
  if (i < 0 || pairs[i][1] !== s.newPrefix) return false;
  for (let j = 0; j < i; j++) {
    const k = pairs[j][0];
    if (k.startsWith(s.oldPrefix) || s.oldPrefix.startsWith(k)) return false;
  }
  if (!pairs.every(([o]) => o.startsWith(s.anchor))) return false;
  const listed = new Set(textfiles);
  for (const f of s.files) if (!listed.has(f)) return false;
  return true;
}

const O_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL |
  (constants.O_NOFOLLOW ?? 0);

function refuse(label: string, what: string): never {
  throw new InvalidDataError(`Refusing to extract ${label}: ${what}`);
}

/** Checks a member name and returns it without trailing slashes. */
function checkName(label: string, raw: string, what = "member"): string {
  const name = raw.endsWith("/") ? raw.replace(/\/+$/, "") : raw;
  // Fast path: no empty, "." or ".." component is possible without one of these.
  if (
    name !== "" && name[0] !== "/" && name[0] !== "." && !name.includes("/.") &&
    !name.includes("//") && !name.includes("\0")
  ) return name;
  if (name === "") refuse(label, `${what} with an empty name`);
  if (name.includes("\0")) refuse(label, `${what} name ${JSON.stringify(raw)} contains NUL`);
  if (name.startsWith("/")) refuse(label, `${what} "${raw}" has an absolute name`);
  for (const part of name.split("/")) {
    if (part === "..") refuse(label, `${what} "${raw}" contains ".."`);
    if (part === "." || part === "") refuse(label, `${what} "${raw}" is not a normalised path`);
  }
  return name;
}

/**
 * Member names kept compactly while extracting: tarballs name every member by its full path,
 * and the package prefix alone can be hundreds of characters. Each directory path is stored
 * once, under a number; a member is the short key `<directory number>/<base name>` (built
 * by concatenation, so that it does not hold on to the long name it came from).
 */
class Names {
  readonly #ids = new Map<string, number>();
  readonly #dirs: string[] = [];

  /** The number of a directory path ("" for the top). */
  dirId(dir: string): number {
    let id = this.#ids.get(dir);
    if (id === undefined) {
      id = this.#dirs.length;
      this.#ids.set(dir, id);
      this.#dirs.push(dir);
    }
    return id;
  }

  /** The key of a member name. */
  key(name: string): string {
    const i = name.lastIndexOf("/");
    return `${this.dirId(i < 0 ? "" : name.slice(0, i))}/${name.slice(i + 1)}`;
  }

  /** The directory path of a key. */
  dirOf(key: string): string {
    return this.#dirs[Number(key.slice(0, key.indexOf("/")))];
  }

  /** The base name of a key. */
  baseOf(key: string): string {
    return key.slice(key.indexOf("/") + 1);
  }

  /** The member name of a key. */
  name(key: string): string {
    const dir = this.dirOf(key);
    return dir === "" ? this.baseOf(key) : `${dir}/${this.baseOf(key)}`;
  }
}

/**
 * Extracts a tar stream (uncompressed) into `<stagingDir>/t`, then returns the package
 * directory found in it. `stagingDir` must exist and be empty. Throws InvalidDataError for
 * hostile or non-Spack archives (the staging directory is then the caller's to delete).
 */
export async function extractTarball(
  tar: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>,
  stagingDir: string,
  opts: ExtractOptions = {},
): Promise<ExtractResult> {
  const label = opts.label ? `"${opts.label}"` : "tarball";
  const dirMode = opts.dirMode ?? 0o2755;
  const tree = join(stagingDir, "t");
  mkdirSync(tree, { mode: 0o700 });
  const names = new Names();
  /** Every member (and implied parent directory) by key (see Names). */
  const types = new Map<string, PrefixEntryType>();
  const order: string[] = []; // keys of the members, in archive order
  const links = new Map<string, string>(); // key -> symlink target
  const hard = new Map<string, string>(); // key -> member name
  const stripped: string[] = []; // keys
  const elfFiles: string[] = []; // keys
  const execFiles: string[] = []; // keys
  let bytes = 0;
  const umask = currentUmask();
  const spec = opts.speculate ? new Speculation(opts.speculate) : undefined;
  let specUnder = "";
  const gather = new Uint8Array(spec ? SPECULATE_MAX : 0);

  let lastParent: string | undefined;
  const ensureParents = (name: string) => {
    const slash = name.lastIndexOf("/");
    const parent = slash < 0 ? "" : name.slice(0, slash);
    // Members come directory by directory: the parent checked last time is usually this one
    // (and a directory stays one: any other member of its name is refused).
    if (parent === lastParent) return;
    const parts = name.split("/");
    let cur = "";
    for (let i = 0; i < parts.length - 1; i++) {
      cur = cur ? `${cur}/${parts[i]}` : parts[i];
      const k = names.key(cur);
      const t = types.get(k);
      if (t === undefined) {
        mkdirSync(join(tree, cur), { mode: 0o700 });
        chmodSync(join(tree, cur), dirMode);
        types.set(k, "directory");
      } else if (t !== "directory") {
        refuse(label, `member "${name}" would be written through the ${t} "${cur}"`);
      }
    }
    lastParent = parent;
  };

  // The stream leaves garbage (compressed and decompressed chunks, headers) faster than the
  // collector's own pace: collections when memory grows keep the peak flat whatever the size.
  const pacer = opts.pacer ?? new MemoryPacer();
  for await (const { header, body } of readTar(tar, opts.label)) {
    opts.signal?.throwIfAborted();
    pacer.add(BLOCK);
    const name = checkName(label, header.name);
    const key = names.key(name);
    const prior = types.get(key); // (also flattens the key: see Names)
    if (prior !== undefined && !(prior === "directory" && header.type === "directory")) {
      refuse(label, `member "${name}" appears twice`);
    }
    ensureParents(name);
    const path = `${tree}/${name}`;
    if (header.mode & 0o7000) stripped.push(key);
    switch (header.type) {
      case "directory":
        if (
          spec && !specUnder && (name.endsWith(`-${spec.hash}`) || name.endsWith(`/${spec.hash}`))
        ) {
          specUnder = name + "/";
          spec.start("/" + name);
        }
        if (prior === undefined) {
          mkdirSync(path, { mode: 0o700 });
          types.set(key, "directory");
          order.push(key);
        }
        chmodSync(path, dirMode);
        break;
      case "file": {
        const mode = header.mode & 0o111 ? 0o755 : 0o644;
        // Created with its final mode when the umask leaves it alone (no chmod call then).
        const fd = openSync(path, O_FLAGS, (mode & umask) === 0 ? mode : 0o600);
        try {
          if (
            spec && specUnder && name.startsWith(specUnder) && header.size >= 8 &&
            header.size <= SPECULATE_MAX && !name.startsWith(specUnder + ".spack/")
          ) {
            // Small file of the package: gather it, relocate it now if it is plain text.
            let data: Uint8Array | undefined;
            let got = 0;
            for await (const chunk of body) {
              if (got === 0 && chunk.byteLength === header.size) data = chunk;
              else {
                if (got === 0) data = gather.subarray(0, header.size);
                data!.set(chunk, got);
              }
              got += chunk.byteLength;
            }
            bytes += got;
            pacer.add(got);
            if (got >= 4 && isElfMagic(data!)) elfFiles.push(key);
            const parts = got === header.size ? spec.relocate(data!) : undefined;
            if (parts) {
              // The relative path built from pieces (a slice would hold on to the full name).
              const dir = names.dirOf(key);
              const relDir = dir.length < specUnder.length ? "" : dir.slice(specUnder.length) + "/";
              spec.files.add(`${relDir}${names.baseOf(key)}`);
            }
            writeAllSync(fd, parts ?? [data!.subarray(0, got)]);
          } else {
            const head = new Uint8Array(4);
            let headLen = 0;
            for await (const chunk of body) {
              if (headLen < 4) {
                const take = Math.min(4 - headLen, chunk.byteLength);
                head.set(chunk.subarray(0, take), headLen);
                headLen += take;
              }
              let off = 0;
              while (off < chunk.byteLength) off += writeSync(fd, chunk, off);
              bytes += chunk.byteLength;
              pacer.add(chunk.byteLength);
            }
            if (headLen === 4 && isElfMagic(head)) elfFiles.push(key);
          }
          if ((mode & umask) !== 0) fchmodSync(fd, mode);
          if (mode & 0o111) execFiles.push(key);
        } finally {
          closeSync(fd);
        }
        types.set(key, "file");
        order.push(key);
        break;
      }
      case "symlink": {
        const target = header.linkname ?? "";
        if (target === "" || target.includes("\0")) {
          refuse(label, `symlink "${name}" has an invalid target ${JSON.stringify(target)}`);
        }
        symlinkSync(target, path);
        types.set(key, "symlink");
        links.set(key, target);
        order.push(key);
        break;
      }
      case "link": {
        const target = checkName(label, header.linkname ?? "", `hardlink target of "${name}"`);
        if (types.get(names.key(target)) !== "file") {
          refuse(
            label,
            `hardlink "${name}" points to "${target}", which is not a regular file extracted before it`,
          );
        }
        linkSync(join(tree, target), path);
        types.set(key, "link");
        hard.set(key, target);
        order.push(key);
        break;
      }
      default:
        refuse(label, `member "${name}" is a ${header.type}, which a package may not contain`);
    }
  }

  // The package prefix: grand-parent of the shortest `.spack/binary_distribution` file.
  let info: string | undefined;
  for (const [key, t] of types) {
    if (t !== "file" || names.baseOf(key) !== "binary_distribution") continue;
    const name = names.name(key);
    if (
      (name === ".spack/binary_distribution" || name.endsWith("/.spack/binary_distribution")) &&
      (info === undefined || name.length < info.length)
    ) info = name;
  }
  if (info === undefined) {
    refuse(label, "it is not a Spack package (no .spack/binary_distribution file)");
  }
  const prefix = posix.dirname(posix.dirname(info));
  if (prefix === "." || prefix === "") refuse(label, "it has no package prefix directory");
  if (types.get(names.key(prefix)) !== "directory") {
    refuse(label, `it does not contain the package prefix directory "${prefix}"`);
  }
  const entries = new Map<string, PrefixEntryType>();
  const symlinks = new Map<string, string>();
  const hardlinks = new Map<string, string>();
  const under = prefix + "/";
  // Per directory: the path of its members relative to the package directory ("" for the
  // package directory itself), or undefined when the directory is outside of it.
  const relDirs = new Map<string, string | undefined>();
  const relDir = (dir: string) => {
    if (!relDirs.has(dir)) {
      relDirs.set(
        dir,
        dir === prefix ? "" : dir.startsWith(under) ? dir.slice(under.length) + "/" : undefined,
      );
    }
    return relDirs.get(dir);
  };
  /** The path relative to the package directory, or undefined outside of it (or for it). */
  const relOf = (key: string) => {
    const d = relDir(names.dirOf(key));
    return d === undefined ? undefined : `${d}${names.baseOf(key)}`;
  };
  for (const [key, t] of types) {
    if (relDir(names.dirOf(key)) !== undefined) continue;
    const name = names.name(key);
    if (name === prefix) continue;
    if (t === "directory" && under.startsWith(name + "/")) continue; // an ancestor
    refuse(label, `member "${name}" is outside of the package prefix "${prefix}"`);
  }
  const rels = (keys: string[]) => keys.map(relOf).filter((r) => r !== undefined);
  for (const key of order) {
    const rel = relOf(key);
    if (rel === undefined) continue;
    entries.set(rel, types.get(key)!);
    const target = links.get(key);
    if (target !== undefined) {
      if (!target.startsWith("/")) {
        const resolved = posix.normalize(posix.join(posix.dirname(rel), target));
        if (resolved === ".." || resolved.startsWith("../")) {
          refuse(
            label,
            `symlink "${names.name(key)}" -> "${target}" leads outside of the package prefix`,
          );
        }
      }
      symlinks.set(rel, target);
    }
    const h = hard.get(key);
    if (h !== undefined) {
      if (!h.startsWith(under)) {
        refuse(
          label,
          `hardlink "${names.name(key)}" -> "${h}" leads outside of the package prefix`,
        );
      }
      hardlinks.set(rel, h.slice(under.length));
    }
  }
  return {
    prefixDir: join(tree, prefix),
    memberPrefix: prefix,
    entries,
    symlinks,
    hardlinks,
    speculated: spec && specUnder
      ? {
        oldPrefix: spec.oldPrefix,
        newPrefix: spec.newPrefix,
        anchor: spec.anchor,
        files: spec.files,
      }
      : undefined,
    strippedModes: rels(stripped),
    elfFiles: rels(elfFiles),
    execFiles: rels(execFiles),
    bytes,
  };
}
