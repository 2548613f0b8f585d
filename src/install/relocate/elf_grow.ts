/**
 * ELF growth without patchelf: when a new RPATH/RUNPATH or interpreter is longer than the old
 * string, the file gets a new read-only PT_LOAD segment appended at its end holding
 *
 * - the program header table (moved there, with one more entry: the new PT_LOAD itself),
 * - a copy of `.dynstr` with the new RPATH/RUNPATH appended (when the RPATH grows), and
 * - the new interpreter path (when it grows),
 *
 * then `e_phoff`/`e_phnum`, PT_PHDR, PT_INTERP, `DT_STRTAB`/`DT_STRSZ`, the RPATH/RUNPATH
 * entry and the `.dynstr`/`.interp` section headers point there. Nothing else in the file
 * moves, so every other offset and address stays valid (string offsets into `.dynstr` too:
 * the copy keeps the old table in front). The new segment's address minus its file offset
 * equals the first PT_LOAD's, so kernels that compute `AT_PHDR` from the first segment and
 * those that look for the segment holding `e_phoff` agree. Like `patchelf --force-rpath`
 * (what Spack runs in this case), a grown DT_RUNPATH becomes DT_RPATH.
 *
 * {@link planElfGrowth} is pure: it reads through a byte source and returns the writes to make
 * (offsets at or past the end of the file extend it), or throws {@link ElfGrowError}.
 *
 * @module
 */
import type { ByteSource } from "../relocate_elf.ts";

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const PT_PHDR = 6;
const DT_NULL = 0;
const DT_STRTAB = 5;
const DT_STRSZ = 10;
const DT_RPATH = 15;
const DT_RUNPATH = 29;
const DT_FLAGS_1 = 0x6ffffffb;
const DF_1_PIE = 0x08000000;
const SHT_STRTAB = 3;
const PF_R = 4;
/** The most zero bytes added to keep a segment's address - offset (large .bss). */
const MAX_PAD = 64 << 20;
const MAX_ALIGN = 0x10000;

/** Why an ELF file cannot be grown. */
export class ElfGrowError extends Error {}

/** One write: `bytes` at `offset` (at or past the end of the file: appended). */
export interface FileWrite {
  offset: number;
  bytes: Uint8Array;
}

/** What to grow: the complete new RPATH/RUNPATH value and/or interpreter (no NUL). */
export interface ElfGrowth {
  rpath?: Uint8Array;
  interp?: Uint8Array;
}

interface Phdr {
  type: number;
  flags: number;
  offset: number;
  vaddr: number;
  paddr: number;
  filesz: number;
  memsz: number;
  align: number;
}

const roundUp = (n: number, a: number) => Math.ceil(n / a) * a;

/** An ELF file as read for growing: its header fields and program headers. */
interface ElfFile {
  size: number;
  is64: boolean;
  le: boolean;
  /** The ELF header's bytes. */
  eh: Uint8Array;
  phoff: number;
  shoff: number;
  phentsize: number;
  phnum: number;
  shentsize: number;
  shnum: number;
  phdrs: Phdr[];
  /** `n` bytes at `o`, or an ElfGrowError naming `what` when they are not in the file. */
  need(o: number, n: number, what: string): Uint8Array;
  u32(v: DataView, o: number): number;
  /** A word: 8 bytes in a 64-bit file, 4 in a 32-bit one. */
  word(v: DataView, o: number): number;
  setWord(v: DataView, o: number, x: number): void;
}

/** The dynamic section's copy and where its string table, size and RPATH entries are. */
interface DynamicPlan {
  phdr: Phdr;
  bytes: Uint8Array;
  view: DataView;
  strtabIndex: number;
  strszIndex: number;
  rpathIndex: number;
  /** DT_STRTAB's address and DT_STRSZ's value. */
  strtabVaddr: number;
  strsz: number;
}

/** A piece of the new segment: its bytes at `at` (from the segment's start). */
interface Placed {
  at: number;
  bytes: Uint8Array;
  /** Its section header's index (-1: none). */
  section: number;
}

