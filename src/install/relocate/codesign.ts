/**
 * Ad-hoc code signatures of Mach-O files, regenerated in TypeScript after relocation changed
 * the signed bytes (what Spack gets from `codesign -fs-` on macOS): the SuperBlob and its
 * blobs keep their place and size (the identifier, flags, special slots — the requirements
 * and entitlements hashes, which relocation does not change — stay), and every code slot of
 * every CodeDirectory gets the hash of its page as the file now is. Relocation never changes
 * a slice's size, so the page count and the signature's size stay the same. An unsigned thin
 * arm64 file (which macOS would not run) gets the signature its linker would have written
 * ({@link signAdhoc}).
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { ByteSource } from "../relocate_elf.ts";
import type { FileWrite } from "./elf_grow.ts";

export const CSMAGIC_EMBEDDED_SIGNATURE = 0xfade0cc0;
export const CSMAGIC_CODEDIRECTORY = 0xfade0c02;
/** The CMS wrapper of a signature made with a certificate (empty in ad-hoc signatures). */
export const CSMAGIC_BLOBWRAPPER = 0xfade0b01;

/** Why a signature cannot be regenerated. */
export class CodeSignError extends Error {}

const HASHES: Record<number, { algo: string; size: number }> = {
  1: { algo: "sha1", size: 20 },
  2: { algo: "sha256", size: 32 },
  3: { algo: "sha256", size: 20 }, // SHA-256 truncated to 20 bytes
  4: { algo: "sha384", size: 48 },
};

/** One CodeDirectory as read from a signature. */
export interface CodeDirectory {
  /** Offset of the blob in the slice. */
  offset: number;
  version: number;
  flags: number;
  hashType: number;
  hashSize: number;
  pageSize: number;
  nCodeSlots: number;
  nSpecialSlots: number;
  codeLimit: number;
  hashOffset: number;
  identifier: string;
}

/** Reads the CodeDirectories of the signature at `dataoff` of a slice starting at `base`. */
export function readCodeDirectories(
  get: ByteSource,
  base: number,
  dataoff: number,
  datasize: number,
): CodeDirectory[] {
  const sig = get(base + dataoff, datasize);
  if (sig.byteLength < 12) throw new CodeSignError("the code signature lies outside the file");
  const v = new DataView(sig.buffer, sig.byteOffset, sig.byteLength);
  if (v.getUint32(0) !== CSMAGIC_EMBEDDED_SIGNATURE) {
    throw new CodeSignError("the code signature is not an embedded signature SuperBlob");
  }
  const count = v.getUint32(8);
  const out: CodeDirectory[] = [];
  for (let i = 0; i < count; i++) {
    const off = v.getUint32(12 + i * 8 + 4);
    if (off + 44 > sig.byteLength) throw new CodeSignError("a signature blob lies outside it");
    if (v.getUint32(off) !== CSMAGIC_CODEDIRECTORY) continue;
    const version = v.getUint32(off + 8);
    let codeLimit = v.getUint32(off + 32);
    if (version >= 0x20300 && off + 64 <= sig.byteLength) {
      const l64 = Number(v.getBigUint64(off + 56));
      if (l64) codeLimit = l64;
    }
    const identOffset = v.getUint32(off + 20);
    let end = off + identOffset;
    while (end < sig.byteLength && sig[end] !== 0) end++;
    const cd: CodeDirectory = {
      offset: dataoff + off,
      version,
      flags: v.getUint32(off + 12),
      hashOffset: v.getUint32(off + 16),
      nSpecialSlots: v.getUint32(off + 24),
      nCodeSlots: v.getUint32(off + 28),
      codeLimit,
      hashSize: v.getUint8(off + 36),
      hashType: v.getUint8(off + 37),
      pageSize: v.getUint8(off + 39) ? 2 ** v.getUint8(off + 39) : 0,
      identifier: new TextDecoder().decode(sig.subarray(off + identOffset, end)),
    };
    const h = HASHES[cd.hashType];
    if (!h || h.size !== cd.hashSize) {
      throw new CodeSignError(`unknown code signature hash type ${cd.hashType}`);
    }
    if (cd.codeLimit > dataoff) throw new CodeSignError("the signature signs itself");
    const pages = cd.pageSize ? Math.ceil(cd.codeLimit / cd.pageSize) : 1;
    if (pages !== cd.nCodeSlots) throw new CodeSignError("the page count does not match");
    if (off + cd.hashOffset + cd.nCodeSlots * cd.hashSize > sig.byteLength) {
      throw new CodeSignError("the code slots lie outside the signature");
    }
    out.push(cd);
  }
  if (out.length === 0) throw new CodeSignError("the code signature has no CodeDirectory");
  return out;
}

