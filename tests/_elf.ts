/**
 * A minimal ELF file builder for tests (no compiler needed).
 *
 * @module
 */
const enc = new TextEncoder();

/**
 * A minimal ELF shared object: header, PT_LOAD + PT_INTERP + PT_DYNAMIC, a dynamic section
 * (DT_NEEDED, DT_SONAME, DT_RPATH or DT_RUNPATH, DT_STRTAB), the string table, and section
 * headers (a null one and the SHT_STRTAB one). `vbase` maps offsets to addresses.
 */
export function makeElf(
  o: { is64: boolean; le: boolean; runpath: boolean; rpath: string; interp: string },
) {
  const { is64, le } = o;
  const ehsize = is64 ? 64 : 52;
  const phentsize = is64 ? 56 : 32;
  const shentsize = is64 ? 64 : 40;
  const dynent = is64 ? 16 : 8;
  const vbase = 0x400000;
  const strs = ["", "libc.so.6", "libx.so.1", o.rpath];
  const strtab = enc.encode(strs.join("\0") + "\0");
  const off = (i: number) => strs.slice(0, i).reduce((a, s) => a + s.length + 1, 0);
  const phoff = ehsize;
  const interpOff = phoff + 3 * phentsize;
  const interp = enc.encode(o.interp + "\0");
  const dynOff = interpOff + interp.length + 8 - ((interpOff + interp.length) % 8);
  const dyn: [number, number][] = [
    [1, off(1)],
    [14, off(2)],
    [o.runpath ? 29 : 15, off(3)],
    [5, vbase + 0], // DT_STRTAB, patched below
    [0, 0],
  ];
  const strOff = dynOff + dyn.length * dynent;
  dyn[3][1] = vbase + strOff;
  const shoff = strOff + strtab.length + 8 - ((strOff + strtab.length) % 8);
  const size = shoff + 2 * shentsize;
  const b = new Uint8Array(size);
  const v = new DataView(b.buffer);
  const w = (at: number, n: number, bytes: number) => {
    if (bytes === 2) v.setUint16(at, n, le);
    else if (bytes === 4) v.setUint32(at, n, le);
    else v.setBigUint64(at, BigInt(n), le);
  };
  const W = is64 ? 8 : 4;
  b.set([0x7f, 0x45, 0x4c, 0x46, is64 ? 2 : 1, le ? 1 : 2, 1], 0);
  w(16, 3, 2); // ET_DYN
  w(18, is64 ? 62 : 3, 2);
  w(20, 1, 4);
  let p = 24;
  w(p, 0, W); // entry
  p += W;
  w(p, phoff, W);
  p += W;
  w(p, shoff, W);
  p += W;
  w(p, 0, 4); // flags
  p += 4;
  w(p, ehsize, 2);
  w(p + 2, phentsize, 2);
  w(p + 4, 3, 2);
  w(p + 6, shentsize, 2);
  w(p + 8, 2, 2);
  w(p + 10, 0, 2);
  const ph = (i: number, type: number, offset: number, filesz: number) => {
    const at = phoff + i * phentsize;
    if (is64) {
      w(at, type, 4);
      w(at + 4, 4, 4);
      w(at + 8, offset, 8);
      w(at + 16, vbase + offset, 8);
      w(at + 24, vbase + offset, 8);
      w(at + 32, filesz, 8);
      w(at + 40, filesz, 8);
    } else {
      w(at, type, 4);
      w(at + 4, offset, 4);
      w(at + 8, vbase + offset, 4);
      w(at + 12, vbase + offset, 4);
      w(at + 16, filesz, 4);
      w(at + 20, filesz, 4);
    }
  };
  ph(0, 1, 0, size); // PT_LOAD of the whole file
  ph(1, 3, interpOff, interp.length); // PT_INTERP
  ph(2, 2, dynOff, dyn.length * dynent); // PT_DYNAMIC
  b.set(interp, interpOff);
  dyn.forEach(([tag, val], i) => {
    w(dynOff + i * dynent, tag, W);
    w(dynOff + i * dynent + W, val, W);
  });
  b.set(strtab, strOff);
  const sh = shoff + shentsize; // section 1: SHT_STRTAB
  w(sh + 4, 3, 4);
  if (is64) {
    w(sh + 24, strOff, 8);
    w(sh + 32, strtab.length, 8);
  } else {
    w(sh + 16, strOff, 4);
    w(sh + 20, strtab.length, 4);
  }
  return b;
}