/** The section header table (a copy to patch) and the offsets of its fields. */
class Sections {
  readonly bytes: Uint8Array | null;
  readonly view: DataView | null;

  constructor(readonly elf: ElfFile) {
    const { shnum, shoff, shentsize, need } = elf;
    this.bytes = shnum ? need(shoff, shnum * shentsize, "the section header table").slice() : null;
    this.view = this.bytes ? new DataView(this.bytes.buffer) : null;
  }
  offsetAt(i: number) {
    return i * this.elf.shentsize + (this.elf.is64 ? 24 : 16);
  }
  addrAt(i: number) {
    return i * this.elf.shentsize + (this.elf.is64 ? 16 : 12);
  }
  sizeAt(i: number) {
    return i * this.elf.shentsize + (this.elf.is64 ? 32 : 20);
  }
  /** The index of the section at file offset `offset` (of `type` if given), or -1. */
  find(offset: number, type?: number): number {
    const { view: sv, elf } = this;
    if (!sv) return -1;
    for (let i = 1; i < elf.shnum; i++) {
      if (type !== undefined && elf.u32(sv, i * elf.shentsize + 4) !== type) continue;
      if (elf.word(sv, this.offsetAt(i)) === offset) return i;
    }
    return -1;
  }
  /** Points section `i` at `n` bytes at `at` in the new segment (at `offset`, `vaddr`). */
  move(i: number, at: number, n: number, offset: number, vaddr: number) {
    const { view: sv, elf } = this;
    if (!sv) return;
    elf.setWord(sv, this.offsetAt(i), offset + at);
    if (elf.word(sv, this.addrAt(i)) !== 0) elf.setWord(sv, this.addrAt(i), vaddr + at);
    elf.setWord(sv, this.sizeAt(i), n);
  }
}

/**
 * The writes that give the file a longer RPATH/RUNPATH and/or interpreter. The file is read
 * as it is when called (so C-string patches made before are carried into the `.dynstr` copy).
 */
export function planElfGrowth(get: ByteSource, size: number, grow: ElfGrowth): FileWrite[] {
  const elf = readElf(get, size);
  const { phdrs, phnum, phentsize } = elf;
  const loads = phdrs.filter((p) => p.type === PT_LOAD).sort((a, b) => a.vaddr - b.vaddr);
  if (loads.length === 0) throw new ElfGrowError("no PT_LOAD segment");
  // The largest page size of the file's segments, at most 64 KiB (x86_64 files linked for 2 MiB
  // pages run on 4 KiB pages; aarch64 and ppc64 kernels use up to 64 KiB).
  const align = Math.min(MAX_ALIGN, Math.max(0x1000, ...loads.map((p) => p.align)));
  // The section headers (to move .dynstr and .interp).
  const sections = new Sections(elf);

  // The new segment: program headers, then the string table copy, then the interpreter.
  const newPhnum = phnum + 1;
  const phSize = newPhnum * phentsize;
  let cursor = phSize;
  let dyn: DynamicPlan | undefined;
  let strtab: (Placed & { oldSize: number }) | undefined;
  if (grow.rpath) {
    dyn = readDynamic(elf);
    strtab = grownStrtab(elf, dyn, loads, sections, grow.rpath, cursor);
    cursor += strtab.bytes.byteLength;
  }
  let interp: (Placed & { phdr: Phdr }) | undefined;
  if (grow.interp) {
    const p = phdrs.find((p) => p.type === PT_INTERP);
    if (!p) throw new ElfGrowError("no PT_INTERP segment");
    const bytes = new Uint8Array(grow.interp.byteLength + 1);
    bytes.set(grow.interp);
    interp = { at: cursor, bytes, section: sections.find(p.offset), phdr: p };
    cursor += bytes.byteLength;
  }
  const segSize = cursor;
  const { offset, vaddr } = placeSegment(elf, loads, align);

  // The new program header table.
  const seg: Phdr = {
    type: PT_LOAD,
    flags: PF_R,
    offset,
    vaddr,
    paddr: vaddr,
    filesz: segSize,
    memsz: segSize,
    align,
  };
  const lastLoad = phdrs.reduce((a, p, i) => (p.type === PT_LOAD ? i : a), -1);
  const newPhdrs = phdrs.map((p) => ({ ...p }));
  newPhdrs.splice(lastLoad + 1, 0, seg);
  for (const p of newPhdrs) {
    if (p.type === PT_PHDR) {
      Object.assign(p, { offset, vaddr, paddr: vaddr, filesz: phSize, memsz: phSize });
    } else if (p.type === PT_INTERP && interp) {
      const a = vaddr + interp.at;
      const n = interp.bytes.byteLength;
      Object.assign(p, { offset: offset + interp.at, vaddr: a, paddr: a, filesz: n, memsz: n });
    }
  }
  const block = new Uint8Array(offset - size + segSize);
  const base = offset - size;
  const bv = new DataView(block.buffer);
  newPhdrs.forEach((p, i) => writePhdr(elf, bv, base + i * phentsize, p));
  if (strtab) block.set(strtab.bytes, base + strtab.at);
  if (interp) block.set(interp.bytes, base + interp.at);

  const writes: FileWrite[] = [{ offset: size, bytes: block }];
  // The ELF header.
  const ehOut = elf.eh.slice();
  const ehv = new DataView(ehOut.buffer);
  elf.setWord(ehv, elf.is64 ? 32 : 28, offset);
  ehv.setUint16(elf.is64 ? 56 : 44, newPhnum, elf.le);
  writes.push({ offset: 0, bytes: ehOut });
  // The dynamic entries.
  if (dyn && strtab) writes.push(patchDynamic(elf, dyn, vaddr + strtab.at, strtab));
  // The section headers of what moved.
  if (sections.bytes) {
    if (strtab) sections.move(strtab.section, strtab.at, strtab.bytes.byteLength, offset, vaddr);
    if (interp && interp.section >= 0) {
      sections.move(interp.section, interp.at, interp.bytes.byteLength, offset, vaddr);
    }
    if (strtab || (interp && interp.section >= 0)) {
      writes.push({ offset: elf.shoff, bytes: sections.bytes });
    }
  }
  return writes;
}