/**
 * The writes that make the code slots of every CodeDirectory of a slice's signature match
 * the slice's bytes as `get` reads them now.
 */
export function resignSlice(
  get: ByteSource,
  base: number,
  sig: { dataoff: number; datasize: number },
): FileWrite[] {
  const writes: FileWrite[] = [];
  for (const cd of readCodeDirectories(get, base, sig.dataoff, sig.datasize)) {
    const { algo, size } = HASHES[cd.hashType];
    const slots = new Uint8Array(cd.nCodeSlots * size);
    const page = cd.pageSize || cd.codeLimit;
    for (let i = 0; i < cd.nCodeSlots; i++) {
      const from = i * page;
      const len = Math.min(page, cd.codeLimit - from);
      const bytes = get(base + from, len);
      if (bytes.byteLength < len) throw new CodeSignError("signed bytes lie outside the file");
      slots.set(createHash(algo).update(bytes).digest().subarray(0, size), i * size);
    }
    writes.push({ offset: base + cd.offset + cd.hashOffset, bytes: slots });
  }
  return writes;
}

const LC_CODE_SIGNATURE = 0x1d;
const LC_SEGMENT_64 = 0x19;
const MH_EXECUTE = 2;

/** The writes that sign a file (see {@link signAdhoc}). */
export interface AdhocSigning {
  writes: FileWrite[];
}

/**
 * Adds the ad-hoc signature a linker writes (`ld64 -adhoc_codesign`: a SuperBlob holding one
 * CodeDirectory, version 0x20400, flags adhoc + linker-signed, SHA-256 pages of 4 KiB, the
 * `__TEXT` segment as executable segment) to an unsigned thin 64-bit Mach-O file of `size`
 * bytes: an `LC_CODE_SIGNATURE` load command in the header padding, the signature appended
 * at the end of `__LINKEDIT` (which must end the file). Returns undefined when the file does
 * not have that shape (then it stays unsigned, as it was).
 */
