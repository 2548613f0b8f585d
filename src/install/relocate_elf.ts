/**
 * ELF reading and in-place RPATH/RUNPATH and PT_INTERP rewriting, as Spack's `util/elf.py`
 * does it: 32 and 64 bit, little and big endian, executables and shared libraries. A string
 * is only rewritten when the new value fits in the old one; the rest of the old string is
 * zero-filled. Nothing else in the file moves.
 *
 * @module
 */

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const DT_NULL = 0;
const DT_NEEDED = 1;
const DT_STRTAB = 5;
const DT_SONAME = 14;
const DT_RPATH = 15;
const DT_RUNPATH = 29;
const SHT_STRTAB = 3;
const ET_EXEC = 2;
const ET_DYN = 3;

/** What spackle reads from an ELF file. */
export interface ElfInfo {
  is64: boolean;
  littleEndian: boolean;
  /** The interpreter path and its file offset, when there is a PT_INTERP. */
  interp?: { value: Uint8Array; offset: number };
  /** The DT_RPATH or DT_RUNPATH string and its file offset. */
  rpath?: { value: Uint8Array; offset: number; runpath: boolean };
  soname?: string;
  needed: string[];
}

/** True when the bytes start with the ELF magic. */
export function isElf(data: Uint8Array): boolean {
  return data.byteLength >= 4 && data[0] === 0x7f && data[1] === 0x45 && data[2] === 0x4c &&
    data[3] === 0x46;
}

/** Random access to a file's bytes: an array in memory or reads at offsets. */
export type ByteSource = (offset: number, length: number) => Uint8Array;

class Reader {
  constructor(
    readonly get: ByteSource,
    readonly le: boolean,
    readonly is64: boolean,
  ) {}
  private view(o: number, n: number): DataView {
    const b = this.get(o, n);
    if (b.byteLength < n) throw new Error(`short read at ${o}`);
    return new DataView(b.buffer, b.byteOffset, n);
  }
  u16(o: number): number {
    return this.view(o, 2).getUint16(0, this.le);
  }
  u32(o: number): number {
    return this.view(o, 4).getUint32(0, this.le);
  }
  i32(o: number): number {
    return this.view(o, 4).getInt32(0, this.le);
  }
  u64(o: number): number {
    return Number(this.view(o, 8).getBigUint64(0, this.le));
  }
  i64(o: number): number {
    return Number(this.view(o, 8).getBigInt64(0, this.le));
  }
  /** A word: 8 bytes in ELF64, 4 in ELF32. */
  word(o: number): number {
    return this.is64 ? this.u64(o) : this.u32(o);
  }
}

function cString(data: Uint8Array, start: number): Uint8Array {
  let end = start;
  while (end < data.byteLength && data[end] !== 0) end++;
  return data.subarray(start, end);
}

const latin1 = (b: Uint8Array) => String.fromCharCode(...b);

/**
 * Parses the parts of an ELF file that relocation needs. Returns undefined for anything that
 * is not a well-formed ELF executable or shared library (Spack skips those silently).
 */
export function parseElf(data: Uint8Array): ElfInfo | undefined {
  return parseElfAt((o, n) => data.subarray(o, o + n), data.byteLength);
}

/** {@link parseElf} over random access to a file of `size` bytes (reads only what it needs). */
export function parseElfAt(get: ByteSource, size: number): ElfInfo | undefined {
  try {
    return parseElfOrThrow(get, size);
  } catch {
    return undefined;
  }
}