/** Reads the ELF header and the program headers. */
function readElf(get: ByteSource, size: number): ElfFile {
  const need = (o: number, n: number, what: string) => {
    if (o < 0 || n < 0 || o + n > size) throw new ElfGrowError(`${what} lies outside the file`);
    const b = get(o, n);
    if (b.byteLength < n) throw new ElfGrowError(`${what} lies outside the file`);
    return b;
  };
  const ident = need(0, 16, "the ELF header");
  const is64 = ident[4] === 2;
  const le = ident[5] === 1;
  const eh = need(0, is64 ? 64 : 52, "the ELF header");
  const ev = new DataView(eh.buffer, eh.byteOffset, eh.byteLength);
  const u16 = (v: DataView, o: number) => v.getUint16(o, le);
  const u32 = (v: DataView, o: number) => v.getUint32(o, le);
  const word = (v: DataView, o: number) =>
    is64 ? Number(v.getBigUint64(o, le)) : v.getUint32(o, le);
  const setWord = (v: DataView, o: number, x: number) =>
    is64 ? v.setBigUint64(o, BigInt(x), le) : v.setUint32(o, x, le);

  const phoff = word(ev, is64 ? 32 : 28);
  const phentsize = u16(ev, is64 ? 54 : 42);
  const phnum = u16(ev, is64 ? 56 : 44);
  if (phentsize !== (is64 ? 56 : 32)) throw new ElfGrowError("unexpected program header size");
  if (phnum + 1 >= 0xffff) throw new ElfGrowError("too many program headers");
  const elf: ElfFile = {
    size,
    is64,
    le,
    eh,
    phoff,
    shoff: word(ev, is64 ? 40 : 32),
    phentsize,
    phnum,
    shentsize: u16(ev, is64 ? 58 : 46),
    shnum: u16(ev, is64 ? 60 : 48),
    phdrs: [],
    need,
    u32,
    word,
    setWord,
  };
  const phBytes = need(phoff, phnum * phentsize, "the program header table");
  const pv = new DataView(phBytes.buffer, phBytes.byteOffset, phBytes.byteLength);
  for (let i = 0; i < phnum; i++) elf.phdrs.push(readPhdr(elf, pv, i * phentsize));
  return elf;
}

