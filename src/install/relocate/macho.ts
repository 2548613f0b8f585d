/**
 * Mach-O relocation, as Spack's `relocate_macho_binaries` does it with `install_name_tool`:
 * the install name (`LC_ID_DYLIB`), the dylibs a file loads (`LC_LOAD_DYLIB`,
 * `LC_LOAD_WEAK_DYLIB`, `LC_REEXPORT_DYLIB`, `LC_LAZY_LOAD_DYLIB`, `LC_LOAD_UPWARD_DYLIB`) and
 * its run paths (`LC_RPATH`) that start with an old prefix get the new one, in thin files and
 * in every slice of fat (universal) files, 32 and 64 bit. A changed command gets the size
 * `install_name_tool` gives it (the string, its NUL, rounded up to 8 bytes); the commands
 * after it move. The load commands may use the header padding (the bytes before the first
 * section's contents); when they would outgrow it, the file is refused.
 *
 * {@link planMachoUpdates} is pure: it reads through a byte source and returns the new load
 * command region of each slice, the slices carrying a code signature (to regenerate after
 * every change, see `codesign.ts`) and the problems.
 *
 * @module
 */
import type { ByteSource } from "../relocate_elf.ts";
import type { FileWrite } from "./elf_grow.ts";

export const LC_SEGMENT = 0x1;
export const LC_ID_DYLIB = 0xd;
export const LC_LOAD_DYLIB = 0xc;
export const LC_SEGMENT_64 = 0x19;
export const LC_LAZY_LOAD_DYLIB = 0x20;
export const LC_CODE_SIGNATURE = 0x1d;
export const LC_LOAD_WEAK_DYLIB = 0x80000018;
export const LC_RPATH = 0x8000001c;
export const LC_REEXPORT_DYLIB = 0x8000001f;
export const LC_LOAD_UPWARD_DYLIB = 0x80000023;
const DYLIB_CMDS = new Set([
  LC_ID_DYLIB,
  LC_LOAD_DYLIB,
  LC_LOAD_WEAK_DYLIB,
  LC_REEXPORT_DYLIB,
  LC_LAZY_LOAD_DYLIB,
  LC_LOAD_UPWARD_DYLIB,
]);
const MH_DYLIB = 6;
const CPU_TYPE_ARM64 = 0x0100000c;
/** Section types without file contents (zerofill, GB zerofill, thread-local zerofill). */
const ZEROFILL = new Set([0x1, 0xc, 0x12]);

/** One load command of a slice. */
export interface LoadCommand {
  cmd: number;
  /** Offset in the slice. */
  offset: number;
  cmdsize: number;
  /** The path of a dylib or rpath command. */
  path?: string;
}

/** One Mach-O image (a thin file, or one architecture of a fat file). */
export interface MachoSlice {
  /** Offset of the slice in the file. */
  offset: number;
  size: number;
  is64: boolean;
  littleEndian: boolean;
  cputype: number;
  filetype: number;
  headerSize: number;
  sizeofcmds: number;
  /** The end of the room for load commands: the first section's contents (slice offset). */
  commandsLimit: number;
  commands: LoadCommand[];
  /** The `LC_CODE_SIGNATURE` data (slice offsets). */
  codeSignature?: { dataoff: number; datasize: number };
}

/** True when the bytes start with a Mach-O or fat magic (as Spack's `is_macho_magic`). */
export function isMachoMagic(b: Uint8Array): boolean {
  if (b.byteLength < 4) return false;
  const m = ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
  return [
    0xfeedface,
    0xcefaedfe,
    0xfeedfacf,
    0xcffaedfe,
    0xcafebabe,
    0xbebafeca,
    0xcafebabf,
  ].includes(m);
}

const latin1 = new TextDecoder("latin1");
const utf8 = new TextEncoder();

/**
 * Reads the slices of a Mach-O file (undefined when it is not one: a Java class file shares
 * the fat magic, and is told apart by its implausible architecture count).
 */
