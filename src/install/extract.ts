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
 * Extraction only streams and stages: what a file's content becomes on the way is the
 * business of a {@link MemberRewriter} (relocation's in-stream text relocation).
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
  writeFile,
  writeSync,
} from "node:fs";
import { join, posix } from "node:path";
import process from "node:process";
import { InvalidDataError } from "../errors.ts";
import { readTar, type TarHeader } from "../core/tar.ts";
import { MemoryPacer } from "../core/memory_pacer.ts";

/** The kinds of paths a package prefix holds. */
export type PrefixEntryType = "file" | "directory" | "symlink" | "link";

/** What an extraction produced. */
export interface ExtractResult {
  /** Absolute path of the extracted package directory (inside the staging directory). */
  prefixDir: string;
  /** Absolute path of the directory every member was extracted into (`<staging>/t`). */
  tree: string;
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
}

/**
 * Changes the content of chosen regular files while they stream. Members are named by their
 * directory (the member name up to its last `/`, "" at the top) and base name.
 */
export interface MemberRewriter {
  /** Told of each directory member, in archive order. */
  directory(name: string): void;
  /**
   * True when the content of this regular file (`size` bytes, being written to `path`) is to be
   * passed to {@link rewrite}.
   */
  wants(dir: string, base: string, size: number, path: string): boolean;
  /**
   * The content to write instead (as pieces written one after the other), or undefined to
   * write `data` as it is. `data` is only valid during the call.
   */
  rewrite(dir: string, base: string, data: Uint8Array): Uint8Array[] | undefined;
}

/** Options of {@link extractTarball}. */
export interface ExtractOptions {
  /** Names the tarball in error messages. */
  label?: string;
  /**
   * Writes files up to 64 KiB on the thread pool while the archive streams on (default true):
   * faster for packages of many files, slower for small packages (its pages are 1 MiB).
   */
  pooledWrites?: boolean;
  signal?: AbortSignal;
  /** Mode of directories (default `0o2755`, Spack's default package directory permissions). */
  dirMode?: number;
  /** Rewrites file contents while they stream (see {@link MemberRewriter}). */
  rewriter?: MemberRewriter;
  /** Paces collections (default: one of its own); told the bytes extracted. */
  pacer?: MemoryPacer;
}

/** A tar header block (what each member costs besides its body). */
const BLOCK = 512;

/** The process umask (read by setting it and restoring it at once). */
function currentUmask(): number {
  const m = process.umask(0o022);
  process.umask(m);
  return m;
}

function isElfMagic(b: Uint8Array): boolean {
  return b[0] === 0x7f && b[1] === 0x45 && b[2] === 0x4c && b[3] === 0x46;
}

/**
 * The pieces of a file joined for one write, in a reused buffer: filled and written without
 * an await in between, so extractions running at once can share it.
 */
let joinBuf = new Uint8Array(1 << 16);

function grown(buf: Uint8Array<ArrayBuffer>, size: number): Uint8Array<ArrayBuffer> {
  return size <= buf.byteLength ? buf : new Uint8Array(Math.max(size, buf.byteLength * 2));
}