/**
 * Where each program header field is in a 64-bit and in a 32-bit file; `word` fields are 8
 * bytes in a 64-bit file, the others 4 bytes in both.
 */
const PHDR_FIELDS: { field: keyof Phdr; at64: number; at32: number; word: boolean }[] = [
  { field: "type", at64: 0, at32: 0, word: false },
  { field: "flags", at64: 4, at32: 24, word: false },
  { field: "offset", at64: 8, at32: 4, word: true },
  { field: "vaddr", at64: 16, at32: 8, word: true },
  { field: "paddr", at64: 24, at32: 12, word: true },
  { field: "filesz", at64: 32, at32: 16, word: true },
  { field: "memsz", at64: 40, at32: 20, word: true },
  { field: "align", at64: 48, at32: 28, word: true },
];

/** The program header at `o` of `pv`. */
function readPhdr(elf: ElfFile, pv: DataView, o: number): Phdr {
  const p = {} as Phdr;
  for (const f of PHDR_FIELDS) {
    const at = o + (elf.is64 ? f.at64 : f.at32);
    p[f.field] = f.word ? elf.word(pv, at) : elf.u32(pv, at);
  }
  return p;
}

/** Writes program header `p` at `o` of `bv`. */
function writePhdr(elf: ElfFile, bv: DataView, o: number, p: Phdr) {
  for (const f of PHDR_FIELDS) {
    const at = o + (elf.is64 ? f.at64 : f.at32);
    if (f.word) elf.setWord(bv, at, p[f.field]);
    else bv.setUint32(at, p[f.field], elf.le);
  }
}

/** A copy of the dynamic section with the indexes of DT_STRTAB, DT_STRSZ and the RPATH. */
function readDynamic(elf: ElfFile): DynamicPlan {
  const { is64, le, word } = elf;
  const d = elf.phdrs.find((p) => p.type === PT_DYNAMIC);
  if (!d) throw new ElfGrowError("no PT_DYNAMIC segment");
  const bytes = elf.need(d.offset, d.filesz, "the dynamic section").slice();
  const view = new DataView(bytes.buffer);
  const ent = is64 ? 16 : 8;
  let strtabVaddr = -1;
  let strsz = -1;
  let rpathIndex = -1;
  let strszIndex = -1;
  let strtabIndex = -1;
  for (let i = 0; i < Math.floor(d.filesz / ent); i++) {
    const tag = is64 ? Number(view.getBigInt64(i * ent, le)) : view.getInt32(i * ent, le);
    if (tag === DT_NULL) break;
    const val = word(view, i * ent + (is64 ? 8 : 4));
    if (tag === DT_STRTAB) [strtabIndex, strtabVaddr] = [i, val];
    else if (tag === DT_STRSZ) [strszIndex, strsz] = [i, val];
    else if (tag === DT_RPATH || tag === DT_RUNPATH) rpathIndex = i;
  }
  if (strtabIndex < 0) throw new ElfGrowError("no DT_STRTAB entry");
  if (strszIndex < 0) throw new ElfGrowError("no DT_STRSZ entry");
  if (rpathIndex < 0) throw new ElfGrowError("no DT_RPATH or DT_RUNPATH entry");
  return { phdr: d, bytes, view, strtabIndex, strszIndex, rpathIndex, strtabVaddr, strsz };
}

/** The `.dynstr` copy with `rpath` appended, placed at `at` in the new segment. */
function grownStrtab(
  elf: ElfFile,
  dyn: DynamicPlan,
  loads: Phdr[],
  sections: Sections,
  rpath: Uint8Array,
  at: number,
): Placed & { oldSize: number } {
  const { strtabVaddr, strsz } = dyn;
  let seg: Phdr | undefined;
  for (const p of loads) if (p.vaddr <= strtabVaddr && strtabVaddr < p.vaddr + p.filesz) seg = p;
  if (!seg) throw new ElfGrowError(`address 0x${strtabVaddr.toString(16)} is in no segment`);
  const off = seg.offset + strtabVaddr - seg.vaddr;
  const section = sections.find(off, SHT_STRTAB);
  if (section < 0) throw new ElfGrowError("no section header for the dynamic string table");
  const old = elf.need(off, strsz, "the dynamic string table");
  const bytes = new Uint8Array(strsz + rpath.byteLength + 1);
  bytes.set(old);
  bytes.set(rpath, strsz);
  return { at, oldSize: strsz, bytes, section };
}