export function parseMacho(get: ByteSource, size: number): MachoSlice[] | undefined {
  try {
    const head = get(0, 8);
    if (head.byteLength < 8) return undefined;
    const hv = new DataView(head.buffer, head.byteOffset, 8);
    const magic = hv.getUint32(0, false);
    if (magic === 0xcafebabe || magic === 0xcafebabf) {
      const fat64 = magic === 0xcafebabf;
      const n = hv.getUint32(4, false);
      if (n === 0 || n > 64) return undefined;
      const entSize = fat64 ? 32 : 20;
      const ents = get(8, n * entSize);
      const ev = new DataView(ents.buffer, ents.byteOffset, ents.byteLength);
      const out: MachoSlice[] = [];
      for (let i = 0; i < n; i++) {
        const o = i * entSize;
        const off = fat64 ? Number(ev.getBigUint64(o + 8, false)) : ev.getUint32(o + 8, false);
        const sz = fat64 ? Number(ev.getBigUint64(o + 16, false)) : ev.getUint32(o + 12, false);
        if (off + sz > size) return undefined;
        const s = parseSlice(get, off, sz);
        if (!s) return undefined;
        out.push(s);
      }
      return out;
    }
    const s = parseSlice(get, 0, size);
    return s ? [s] : undefined;
  } catch {
    return undefined;
  }
}

function parseSlice(get: ByteSource, base: number, size: number): MachoSlice | undefined {
  const m = get(base, 4);
  if (m.byteLength < 4) return undefined;
  const be = ((m[0] << 24) | (m[1] << 16) | (m[2] << 8) | m[3]) >>> 0;
  let is64: boolean, le: boolean;
  if (be === 0xfeedface) [is64, le] = [false, false];
  else if (be === 0xcefaedfe) [is64, le] = [false, true];
  else if (be === 0xfeedfacf) [is64, le] = [true, false];
  else if (be === 0xcffaedfe) [is64, le] = [true, true];
  else return undefined;
  const headerSize = is64 ? 32 : 28;
  const h = get(base, headerSize);
  const hv = new DataView(h.buffer, h.byteOffset, h.byteLength);
  const cputype = hv.getUint32(4, le);
  const filetype = hv.getUint32(12, le);
  const ncmds = hv.getUint32(16, le);
  const sizeofcmds = hv.getUint32(20, le);
  if (headerSize + sizeofcmds > size) throw new Error("load commands");
  const region = get(base + headerSize, sizeofcmds);
  const rv = new DataView(region.buffer, region.byteOffset, region.byteLength);
  const commands: LoadCommand[] = [];
  let limit = size;
  let codeSignature: MachoSlice["codeSignature"];
  let at = 0;
  for (let i = 0; i < ncmds; i++) {
    if (at + 8 > sizeofcmds) throw new Error("load command");
    const cmd = rv.getUint32(at, le);
    const cmdsize = rv.getUint32(at + 4, le);
    if (cmdsize < 8 || at + cmdsize > sizeofcmds) throw new Error("load command size");
    const c: LoadCommand = { cmd, offset: headerSize + at, cmdsize };
    const str = (strOff: number) => {
      const o = rv.getUint32(at + strOff, le);
      let end = at + o;
      while (end < at + cmdsize && region[end] !== 0) end++;
      return latin1.decode(region.subarray(at + o, end));
    };
    if (DYLIB_CMDS.has(cmd)) c.path = str(8);
    else if (cmd === LC_RPATH) c.path = str(8);
    else if (cmd === LC_CODE_SIGNATURE) {
      codeSignature = { dataoff: rv.getUint32(at + 8, le), datasize: rv.getUint32(at + 12, le) };
    } else if (cmd === LC_SEGMENT || cmd === LC_SEGMENT_64) {
      const segHead = cmd === LC_SEGMENT_64 ? 72 : 56;
      const sectSize = cmd === LC_SEGMENT_64 ? 80 : 68;
      const nsects = rv.getUint32(at + (cmd === LC_SEGMENT_64 ? 64 : 48), le);
      for (let s = 0; s < nsects; s++) {
        const so = at + segHead + s * sectSize;
        const ssize = cmd === LC_SEGMENT_64
          ? Number(rv.getBigUint64(so + 40, le))
          : rv.getUint32(so + 36, le);
        const soff = rv.getUint32(so + (cmd === LC_SEGMENT_64 ? 48 : 40), le);
        const flags = rv.getUint32(so + (cmd === LC_SEGMENT_64 ? 64 : 56), le);
        if (ZEROFILL.has(flags & 0xff) || soff === 0 || ssize === 0) continue;
        limit = Math.min(limit, soff);
      }
    }
    commands.push(c);
    at += cmdsize;
  }
  return {
    offset: base,
    size,
    is64,
    littleEndian: le,
    cputype,
    filetype,
    headerSize,
    sizeofcmds,
    commandsLimit: limit,
    commands,
    codeSignature,
  };
}