/** Writes the parts with one system call (joined in a reused buffer). */
function writeAllSync(fd: number, parts: Uint8Array[]): void {
  let data = parts[0];
  if (parts.length > 1) {
    let total = 0;
    for (const p of parts) total += p.byteLength;
    joinBuf = grown(joinBuf, total);
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

/** Copies `parts` one after the other into `into` from `at`; gives where they end. */
function copyParts(parts: Uint8Array[], into: Uint8Array, at: number): number {
  for (const p of parts) {
    into.set(p, at);
    at += p.byteLength;
  }
  return at;
}

/** Files up to this size are written whole on the thread pool (see {@link FileWriter}). */
const POOLED_FILE = 64 << 10;

/**
 * Whole-file writes (create, write, close: one `writeFile`) running on the runtime's thread
 * pool while the archive goes on streaming: the system calls of many small files are then no
 * longer the extraction's own time. Their bytes are copied into pages it reuses (no garbage);
 * at most {@link IN_FLIGHT} writes run at once. Files are created as the synchronous path
 * creates them (exclusively, not through a symlink, with their final mode). The first failure
 * is thrown by the next {@link check} or {@link idle}; nothing is left running after `idle()`.
 */
class FileWriter {
  static readonly PAGE = 1 << 20;
  static readonly PAGES = 4;
  static readonly IN_FLIGHT = 64;
  readonly #pages: Uint8Array<ArrayBuffer>[] = [];
  /** Writes in flight by page. */
  readonly #refs = new Uint32Array(FileWriter.PAGES);
  #page = 0;
  #off = 0;
  #inFlight = 0;
  #failed: unknown;
  #wake?: () => void;

  /** Throws the first failure of a write. */
  check(): void {
    if (this.#failed !== undefined) throw this.#failed;
  }

  /** Writes `parts` (`size` bytes in all) to a new file at `path` with `mode`. */
  async write(path: string, parts: Uint8Array[], size: number, mode: number): Promise<void> {
    if (size > FileWriter.PAGE) return await this.#writeOwn(path, parts, size, mode);
    for (;;) {
      this.check();
      if (this.#inFlight < FileWriter.IN_FLIGHT) {
        if (this.#off + size <= FileWriter.PAGE) break;
        const next = (this.#page + 1) % FileWriter.PAGES;
        if (this.#refs[next] === 0) {
          this.#page = next;
          this.#off = 0;
          break;
        }
      }
      await new Promise<void>((r) => this.#wake = r);
    }
    const page = this.#page;
    const buf = this.#pages[page] ??= new Uint8Array(FileWriter.PAGE);
    const start = this.#off;
    const o = this.#off = copyParts(parts, buf, start);
    this.#refs[page]++;
    this.#inFlight++;
    // (One options object a mode and one callback a page: nothing made per file but the view.)
    writeFile(path, buf.subarray(start, o), this.#options(mode), this.#done[page]);
  }

  /**
   * A file larger than a page (a small file that relocation grew: a prefix many times longer)
   * gets a buffer of its own, released when its write is done.
   */
  async #writeOwn(path: string, parts: Uint8Array[], size: number, mode: number): Promise<void> {
    while (this.#inFlight >= FileWriter.IN_FLIGHT) {
      this.check();
      await new Promise<void>((r) => this.#wake = r);
    }
    this.check();
    const own = new Uint8Array(size);
    copyParts(parts, own, 0);
    this.#inFlight++;
    writeFile(path, own, this.#options(mode), this.#doneOwn);
  }

  /** A write ended: the first failure is kept, and a waiting caller woken. */
  #settle(e: NodeJS.ErrnoException | null): void {
    this.#inFlight--;
    if (e) this.#failed ??= e;
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  readonly #doneOwn = (e: NodeJS.ErrnoException | null) => this.#settle(e);

  readonly #byMode = new Map<number, { flag: string; mode: number }>();
  #options(mode: number): { flag: string; mode: number } {
    let o = this.#byMode.get(mode);
    // (Numeric flags pass through to open(2), as fs.open takes them; the types know strings.)
    if (!o) this.#byMode.set(mode, o = { flag: O_FLAGS as unknown as string, mode });
    return o;
  }

  readonly #done = Array.from(
    { length: FileWriter.PAGES },
    (_, page) => (e: NodeJS.ErrnoException | null) => {
      this.#refs[page]--;
      this.#settle(e);
    },
  );

  /** Waits for every write in flight; throws the first failure unless `quiet`. */
  async idle(quiet = false): Promise<void> {
    while (this.#inFlight > 0) await new Promise<void>((r) => this.#wake = r);
    if (!quiet) this.check();
  }
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
    // The number before the first "/", read in place (no substring).
    let id = 0;
    for (let i = 0; i < key.length; i++) {
      const c = key.charCodeAt(i);
      if (c === 0x2f) break;
      id = id * 10 + c - 0x30;
    }
    return this.#dirs[id];
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
  const x = new Extraction(join(stagingDir, "t"), opts);
  // The stream leaves garbage (compressed and decompressed chunks, headers) faster than the
  // collector's own pace: collections when memory grows keep the peak flat whatever the size.
  const pacer = opts.pacer ?? new MemoryPacer();
  try {
    for await (const entry of readTar(tar, opts.label)) {
      opts.signal?.throwIfAborted();
      x.writer.check();
      pacer.add(BLOCK);
      await x.member(entry.header, entry.body, pacer, entry.bodyBuffered);
    }
    await x.writer.idle();
  } finally {
    // On a failure too: nothing may write into the staging directory once this returns.
    await x.writer.idle(true);
  }
  return x.result();
}

/** The state of one extraction: every member staged so far. */
class Extraction {
  readonly tree: string;
  readonly label: string;
  readonly dirMode: number;
  readonly rewriter?: MemberRewriter;
  /** Small files go to the thread pool (see FileWriter). */
  readonly pooled: boolean;
  /**
   * The content of a file handed to the rewriter, gathered across chunks: this extraction's
   * own, since the chunks arrive with awaits between them while other extractions run.
   */
  #gather = new Uint8Array(1 << 16);
  readonly umask = currentUmask();
  readonly names = new Names();
  /** Every member (and implied parent directory) by key (see Names). */
  readonly types = new Map<string, PrefixEntryType>();
  readonly order: string[] = []; // keys of the members, in archive order
  readonly links = new Map<string, string>(); // key -> symlink target
  readonly hard = new Map<string, string>(); // key -> member name
  readonly stripped: string[] = []; // keys
  readonly elfFiles: string[] = []; // keys
  readonly execFiles: string[] = []; // keys
  bytes = 0;
  /** The small files' writes (see FileWriter). */
  readonly writer = new FileWriter();
  #lastParent: string | undefined;

  constructor(tree: string, opts: ExtractOptions) {
    this.tree = tree;
    this.label = opts.label ? `"${opts.label}"` : "tarball";
    this.dirMode = opts.dirMode ?? 0o2755;
    this.rewriter = opts.rewriter;
    this.pooled = opts.pooledWrites !== false;
    mkdirSync(tree, { mode: 0o700 });
  }

  /** Stages one member. */
  async member(
    header: TarHeader,
    body: AsyncIterable<Uint8Array>,
    pacer: MemoryPacer,
    bodyBuffered?: () => Uint8Array | undefined,
  ): Promise<void> {
    const { label, names, types } = this;
    const name = checkName(label, header.name);
    const key = names.key(name);
    const prior = types.get(key); // (also flattens the key: see Names)
    if (prior !== undefined && !(prior === "directory" && header.type === "directory")) {
      refuse(label, `member "${name}" appears twice`);
    }
    this.#ensureParents(name);
    const path = `${this.tree}/${name}`;
    if (header.mode & 0o7000) this.stripped.push(key);
    switch (header.type) {
      case "directory":
        this.rewriter?.directory(name);
        if (prior === undefined) {
          mkdirSync(path, { mode: 0o700 });
          types.set(key, "directory");
          this.order.push(key);
        }
        chmodSync(path, this.dirMode);
        break;
      case "file":
        await this.#file(key, path, header, body, pacer, bodyBuffered);
        types.set(key, "file");
        this.order.push(key);
        break;
      case "symlink": {
        const target = header.linkname ?? "";
        if (target === "" || target.includes("\0")) {
          refuse(label, `symlink "${name}" has an invalid target ${JSON.stringify(target)}`);
        }
        symlinkSync(target, path);
        types.set(key, "symlink");
        this.links.set(key, target);
        this.order.push(key);
        break;
      }
      case "link": {
        const target = checkName(label, header.linkname ?? "", `hardlink target of "${name}"`);
        await this.writer.idle(); // the file linked to is written
        if (types.get(names.key(target)) !== "file") {
          refuse(
            label,
            `hardlink "${name}" points to "${target}", which is not a regular file extracted before it`,
          );
        }
        linkSync(join(this.tree, target), path);
        types.set(key, "link");
        this.hard.set(key, target);
        this.order.push(key);
        break;
      }
      default:
        refuse(label, `member "${name}" is a ${header.type}, which a package may not contain`);
    }
  }

  /** Creates the directories above `name` that no member created (refusing non-directories). */
  #ensureParents(name: string): void {
    const slash = name.lastIndexOf("/");
    const parent = slash < 0 ? "" : name.slice(0, slash);
    // Members come directory by directory: the parent checked last time is usually this one
    // (and a directory stays one: any other member of its name is refused).
    if (parent === this.#lastParent) return;
    const parts = name.split("/");
    let cur = "";
    for (let i = 0; i < parts.length - 1; i++) {
      cur = cur ? `${cur}/${parts[i]}` : parts[i];
      const k = this.names.key(cur);
      const t = this.types.get(k);
      if (t === undefined) {
        mkdirSync(join(this.tree, cur), { mode: 0o700 });
        chmodSync(join(this.tree, cur), this.dirMode);
        this.types.set(k, "directory");
      } else if (t !== "directory") {
        refuse(this.label, `member "${name}" would be written through the ${t} "${cur}"`);
      }
    }
    this.#lastParent = parent;
  }

  /** Writes a regular file: streamed, or gathered and handed to the rewriter. */
  async #file(
    key: string,
    path: string,
    header: TarHeader,
    body: AsyncIterable<Uint8Array>,
    pacer: MemoryPacer,
    bodyBuffered?: () => Uint8Array | undefined,
  ): Promise<void> {
    const mode = header.mode & 0o111 ? 0o755 : 0o644;
    // Small files go to the thread pool; the buildinfo is written at once (relocation may
    // read it back while the archive streams).
    if (
      this.pooled && header.size <= POOLED_FILE && (mode & this.umask) === 0 &&
      this.names.baseOf(key) !== "binary_distribution"
    ) return await this.#pooledFile(key, path, header, body, pacer, mode, bodyBuffered);
    // Created with its final mode when the umask leaves it alone (no chmod call then).
    const fd = openSync(path, O_FLAGS, (mode & this.umask) === 0 ? mode : 0o600);
    try {
      const dir = this.names.dirOf(key);
      const base = this.names.baseOf(key);
      if (this.rewriter?.wants(dir, base, header.size, path)) {
        const content = await this.#whole(key, header, body, pacer);
        const parts = content.byteLength === header.size
          ? this.rewriter.rewrite(dir, base, content)
          : undefined;
        writeAllSync(fd, parts ?? [content]);
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
          this.bytes += chunk.byteLength;
          pacer.add(chunk.byteLength);
        }
        if (headLen === 4 && isElfMagic(head)) this.elfFiles.push(key);
      }
      if ((mode & this.umask) !== 0) fchmodSync(fd, mode);
      if (mode & 0o111) this.execFiles.push(key);
    } finally {
      closeSync(fd);
    }
  }

  /**
   * A file's whole content, counted (bytes, pacer, ELF magic): the body's one chunk when it is
   * one (taken without an await when `bodyBuffered` has it), else gathered into `#gather`. Valid
   * until the next chunk is read.
   */
  async #whole(
    key: string,
    header: TarHeader,
    body: AsyncIterable<Uint8Array>,
    pacer: MemoryPacer,
    bodyBuffered?: () => Uint8Array | undefined,
  ): Promise<Uint8Array> {
    let data = bodyBuffered?.();
    let got = data?.byteLength ?? 0;
    if (data === undefined) {
      for await (const chunk of body) {
        if (got === 0 && chunk.byteLength === header.size) data = chunk;
        else {
          if (got === 0) data = this.#gather = grown(this.#gather, header.size);
          data!.set(chunk, got);
        }
        got += chunk.byteLength;
      }
    }
    const content = (data ?? this.#gather).subarray(0, got);
    this.bytes += got;
    pacer.add(got);
    if (got >= 4 && isElfMagic(content)) this.elfFiles.push(key);
    return content;
  }

  /** Writes a small file whole on the thread pool (see FileWriter), rewritten or not. */
  async #pooledFile(
    key: string,
    path: string,
    header: TarHeader,
    body: AsyncIterable<Uint8Array>,
    pacer: MemoryPacer,
    mode: number,
    bodyBuffered?: () => Uint8Array | undefined,
  ): Promise<void> {
    const dir = this.names.dirOf(key);
    const base = this.names.baseOf(key);
    const rewrite = this.rewriter?.wants(dir, base, header.size, path) ?? false;
    const content = await this.#whole(key, header, body, pacer, bodyBuffered);
    const got = content.byteLength;
    const parts = rewrite && got === header.size
      ? this.rewriter!.rewrite(dir, base, content)
      : undefined;
    let size = got;
    if (parts) {
      size = 0;
      for (const p of parts) size += p.byteLength;
    }
    // (The content is copied before the next chunk is read: it may be a view of a reused buffer.)
    await this.writer.write(path, parts ?? [content], size, mode);
    if (mode & 0o111) this.execFiles.push(key);
  }

  /** Finds and checks the package prefix once the archive has ended. */
  result(): ExtractResult {
    const { label, names, types } = this;
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
    const entries = new Map<string, PrefixEntryType>();
    const symlinks = new Map<string, string>();
    const hardlinks = new Map<string, string>();
    for (const key of this.order) {
      const rel = relOf(key);
      if (rel === undefined) continue;
      entries.set(rel, types.get(key)!);
      const target = this.links.get(key);
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
      const h = this.hard.get(key);
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
      prefixDir: join(this.tree, prefix),
      tree: this.tree,
      memberPrefix: prefix,
      entries,
      symlinks,
      hardlinks,
      strippedModes: rels(this.stripped),
      elfFiles: rels(this.elfFiles),
      execFiles: rels(this.execFiles),
      bytes: this.bytes,
    };
  }
}
