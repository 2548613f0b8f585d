/**
 * Ad-hoc code signatures of Mach-O files, regenerated in TypeScript after relocation changed
 * the signed bytes (what Spack gets from `codesign -fs-` on macOS): the SuperBlob and its
 * blobs keep their place and size (the identifier, flags, special slots — the requirements
 * and entitlements hashes, which relocation does not change — stay), and every code slot of
 * every CodeDirectory gets the hash of its page as the file now is. Relocation never changes
 * a slice's size, so the page count and the signature's size stay the same.
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