/** True for an arm64 slice (whose code macOS runs only with a valid signature). */
export const isArm64 = (s: MachoSlice) => s.cputype === CPU_TYPE_ARM64;

/**
 * Spack's `_macho_find_paths`: the first old prefix (longest first) a path starts with is
 * replaced everywhere in it; paths under no old prefix stay.
 */
export function mapMachoPath(path: string, pairs: [string, string][]): string {
  const order = [...pairs].sort((a, b) => b[0].length - a[0].length);
  for (const [o, n] of order) if (path.startsWith(o)) return path.split(o).join(n);
  return path;
}

/** The outcome of planning a Mach-O file. */
export interface MachoPlan {
  slices: MachoSlice[];
  /** The new load command regions (with the header's ncmds/sizeofcmds). */
  writes: FileWrite[];
  /** The changed paths, for messages and tests. */
  changes: { slice: number; cmd: number; old: string; new: string }[];
  problems: string[];
}

/**
 * Plans the load command rewrites of a Mach-O file for the ordered prefix pairs (old and new
 * prefixes as strings; paths are compared as bytes of the file). `fileName` decides Spack's
 * one exception: files with `libgcc_` in their path are left alone.
 */
export function planMachoUpdates(
  get: ByteSource,
  size: number,
  pairs: [string, string][],
  fileName = "",
): MachoPlan | undefined {
  const slices = parseMacho(get, size);
  if (!slices) return undefined;
  const plan: MachoPlan = { slices, writes: [], changes: [], problems: [] };
  if (fileName.includes("libgcc_")) return plan;
  const toLatin1 = (s: string) => latin1.decode(utf8.encode(s));
  const bytePairs = pairs.map(([o, n]) => [toLatin1(o), toLatin1(n)] as [string, string]);
  slices.forEach((s, si) => {
    const le = s.littleEndian;
    const newRpaths = new Set<string>();
    const parts: Uint8Array[] = [];
    let changed = false;
    const region = get(s.offset + s.headerSize, s.sizeofcmds);
    for (const c of s.commands) {
      const raw = region.subarray(c.offset - s.headerSize, c.offset - s.headerSize + c.cmdsize);
      let np = c.path === undefined ? undefined : mapMachoPath(c.path, bytePairs);
      if (np !== undefined && c.cmd === LC_ID_DYLIB && s.filetype !== MH_DYLIB) np = undefined;
      if (np !== undefined && c.cmd === LC_RPATH) {
        // Spack passes one -rpath per new value; a second rpath mapping to it stays.
        if (np !== c.path && newRpaths.has(np)) np = c.path;
        else if (np !== c.path) newRpaths.add(np);
      }
      if (np === undefined || np === c.path) {
        parts.push(raw);
        continue;
      }
      changed = true;
      plan.changes.push({ slice: si, cmd: c.cmd, old: c.path!, new: np });
      const strOff = new DataView(raw.buffer, raw.byteOffset, raw.byteLength).getUint32(8, le);
      const str = Uint8Array.from(np, (ch) => ch.charCodeAt(0));
      const cmdsize = Math.ceil((strOff + str.byteLength + 1) / 8) * 8;
      const out = new Uint8Array(cmdsize);
      out.set(raw.subarray(0, strOff));
      out.set(str, strOff);
      new DataView(out.buffer).setUint32(4, cmdsize, le);
      parts.push(out);
    }
    if (!changed) return;
    const total = parts.reduce((a, p) => a + p.byteLength, 0);
    const room = s.commandsLimit - s.headerSize;
    if (total > room) {
      plan.problems.push(
        `the load commands${slices.length > 1 ? ` of architecture ${si + 1}` : ""} would ` +
          `grow to ${total} bytes and the header padding holds ${room} (the new paths: ${
            plan.changes.filter((c) => c.slice === si).map((c) => `"${c.new}"`).join(", ")
          }); relink with a larger -headerpad`,
      );
      return;
    }
    // The region up to the old end (or the new one, when longer), zero-filled after it.
    const out = new Uint8Array(Math.max(total, s.sizeofcmds));
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.byteLength;
    }
    plan.writes.push({ offset: s.offset + s.headerSize, bytes: out });
    const hdr = new Uint8Array(4);
    new DataView(hdr.buffer).setUint32(0, total, le);
    plan.writes.push({ offset: s.offset + 20, bytes: hdr });
  });
  return plan;
}
