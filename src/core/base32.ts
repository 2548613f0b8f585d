/**
 * RFC 4648 base32, lowercase, as Spack's `b32_hash` writes it (`base64.b32encode(...).lower()`).
 *
 * @module
 */

const ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";

/** Encodes bytes as lowercase base32; `pad` adds `=` to a multiple of 8 characters. */
export function base32Encode(bytes: Uint8Array, pad = false): string {
  let out = "";
  let buf = 0;
  let bits = 0;
  for (const b of bytes) {
    buf = (buf << 8) | b;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ALPHABET[(buf >>> bits) & 31];
    }
    buf &= (1 << bits) - 1;
  }
  if (bits > 0) out += ALPHABET[(buf << (5 - bits)) & 31];
  if (pad) { while (out.length % 8) out += "="; }
  return out;
}