export function signAdhoc(
  get: ByteSource,
  size: number,
  identifier: string,
): AdhocSigning | undefined {
  const h = get(0, 32);
  if (h.byteLength < 32) return undefined;
  const hv = new DataView(h.buffer, h.byteOffset, 32);
  if (hv.getUint32(0, true) !== 0xfeedfacf) return undefined; // little-endian 64-bit only
  const filetype = hv.getUint32(12, true);
  const ncmds = hv.getUint32(16, true);
  const sizeofcmds = hv.getUint32(20, true);
  const cmds = get(32, sizeofcmds).slice();
  const cv = new DataView(cmds.buffer);
  let linkedit = -1;
  let text: { fileoff: number; filesize: number } | undefined;
  let firstSection = size;
  let lastEnd = 0;
  for (let i = 0, at = 0; i < ncmds; i++) {
    const cmd = cv.getUint32(at, true);
    const cmdsize = cv.getUint32(at + 4, true);
    if (cmd === LC_CODE_SIGNATURE) return undefined;
    if (cmd === LC_SEGMENT_64) {
      const name = new TextDecoder().decode(cmds.subarray(at + 8, at + 24)).replace(/\0+$/, "");
      const fileoff = Number(cv.getBigUint64(at + 40, true));
      const filesize = Number(cv.getBigUint64(at + 48, true));
      if (name === "__LINKEDIT") linkedit = at;
      if (name === "__TEXT") text = { fileoff, filesize };
      if (filesize && name !== "__LINKEDIT") lastEnd = Math.max(lastEnd, fileoff + filesize);
      const nsects = cv.getUint32(at + 64, true);
      for (let s = 0; s < nsects; s++) {
        const so = at + 72 + s * 80;
        const off = cv.getUint32(so + 48, true);
        const flags = cv.getUint32(so + 64, true);
        if (
          off && Number(cv.getBigUint64(so + 40, true)) && ![1, 0xc, 0x12].includes(flags & 0xff)
        ) {
          firstSection = Math.min(firstSection, off);
        }
      }
    }
    at += cmdsize;
  }
  if (linkedit < 0 || !text) return undefined;
  const leOff = Number(cv.getBigUint64(linkedit + 40, true));
  const leSize = Number(cv.getBigUint64(linkedit + 48, true));
  if (leOff + leSize !== size || lastEnd > leOff) return undefined;
  if (32 + sizeofcmds + 16 > firstSection) return undefined;

  // The signature's layout, as ld64.lld computes it.
  const dataoff = Math.ceil(size / 16) * 16;
  const page = 4096;
  const nCode = Math.ceil(dataoff / page);
  const ident = new TextEncoder().encode(identifier);
  const blobHeaders = 24; // SuperBlob (12) + one index entry (8), aligned to 8
  const cdHeader = 88; // CodeDirectory up to version 0x20400
  const allHeaders = Math.ceil((blobHeaders + cdHeader + ident.byteLength + 1) / 16) * 16;
  const hashOffset = allHeaders - blobHeaders;
  const cdLength = hashOffset + nCode * 32;
  const datasize = blobHeaders + cdLength;

  // The header: one more load command; __LINKEDIT covers the signature.
  const header = new Uint8Array(32 + sizeofcmds + 16);
  header.set(h);
  header.set(cmds, 32);
  const nv = new DataView(header.buffer);
  nv.setUint32(16, ncmds + 1, true);
  nv.setUint32(20, sizeofcmds + 16, true);
  const lc = 32 + sizeofcmds;
  nv.setUint32(lc, LC_CODE_SIGNATURE, true);
  nv.setUint32(lc + 4, 16, true);
  nv.setUint32(lc + 8, dataoff, true);
  nv.setUint32(lc + 12, datasize, true);
  const newLeSize = dataoff + datasize - leOff;
  const leVm = Number(cv.getBigUint64(linkedit + 32, true));
  nv.setBigUint64(32 + linkedit + 48, BigInt(newLeSize), true);
  if (leVm < newLeSize) nv.setBigUint64(32 + linkedit + 32, BigInt(newLeSize), true);

  // The signature, hashed over the file as it will be (the new header in front).
  const sig = new Uint8Array(datasize);
  const sv = new DataView(sig.buffer);
  sv.setUint32(0, CSMAGIC_EMBEDDED_SIGNATURE);
  sv.setUint32(4, datasize);
  sv.setUint32(8, 1);
  sv.setUint32(12, 0); // CSSLOT_CODEDIRECTORY
  sv.setUint32(16, blobHeaders);
  const cd = blobHeaders;
  sv.setUint32(cd, CSMAGIC_CODEDIRECTORY);
  sv.setUint32(cd + 4, cdLength);
  sv.setUint32(cd + 8, 0x20400);
  sv.setUint32(cd + 12, 0x20002); // CS_ADHOC | CS_LINKER_SIGNED
  sv.setUint32(cd + 16, hashOffset);
  sv.setUint32(cd + 20, cdHeader);
  sv.setUint32(cd + 24, 0);
  sv.setUint32(cd + 28, nCode);
  sv.setUint32(cd + 32, dataoff);
  sv.setUint8(cd + 36, 32);
  sv.setUint8(cd + 37, 2); // SHA-256
  sv.setUint8(cd + 38, 0);
  sv.setUint8(cd + 39, 12);
  sv.setBigUint64(cd + 64, BigInt(text.fileoff));
  sv.setBigUint64(cd + 72, BigInt(text.filesize));
  sv.setBigUint64(cd + 80, BigInt(filetype === MH_EXECUTE ? 1 : 0)); // CS_EXECSEG_MAIN_BINARY
  sig.set(ident, cd + cdHeader);
  const at = (o: number, n: number) => {
    const out = new Uint8Array(n);
    const fromFile = Math.max(0, Math.min(n, size - o));
    if (fromFile) out.set(get(o, fromFile));
    const hEnd = Math.min(o + n, header.byteLength);
    if (o < hEnd) out.set(header.subarray(o, hEnd), 0);
    return out;
  };
  for (let i = 0; i < nCode; i++) {
    const len = Math.min(page, dataoff - i * page);
    const digest = createHash("sha256").update(at(i * page, len)).digest();
    sig.set(digest, cd + hashOffset + i * 32);
  }
  const tail = new Uint8Array(dataoff - size + datasize);
  tail.set(sig, dataoff - size);
  return { writes: [{ offset: 0, bytes: header }, { offset: size, bytes: tail }] };
}