function parseElfOrThrow(get: ByteSource, fileSize: number): ElfInfo | undefined {
  const ident = get(0, 16);
  if (ident.byteLength < 16 || !isElf(ident)) return undefined;
  const cls = ident[4];
  const enc = ident[5];
  if ((cls !== 1 && cls !== 2) || (enc !== 1 && enc !== 2)) return undefined;
  const is64 = cls === 2;
  const r = new Reader(get, enc === 1, is64);
  const data = { byteLength: fileSize };
  const eType = r.u16(16);
  if (eType !== ET_EXEC && eType !== ET_DYN) return undefined;
  const phoff = is64 ? r.u64(32) : r.u32(28);
  const shoff = is64 ? r.u64(40) : r.u32(32);
  const phentsize = is64 ? 56 : 32;
  const phnum = r.u16(is64 ? 56 : 44);
  const shnum = r.u16(is64 ? 60 : 48);
  if (phoff + phnum * phentsize > data.byteLength) throw new Error("program headers");

  const loads: [number, number][] = [];
  let interp: { offset: number; size: number } | undefined;
  let dyn: { offset: number; size: number } | undefined;
  for (let i = 0; i < phnum; i++) {
    const o = phoff + i * phentsize;
    const type = r.u32(o);
    const offset = is64 ? r.u64(o + 8) : r.u32(o + 4);
    const vaddr = is64 ? r.u64(o + 16) : r.u32(o + 8);
    const filesz = is64 ? r.u64(o + 32) : r.u32(o + 16);
    if (filesz === 0) continue;
    if (type === PT_LOAD) loads.push([offset, vaddr]);
    else if (type === PT_INTERP) interp = { offset, size: filesz };
    else if (type === PT_DYNAMIC) dyn = { offset, size: filesz };
  }
  loads.sort((a, b) => a[1] - b[1]);

  const info: ElfInfo = { is64, littleEndian: enc === 1, needed: [] };
  if (interp) {
    if (interp.offset + interp.size > data.byteLength) throw new Error("PT_INTERP");
    info.interp = {
      value: cString(get(interp.offset, interp.size).slice(), 0),
      offset: interp.offset,
    };
  }
  if (!dyn || loads.length === 0) return info;

  const entSize = is64 ? 16 : 8;
  let rpathVal: number | undefined;
  let runpath = false;
  let rpathCount = 0;
  let strtabVaddr: number | undefined;
  let strtabCount = 0;
  let sonameVal: number | undefined;
  const neededVals: number[] = [];
  const n = Math.floor(dyn.size / entSize);
  if (dyn.offset + n * entSize > data.byteLength) throw new Error("PT_DYNAMIC");
  for (let i = 0; i < n; i++) {
    const o = dyn.offset + i * entSize;
    const tag = is64 ? r.i64(o) : r.i32(o);
    const val = r.word(o + (is64 ? 8 : 4));
    if (tag === DT_NULL) break;
    if (tag === DT_RPATH || tag === DT_RUNPATH) {
      rpathCount++;
      rpathVal = val;
      runpath = tag === DT_RUNPATH;
    } else if (tag === DT_STRTAB) {
      strtabCount++;
      strtabVaddr = val;
    } else if (tag === DT_NEEDED) neededVals.push(val);
    else if (tag === DT_SONAME) sonameVal = val;
  }
  if (rpathCount > 1) throw new Error("several rpaths");
  if (strtabCount !== 1 || strtabVaddr === undefined) throw new Error("strtab");
  if (rpathVal === undefined && sonameVal === undefined && neededVals.length === 0) return info;

  // vaddr -> file offset through the last PT_LOAD starting at or below it.
  let idx = -1;
  for (let i = 0; i < loads.length; i++) if (loads[i][1] <= strtabVaddr) idx = i;
  if (idx < 0) idx = loads.length - 1; // Python's bisect - 1 wraps to the last element
  const strtabOffset = loads[idx][0] - loads[idx][1] + strtabVaddr;
  // The string table's size comes from the section header that starts at that offset.
  const shentsize = is64 ? 64 : 40;
  let strtabSize: number | undefined;
  for (let i = 0; i < shnum; i++) {
    const o = shoff + i * shentsize;
    if (o + shentsize > data.byteLength) throw new Error("section headers");
    const type = r.u32(o + 4);
    const off = is64 ? r.u64(o + 24) : r.u32(o + 16);
    if (type === SHT_STRTAB && off === strtabOffset) {
      strtabSize = is64 ? r.u64(o + 32) : r.u32(o + 20);
      break;
    }
  }
  if (strtabSize === undefined) throw new Error("strtab size");
  if (strtabOffset + strtabSize > data.byteLength) throw new Error("strtab");
  const strtab = get(strtabOffset, strtabSize).slice();
  const str = (v: number) => cString(strtab, v);
  if (rpathVal !== undefined) {
    info.rpath = { value: str(rpathVal), offset: strtabOffset + rpathVal, runpath };
  }
  if (sonameVal !== undefined) info.soname = new TextDecoder().decode(str(sonameVal));
  info.needed = neededVals.map((v) => new TextDecoder().decode(str(v)));
  return info;
}