/**
 * Where the new segment goes: past the end of the file and past every segment's memory. Only
 * a program (ET_EXEC, or with an interpreter, or flagged DF_1_PIE) needs the same address -
 * offset as its first segment (for AT_PHDR on older kernels); a library is placed compactly.
 */
function placeSegment(
  elf: ElfFile,
  loads: Phdr[],
  align: number,
): { offset: number; vaddr: number } {
  const { phdrs, eh, le } = elf;
  const first = loads[0];
  const delta = first.vaddr - first.offset;
  const memEnd = roundUp(Math.max(...loads.map((p) => p.vaddr + p.memsz)), align);
  let offset = roundUp(elf.size, 8);
  const eType = new DataView(eh.buffer, eh.byteOffset, eh.byteLength).getUint16(16, le);
  const program = eType === 2 || phdrs.some((p) => p.type === PT_INTERP) ||
    isPie(phdrs, elf.need, elf.is64, le);
  if (program && delta % align === 0 && memEnd - delta - offset <= MAX_PAD) {
    offset = Math.max(offset, memEnd - delta);
    return { offset, vaddr: offset + delta };
  }
  return { offset, vaddr: memEnd + (offset % align) };
}

/** The dynamic section pointing at the grown string table (at `strtabVaddr`), as a write. */
function patchDynamic(
  elf: ElfFile,
  dyn: DynamicPlan,
  strtabVaddr: number,
  strtab: { bytes: Uint8Array; oldSize: number },
): FileWrite {
  const { is64, le, setWord } = elf;
  const ent = is64 ? 16 : 8;
  const val = (i: number) => i * ent + (is64 ? 8 : 4);
  setWord(dyn.view, val(dyn.strtabIndex), strtabVaddr);
  setWord(dyn.view, val(dyn.strszIndex), strtab.bytes.byteLength);
  setWord(dyn.view, val(dyn.rpathIndex), strtab.oldSize);
  if (is64) dyn.view.setBigInt64(dyn.rpathIndex * ent, BigInt(DT_RPATH), le);
  else dyn.view.setInt32(dyn.rpathIndex * ent, DT_RPATH, le);
  return { offset: dyn.phdr.offset, bytes: dyn.bytes };
}

/** True when the dynamic section has DT_FLAGS_1 with DF_1_PIE (a position-independent program). */
function isPie(
  phdrs: Phdr[],
  need: (o: number, n: number, what: string) => Uint8Array,
  is64: boolean,
  le: boolean,
): boolean {
  const d = phdrs.find((p) => p.type === PT_DYNAMIC);
  if (!d) return false;
  const b = need(d.offset, d.filesz, "the dynamic section");
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const ent = is64 ? 16 : 8;
  for (let i = 0; i + ent <= b.byteLength; i += ent) {
    const tag = is64 ? Number(v.getBigInt64(i, le)) : v.getInt32(i, le);
    if (tag === DT_NULL) break;
    const val = is64 ? Number(v.getBigUint64(i + 8, le)) : v.getUint32(i + 4, le);
    if (tag === DT_FLAGS_1) return (val & DF_1_PIE) !== 0;
  }
  return false;
}

/** Applies writes to bytes in memory (for tests and callers holding the whole file). */
export function applyWrites(data: Uint8Array, writes: FileWrite[]): Uint8Array {
  const end = Math.max(data.byteLength, ...writes.map((w) => w.offset + w.bytes.byteLength));
  const out = new Uint8Array(end);
  out.set(data);
  for (const w of writes) out.set(w.bytes, w.offset);
  return out;
}
