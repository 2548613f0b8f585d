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

/**
 * The writes that give the file a longer RPATH/RUNPATH and/or interpreter. The file is read
 * as it is when called (so C-string patches made before are carried into the `.dynstr` copy).
 */
export function planElfGrowth(get: ByteSource, size: number, grow: ElfGrowth): FileWrite[] {
  const need = (o: number, n: number, what: string) => {
    if (o < 0 || n < 0 || o + n > size) throw new ElfGrowError(`${what} lies outside the file`);
    const b = get(o, n);
    if (b.byteLength < n) throw new ElfGrowError(`${what} lies outside the file`);
    return b;
  };
  const ident = need(0, 16, "the ELF header");
  const is64 = ident[4] === 2;
  const le = ident[5] === 1;
  const ehsize = is64 ? 64 : 52;
  const eh = need(0, ehsize, "the ELF header");
  const ev = new DataView(eh.buffer, eh.byteOffset, eh.byteLength);
  const u16 = (v: DataView, o: number) => v.getUint16(o, le);
  const u32 = (v: DataView, o: number) => v.getUint32(o, le);
  const word = (v: DataView, o: number) =>
    is64 ? Number(v.getBigUint64(o, le)) : v.getUint32(o, le);
  const setWord = (v: DataView, o: number, x: number) =>
    is64 ? v.setBigUint64(o, BigInt(x), le) : v.setUint32(o, x, le);

  const phoff = word(ev, is64 ? 32 : 28);
  const shoff = word(ev, is64 ? 40 : 32);
  const phentsize = u16(ev, is64 ? 54 : 42);
  const phnum = u16(ev, is64 ? 56 : 44);
  const shentsize = u16(ev, is64 ? 58 : 46);
  const shnum = u16(ev, is64 ? 60 : 48);
  if (phentsize !== (is64 ? 56 : 32)) throw new ElfGrowError("unexpected program header size");
  if (phnum + 1 >= 0xffff) throw new ElfGrowError("too many program headers");

  const phBytes = need(phoff, phnum * phentsize, "the program header table");
  const pv = new DataView(phBytes.buffer, phBytes.byteOffset, phBytes.byteLength);
  const phdrs: Phdr[] = [];
  for (let i = 0; i < phnum; i++) {
    const o = i * phentsize;
    phdrs.push(
      is64
        ? {
          type: u32(pv, o),
          flags: u32(pv, o + 4),
          offset: word(pv, o + 8),
          vaddr: word(pv, o + 16),
          paddr: word(pv, o + 24),
          filesz: word(pv, o + 32),
          memsz: word(pv, o + 40),
          align: word(pv, o + 48),
        }
        : {
          type: u32(pv, o),
          offset: u32(pv, o + 4),
          vaddr: u32(pv, o + 8),
          paddr: u32(pv, o + 12),
          filesz: u32(pv, o + 16),
          memsz: u32(pv, o + 20),
          flags: u32(pv, o + 24),
          align: u32(pv, o + 28),
        },
    );
  }
  const loads = phdrs.filter((p) => p.type === PT_LOAD).sort((a, b) => a.vaddr - b.vaddr);
  if (loads.length === 0) throw new ElfGrowError("no PT_LOAD segment");
  // The largest page size of the file's segments, at most 64 KiB (x86_64 files linked for 2 MiB
  // pages run on 4 KiB pages; aarch64 and ppc64 kernels use up to 64 KiB).
  const align = Math.min(MAX_ALIGN, Math.max(0x1000, ...loads.map((p) => p.align)));
  const toOffset = (vaddr: number) => {
    let seg: Phdr | undefined;
    for (const p of loads) if (p.vaddr <= vaddr && vaddr < p.vaddr + p.filesz) seg = p;
    if (!seg) throw new ElfGrowError(`address 0x${vaddr.toString(16)} is in no segment`);
    return seg.offset + vaddr - seg.vaddr;
  };

  // The section headers (to move .dynstr and .interp).
  const shdrs = shnum ? need(shoff, shnum * shentsize, "the section header table").slice() : null;
  const sv = shdrs ? new DataView(shdrs.buffer) : null;
  const shOffsetAt = (i: number) => i * shentsize + (is64 ? 24 : 16);
  const shAddrAt = (i: number) => i * shentsize + (is64 ? 16 : 12);
  const shSizeAt = (i: number) => i * shentsize + (is64 ? 32 : 20);
  const findSection = (offset: number, type?: number) => {
    if (!sv) return -1;
    for (let i = 1; i < shnum; i++) {
      if (type !== undefined && u32(sv, i * shentsize + 4) !== type) continue;
      if (word(sv, shOffsetAt(i)) === offset) return i;
    }
    return -1;
  };

  // The new segment: program headers, then the string table copy, then the interpreter.
  const newPhnum = phnum + 1;
  const phSize = newPhnum * phentsize;
  let cursor = phSize;
  let dyn: { phdr: Phdr; bytes: Uint8Array; view: DataView } | undefined;
  let strtab: { at: number; oldSize: number; bytes: Uint8Array; section: number } | undefined;
  let rpathIndex = -1;
  let strszIndex = -1;
  let strtabIndex = -1;
  if (grow.rpath) {
    const d = phdrs.find((p) => p.type === PT_DYNAMIC);
    if (!d) throw new ElfGrowError("no PT_DYNAMIC segment");
    const bytes = need(d.offset, d.filesz, "the dynamic section").slice();
    const view = new DataView(bytes.buffer);
    dyn = { phdr: d, bytes, view };
    const ent = is64 ? 16 : 8;
    let strtabVaddr = -1;
    let strsz = -1;
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
    const off = toOffset(strtabVaddr);
    const section = findSection(off, SHT_STRTAB);
    if (section < 0) throw new ElfGrowError("no section header for the dynamic string table");
    const old = need(off, strsz, "the dynamic string table");
    const bytes2 = new Uint8Array(strsz + grow.rpath.byteLength + 1);
    bytes2.set(old);
    bytes2.set(grow.rpath, strsz);
    strtab = { at: cursor, oldSize: strsz, bytes: bytes2, section };
    cursor += bytes2.byteLength;
  }
  let interp: { at: number; bytes: Uint8Array; section: number; phdr: Phdr } | undefined;
  if (grow.interp) {
    const p = phdrs.find((p) => p.type === PT_INTERP);
    if (!p) throw new ElfGrowError("no PT_INTERP segment");
    const bytes = new Uint8Array(grow.interp.byteLength + 1);
    bytes.set(grow.interp);
    interp = { at: cursor, bytes, section: findSection(p.offset), phdr: p };
    cursor += bytes.byteLength;
  }
  const segSize = cursor;

  // Where it goes: past the end of the file and past every segment's memory.
  const first = loads[0];
  const delta = first.vaddr - first.offset;
  const memEnd = roundUp(Math.max(...loads.map((p) => p.vaddr + p.memsz)), align);
  let offset = roundUp(size, 8);
  let vaddr: number;
  // Only a program (ET_EXEC, or with an interpreter, or flagged DF_1_PIE) needs the same
  // address - offset as its first segment (for AT_PHDR on older kernels); a library is placed
  // compactly.
  const program = ev.getUint16(16, le) === 2 || phdrs.some((p) => p.type === PT_INTERP) ||
    isPie(phdrs, need, is64, le);
  if (program && delta % align === 0 && memEnd - delta - offset <= MAX_PAD) {
    offset = Math.max(offset, memEnd - delta);
    vaddr = offset + delta;
  } else {
    vaddr = memEnd + (offset % align);
  }

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
  newPhdrs.forEach((p, i) => {
    const o = base + i * phentsize;
    if (is64) {
      bv.setUint32(o, p.type, le);
      bv.setUint32(o + 4, p.flags, le);
      for (const [k, at] of [[p.offset, 8], [p.vaddr, 16], [p.paddr, 24], [p.filesz, 32]]) {
        setWord(bv, o + at, k);
      }
      setWord(bv, o + 40, p.memsz);
      setWord(bv, o + 48, p.align);
    } else {
      const vals = [p.type, p.offset, p.vaddr, p.paddr, p.filesz, p.memsz, p.flags, p.align];
      vals.forEach((x, j) => bv.setUint32(o + 4 * j, x, le));
    }
  });
  if (strtab) block.set(strtab.bytes, base + strtab.at);
  if (interp) block.set(interp.bytes, base + interp.at);

  const writes: FileWrite[] = [{ offset: size, bytes: block }];
  // The ELF header.
  const ehOut = eh.slice();
  const ehv = new DataView(ehOut.buffer);
  setWord(ehv, is64 ? 32 : 28, offset);
  ehv.setUint16(is64 ? 56 : 44, newPhnum, le);
  writes.push({ offset: 0, bytes: ehOut });
  // The dynamic entries.
  if (dyn && strtab) {
    const ent = is64 ? 16 : 8;
    const val = (i: number) => i * ent + (is64 ? 8 : 4);
    setWord(dyn.view, val(strtabIndex), vaddr + strtab.at);
    setWord(dyn.view, val(strszIndex), strtab.bytes.byteLength);
    setWord(dyn.view, val(rpathIndex), strtab.oldSize);
    if (is64) dyn.view.setBigInt64(rpathIndex * ent, BigInt(DT_RPATH), le);
    else dyn.view.setInt32(rpathIndex * ent, DT_RPATH, le);
    writes.push({ offset: dyn.phdr.offset, bytes: dyn.bytes });
  }
  // The section headers of what moved.
  if (sv && shdrs) {
    const move = (i: number, at: number, n: number) => {
      setWord(sv, shOffsetAt(i), offset + at);
      if (word(sv, shAddrAt(i)) !== 0) setWord(sv, shAddrAt(i), vaddr + at);
      setWord(sv, shSizeAt(i), n);
    };
    if (strtab) move(strtab.section, strtab.at, strtab.bytes.byteLength);
    if (interp && interp.section >= 0) move(interp.section, interp.at, interp.bytes.byteLength);
    if (strtab || (interp && interp.section >= 0)) writes.push({ offset: shoff, bytes: shdrs });
  }
  return writes;
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