function startsWithBytes(s: Uint8Array, p: Uint8Array): boolean {
  if (p.byteLength > s.byteLength) return false;
  for (let i = 0; i < p.byteLength; i++) if (s[i] !== p[i]) return false;
  return true;
}

/** The value with its leading prefix replaced (first matching old prefix in map order). */
function replaceLeading(
  value: Uint8Array,
  pairs: [Uint8Array, Uint8Array][],
): Uint8Array | undefined {
  for (const [oldP, newP] of pairs) {
    if (startsWithBytes(value, oldP)) {
      const out = new Uint8Array(newP.byteLength + value.byteLength - oldP.byteLength);
      out.set(newP, 0);
      out.set(value.subarray(oldP.byteLength), newP.byteLength);
      return out;
    }
  }
  return undefined;
}

/** One string rewrite planned in an ELF file. */
export interface ElfStringUpdate {
  kind: "rpath" | "interp";
  offset: number;
  old: Uint8Array;
  new: Uint8Array;
}

/**
 * The RPATH/RUNPATH and interpreter rewrites Spack would make for this prefix map: each
 * non-empty `:`-separated entry that starts with an old prefix gets the new one. Returns an
 * empty list when nothing changes or the file is not a usable ELF file.
 */
export function planElfUpdates(
  data: Uint8Array | { get: ByteSource; size: number },
  pairs: [Uint8Array, Uint8Array][],
): ElfStringUpdate[] {
  const elf = data instanceof Uint8Array ? parseElf(data) : parseElfAt(data.get, data.size);
  if (!elf) return [];
  const out: ElfStringUpdate[] = [];
  if (elf.rpath) {
    const entries: Uint8Array[] = [];
    let start = 0;
    const v = elf.rpath.value;
    for (let i = 0; i <= v.byteLength; i++) {
      if (i === v.byteLength || v[i] === 0x3a) {
        if (i > start) entries.push(v.subarray(start, i));
        start = i + 1;
      }
    }
    let changed = false;
    const mapped = entries.map((e) => {
      const r = replaceLeading(e, pairs);
      if (r) changed = true;
      return r ?? e;
    });
    if (changed) {
      const total = mapped.reduce((a, e) => a + e.byteLength, 0) + mapped.length - 1;
      const joined = new Uint8Array(total);
      let o = 0;
      mapped.forEach((e, i) => {
        if (i > 0) joined[o++] = 0x3a;
        joined.set(e, o);
        o += e.byteLength;
      });
      out.push({ kind: "rpath", offset: elf.rpath.offset, old: v, new: joined });
    }
  }
  if (elf.interp) {
    const r = replaceLeading(elf.interp.value, pairs);
    if (r) out.push({ kind: "interp", offset: elf.interp.offset, old: elf.interp.value, new: r });
  }
  return out;
}

/**
 * Applies planned updates in place (each must fit: new length <= old length), zero-filling
 * the rest of each old string. Throws when one does not fit, before changing anything.
 */
export function applyElfUpdates(data: Uint8Array, updates: ElfStringUpdate[]): void {
  for (const u of updates) {
    if (u.new.byteLength > u.old.byteLength) {
      throw new RangeError(
        `${u.kind} "${latin1(u.new)}" (${u.new.byteLength} bytes) is longer than ` +
          `"${latin1(u.old)}" (${u.old.byteLength} bytes)`,
      );
    }
  }
  for (const u of updates) {
    data.set(u.new, u.offset);
    data.fill(0, u.offset + u.new.byteLength, u.offset + u.old.byteLength);
  }
}
