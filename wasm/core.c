/*
 * spackle's WebAssembly core: sha256 and gzip decompression (RFC 1952 members holding RFC 1951
 * deflate data, several members in a row, CRC-32 and length checked), for runtimes without
 * node:crypto and node:zlib (browsers). Freestanding C: no libc, no imports; built by build.sh
 * with clang --target=wasm32.
 *
 * sha256: the caller keeps each hash's 112-byte state itself and copies it into `sha_state`
 * around each call (so any number of hashes can be in flight). Data goes to `sha_input`.
 *
 * gunzip: one state per stream (`gz_new`/`gz_free`). The caller appends input with
 * `gz_input_space`/`gz_input_add`, calls `gz_run` until it asks for more input, and takes the
 * output `gz_run` produced from `gz_out_ptr`/`gz_out_len`. Decoding is resumable at every
 * symbol: when input runs out inside one, the decoder returns to the symbol's start and waits.
 */

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;

#define EXPORT(name) __attribute__((export_name(#name)))

static void copy(u8 *d, const u8 *s, u32 n) {
  while (n--) *d++ = *s++;
}

/* ------------------------------------------------------------------ sha256 */

typedef struct {
  u32 h[8];
  u64 total;
  u32 buflen;
  u32 pad;
  u8 buf[64];
} Sha;

#define SHA_INPUT_SIZE 65536
static Sha sha_state_v;
static u8 sha_input_v[SHA_INPUT_SIZE];
static u8 sha_out_v[32];

static const u32 K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

#define CH(x, y, z) (((x) & (y)) ^ (~(x) & (z)))
#define MAJ(x, y, z) (((x) & (y)) ^ ((x) & (z)) ^ ((y) & (z)))
#define BS0(x) (ROR(x, 2) ^ ROR(x, 13) ^ ROR(x, 22))
#define BS1(x) (ROR(x, 6) ^ ROR(x, 11) ^ ROR(x, 25))
#define SS0(x) (ROR(x, 7) ^ ROR(x, 18) ^ ((x) >> 3))
#define SS1(x) (ROR(x, 17) ^ ROR(x, 19) ^ ((x) >> 10))
#define RND(a, b, c, d, e, f, g, h, i)                                                           \
  do {                                                                                         \
    u32 t1 = h + BS1(e) + CH(e, f, g) + K[i] + w[(i) & 15];                                    \
    d += t1;                                                                                   \
    h = t1 + BS0(a) + MAJ(a, b, c);                                                            \
  } while (0)

/* One 64-byte block; rounds fully unrolled so the schedule and state live in locals. */
static void sha_block(u32 *st, const u8 *p) {
  u32 w[16];
#pragma clang loop unroll(full)
  for (int i = 0; i < 16; i++) {
    u32 v;
    __builtin_memcpy(&v, p + 4 * i, 4);
    w[i] = __builtin_bswap32(v);
  }
  u32 a = st[0], b = st[1], c = st[2], d = st[3], e = st[4], f = st[5], g = st[6], h = st[7];
#pragma clang loop unroll(full)
  for (int i = 0; i < 64; i += 8) {
    if (i >= 16) {
#pragma clang loop unroll(full)
      for (int j = i; j < i + 8; j++) {
        w[j & 15] += SS1(w[(j - 2) & 15]) + w[(j - 7) & 15] + SS0(w[(j - 15) & 15]);
      }
    }
    RND(a, b, c, d, e, f, g, h, i);
    RND(h, a, b, c, d, e, f, g, i + 1);
    RND(g, h, a, b, c, d, e, f, i + 2);
    RND(f, g, h, a, b, c, d, e, i + 3);
    RND(e, f, g, h, a, b, c, d, i + 4);
    RND(d, e, f, g, h, a, b, c, i + 5);
    RND(c, d, e, f, g, h, a, b, i + 6);
    RND(b, c, d, e, f, g, h, a, i + 7);
  }
  st[0] += a;
  st[1] += b;
  st[2] += c;
  st[3] += d;
  st[4] += e;
  st[5] += f;
  st[6] += g;
  st[7] += h;
}

EXPORT(sha_state) Sha *sha_state(void) { return &sha_state_v; }
EXPORT(sha_input) u8 *sha_input(void) { return sha_input_v; }
EXPORT(sha_output) u8 *sha_output(void) { return sha_out_v; }
EXPORT(sha_input_size) u32 sha_input_size(void) { return SHA_INPUT_SIZE; }

EXPORT(sha_init) void sha_init(void) {
  static const u32 iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                            0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  Sha *s = &sha_state_v;
  for (int i = 0; i < 8; i++) s->h[i] = iv[i];
  s->total = 0;
  s->buflen = 0;
}

/* Hashes `len` bytes of sha_input into sha_state. */
EXPORT(sha_update) void sha_update(u32 len) {
  Sha *s = &sha_state_v;
  const u8 *p = sha_input_v;
  s->total += len;
  if (s->buflen) {
    u32 take = 64 - s->buflen;
    if (take > len) take = len;
    copy(s->buf + s->buflen, p, take);
    s->buflen += take;
    p += take;
    len -= take;
    if (s->buflen < 64) return;
    sha_block(s->h, s->buf);
    s->buflen = 0;
  }
  while (len >= 64) {
    sha_block(s->h, p);
    p += 64;
    len -= 64;
  }
  copy(s->buf, p, len);
  s->buflen = len;
}

/* Finishes the hash in sha_state; the digest goes to sha_output. */
EXPORT(sha_final) void sha_final(void) {
  Sha *s = &sha_state_v;
  u64 bits = s->total * 8;
  u32 n = s->buflen;
  s->buf[n++] = 0x80;
  if (n > 56) {
    while (n < 64) s->buf[n++] = 0;
    sha_block(s->h, s->buf);
    n = 0;
  }
  while (n < 56) s->buf[n++] = 0;
  for (int i = 0; i < 8; i++) s->buf[56 + i] = (u8)(bits >> (56 - 8 * i));
  sha_block(s->h, s->buf);
  for (int i = 0; i < 8; i++) {
    sha_out_v[4 * i] = (u8)(s->h[i] >> 24);
    sha_out_v[4 * i + 1] = (u8)(s->h[i] >> 16);
    sha_out_v[4 * i + 2] = (u8)(s->h[i] >> 8);
    sha_out_v[4 * i + 3] = (u8)s->h[i];
  }
}

/* ------------------------------------------------------------------ gunzip */

#define WIN 32768
#define OUTSZ 65536
#define INSZ 65536
#define FAST 9

enum { M_HEADER, M_BLOCK, M_STORED, M_CODES, M_TRAILER, M_END, M_IGNORE, M_ERROR };
enum { R_NEED_INPUT = 0, R_OUTPUT = 1, R_ERROR = 2 };
enum {
  E_NONE,
  E_HEADER,     /* incorrect header check */
  E_METHOD,     /* unknown compression method */
  E_FLAGS,      /* unknown header flags set */
  E_BTYPE,      /* invalid block type */
  E_STORED,     /* invalid stored block lengths */
  E_CODES,      /* invalid code lengths set */
  E_LENS,       /* invalid literal/lengths set */
  E_DISTS,      /* invalid distances set */
  E_SYMBOL,     /* invalid literal/length code */
  E_DIST,       /* invalid distance code */
  E_FAR,        /* invalid distance too far back */
  E_CRC,        /* incorrect data check */
  E_LENGTH,     /* incorrect length check */
  E_EOF,        /* unexpected end of file */
  E_REPEAT,     /* invalid bit length repeat */
};

typedef struct {
  u16 count[16];
  u16 symbol[288];
  u16 fast[1 << FAST]; /* symbol << 4 | length, 0 when the code is longer than FAST bits */
} Huff;

typedef struct Gz {
  struct Gz *next_free;
  u32 mode, err, final, stored_left, members;
  u32 in_len, in_pos, bitbuf, bitcnt;
  u32 out_pos, out_start, crc_pos;
  u32 crc, isize;
  u64 member_out; /* bytes of this member before crc_pos (back-references reach no further) */
  Huff lens, dists;
  u8 in[INSZ];
  u8 out[WIN + OUTSZ];
} Gz;

static u32 crc_table[8][256];
static Huff fixed_lens, fixed_dists;
static int ready;
static Gz *free_list;
extern u8 __heap_base;
static u8 *heap_top;

static int build(Huff *h, const u8 *length, int n);

static void init_tables(void) {
  for (u32 i = 0; i < 256; i++) {
    u32 c = i;
    for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >> 1) : c >> 1;
    crc_table[0][i] = c;
  }
  for (u32 i = 0; i < 256; i++) {
    for (int t = 1; t < 8; t++) {
      crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
    }
  }
  u8 l[288];
  int i = 0;
  for (; i < 144; i++) l[i] = 8;
  for (; i < 256; i++) l[i] = 9;
  for (; i < 280; i++) l[i] = 7;
  for (; i < 288; i++) l[i] = 8;
  build(&fixed_lens, l, 288);
  for (i = 0; i < 30; i++) l[i] = 5;
  build(&fixed_dists, l, 30);
  heap_top = &__heap_base;
  ready = 1;
}

static void *alloc(u32 size) {
  u8 *p = (u8 *)(((unsigned long)heap_top + 15) & ~15ul);
  u32 end = (u32)(unsigned long)(p + size);
  u32 have = (u32)__builtin_wasm_memory_size(0) * 65536u;
  if (end > have) {
    if (__builtin_wasm_memory_grow(0, (end - have + 65535) / 65536) == (unsigned long)-1) return 0;
  }
  heap_top = p + size;
  return p;
}

/* Canonical Huffman code from code lengths: counts, sorted symbols, and the fast table.
 * Returns 0 for a complete code, > 0 for an incomplete one, < 0 when over-subscribed. */
static int build(Huff *h, const u8 *length, int n) {
  u16 offs[16];
  for (int len = 0; len < 16; len++) h->count[len] = 0;
  for (int s = 0; s < n; s++) h->count[length[s]]++;
  for (int i = 0; i < (1 << FAST); i++) h->fast[i] = 0;
  if (h->count[0] == n) return 0;
  int left = 1;
  for (int len = 1; len < 16; len++) {
    left <<= 1;
    left -= h->count[len];
    if (left < 0) return left;
  }
  offs[1] = 0;
  for (int len = 1; len < 15; len++) offs[len + 1] = offs[len] + h->count[len];
  for (int s = 0; s < n; s++) {
    if (length[s]) h->symbol[offs[length[s]]++] = (u16)s;
  }
  /* The fast table: each code of at most FAST bits, bit-reversed, at every index it prefixes. */
  u32 code = 0;
  int idx = 0;
  for (int len = 1; len <= FAST; len++) {
    for (int k = 0; k < h->count[len]; k++, idx++) {
      u32 rev = 0;
      for (int b = 0; b < len; b++) rev |= ((code >> b) & 1) << (len - 1 - b);
      for (u32 i = rev; i < (1u << FAST); i += 1u << len) {
        h->fast[i] = (u16)(h->symbol[idx] << 4 | len);
      }
      code++;
    }
    code <<= 1;
  }
  return left;
}

/* Bit input. `need` fails (returns 0) when the input runs out; the caller rolls back. */
static inline int need(Gz *g, u32 n) {
  while (g->bitcnt < n) {
    if (g->in_pos == g->in_len) return 0;
    g->bitbuf |= (u32)g->in[g->in_pos++] << g->bitcnt;
    g->bitcnt += 8;
  }
  return 1;
}

static inline u32 take(Gz *g, u32 n) {
  u32 v = g->bitbuf & ((1u << n) - 1);
  g->bitbuf >>= n;
  g->bitcnt -= n;
  return v;
}

/* Decodes a symbol: -1 when the input ran out, -2 on a code that is not in the table. */
static int decode(Gz *g, const Huff *h) {
  while (g->bitcnt < FAST && g->in_pos < g->in_len) {
    g->bitbuf |= (u32)g->in[g->in_pos++] << g->bitcnt;
    g->bitcnt += 8;
  }
  u32 e = h->fast[g->bitbuf & ((1u << FAST) - 1)];
  if (e && (e & 15) <= g->bitcnt) {
    take(g, e & 15);
    return (int)(e >> 4);
  }
  int code = 0, first = 0, index = 0;
  for (int len = 1; len < 16; len++) {
    if (!need(g, 1)) return -1;
    code |= (int)take(g, 1);
    int count = h->count[len];
    if (code - count < first) return h->symbol[index + (code - first)];
    index += count;
    first += count;
    first <<= 1;
    code <<= 1;
  }
  return -2;
}

static inline void put(Gz *g, u8 b) {
  g->out[g->out_pos++] = b;
}

static const u16 LBASE[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                              31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
static const u8 LEXT[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                            2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const u16 DBASE[30] = {1,   2,   3,   4,   5,   7,    9,    13,   17,   25,
                              33,  49,  65,  97,  129, 193,  257,  385,  513,  769,
                              1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
static const u8 DEXT[30] = {0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6,
                            6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

static int fail(Gz *g, u32 err) {
  g->err = err;
  g->mode = M_ERROR;
  return R_ERROR;
}

/* Reads a gzip member header, entirely or not at all. 1 done, 0 need input, -1 error. */
static int header(Gz *g) {
  u32 p = g->in_pos, n = g->in_len;
  const u8 *b = g->in;
  if (n - p < 10) {
    if (n - p >= 1 && b[p] != 0x1f) return -E_HEADER;
    if (n - p >= 2 && b[p + 1] != 0x8b) return -E_HEADER;
    return 0;
  }
  if (b[p] != 0x1f || b[p + 1] != 0x8b) return -E_HEADER;
  if (b[p + 2] != 8) return -E_METHOD;
  u32 flg = b[p + 3];
  if (flg & 0xe0) return -E_FLAGS;
  p += 10;
  if (flg & 4) { /* FEXTRA */
    if (n - p < 2) return 0;
    u32 xlen = b[p] | (u32)b[p + 1] << 8;
    p += 2;
    if (n - p < xlen) return 0;
    p += xlen;
  }
  for (int z = 8; z <= 16; z += 8) { /* FNAME, FCOMMENT: zero-terminated */
    if (flg & z) {
      while (p < n && b[p]) p++;
      if (p == n) return 0;
      p++;
    }
  }
  if (flg & 2) { /* FHCRC */
    if (n - p < 2) return 0;
    p += 2;
  }
  g->in_pos = p;
  return 1;
}

/* Reads a dynamic block's code tables, entirely or not at all. 1, 0 (need input), or -error. */
static int dynamic(Gz *g) {
  static const u8 order[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
  u8 lengths[320];
  if (!need(g, 14)) return 0;
  int nlen = (int)take(g, 5) + 257, ndist = (int)take(g, 5) + 1, ncode = (int)take(g, 4) + 4;
  if (nlen > 286 || ndist > 30) return -E_LENS;
  int i = 0;
  for (; i < ncode; i++) {
    if (!need(g, 3)) return 0;
    lengths[order[i]] = (u8)take(g, 3);
  }
  for (; i < 19; i++) lengths[order[i]] = 0;
  if (build(&g->lens, lengths, 19) != 0) return -E_CODES;
  for (i = 0; i < nlen + ndist;) {
    int sym = decode(g, &g->lens);
    if (sym == -1) return 0;
    if (sym < 0) return -E_CODES;
    if (sym < 16) {
      lengths[i++] = (u8)sym;
      continue;
    }
    u8 len = 0;
    int rep;
    if (sym == 16) {
      if (i == 0) return -E_REPEAT;
      len = lengths[i - 1];
      if (!need(g, 2)) return 0;
      rep = 3 + (int)take(g, 2);
    } else if (sym == 17) {
      if (!need(g, 3)) return 0;
      rep = 3 + (int)take(g, 3);
    } else {
      if (!need(g, 7)) return 0;
      rep = 11 + (int)take(g, 7);
    }
    if (i + rep > nlen + ndist) return -E_REPEAT;
    while (rep--) lengths[i++] = len;
  }
  if (lengths[256] == 0) return -E_CODES;
  int err = build(&g->lens, lengths, nlen);
  if (err && (err < 0 || nlen != g->lens.count[0] + g->lens.count[1])) return -E_LENS;
  err = build(&g->dists, lengths + nlen, ndist);
  if (err && (err < 0 || ndist != g->dists.count[0] + g->dists.count[1])) return -E_DISTS;
  return 1;
}

/* CRC-32 (gzip's) of b[i..end) continuing from `crc`. */
static u32 crc32(u32 crc, const u8 *b, u32 i, u32 end) {
  u32 c = ~crc;
  /* Slicing by 8: eight bytes per step. */
  for (; i + 8 <= end; i += 8) {
    u32 lo, hi;
    __builtin_memcpy(&lo, b + i, 4);
    __builtin_memcpy(&hi, b + i + 4, 4);
    lo ^= c;
    c = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^ crc_table[5][(lo >> 16) & 0xff] ^
        crc_table[4][lo >> 24] ^ crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
        crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
  }
  for (; i < end; i++) c = crc_table[0][(c ^ b[i]) & 0xff] ^ (c >> 8);
  return ~c;
}

/* Brings the member's CRC-32 and length up to the output written so far. */
static void crc_sync(Gz *g) {
  g->crc = crc32(g->crc, g->out, g->crc_pos, g->out_pos);
  g->isize += g->out_pos - g->crc_pos;
  g->member_out += g->out_pos - g->crc_pos;
  g->crc_pos = g->out_pos;
}

EXPORT(gz_new) Gz *gz_new(void) {
  if (!ready) init_tables();
  Gz *g = free_list;
  if (g) {
    free_list = g->next_free;
  } else {
    g = (Gz *)alloc(sizeof(Gz));
    if (!g) return 0;
  }
  g->next_free = 0;
  g->mode = M_HEADER;
  g->err = E_NONE;
  g->final = g->stored_left = g->members = 0;
  g->in_len = g->in_pos = g->bitbuf = g->bitcnt = 0;
  g->out_pos = g->out_start = g->crc_pos = WIN;
  g->crc = g->isize = 0;
  g->member_out = 0;
  return g;
}

EXPORT(gz_free) void gz_free(Gz *g) {
  g->next_free = free_list;
  free_list = g;
}

/* Room for more input: moves what is left to the front; returns the free byte count. */
EXPORT(gz_input_space) u32 gz_input_space(Gz *g) {
  if (g->in_pos) {
    u32 left = g->in_len - g->in_pos;
    for (u32 i = 0; i < left; i++) g->in[i] = g->in[g->in_pos + i];
    g->in_len = left;
    g->in_pos = 0;
  }
  return INSZ - g->in_len;
}
EXPORT(gz_input_ptr) u8 *gz_input_ptr(Gz *g) { return g->in + g->in_len; }
EXPORT(gz_input_add) void gz_input_add(Gz *g, u32 n) { g->in_len += n; }
EXPORT(gz_out_ptr) u8 *gz_out_ptr(Gz *g) { return g->out + g->out_start; }
EXPORT(gz_out_len) u32 gz_out_len(Gz *g) { return g->out_pos - g->out_start; }
EXPORT(gz_error) u32 gz_error(Gz *g) { return g->err; }
EXPORT(gz_members) u32 gz_members(Gz *g) { return g->members; }

/*
 * Decodes as much as the input and the output room allow. Returns R_OUTPUT when output is
 * waiting (take it, then call again), R_NEED_INPUT when all input is used, R_ERROR on bad data.
 */
EXPORT(gz_run) u32 gz_run(Gz *g) {
  if (g->mode == M_ERROR) return R_ERROR;
  /* Output taken: keep the last WIN bytes as history, the rest of the buffer is free. */
  if (g->out_start == g->out_pos && g->out_pos > WIN + OUTSZ - 1024) {
    for (u32 i = 0; i < WIN; i++) g->out[i] = g->out[g->out_pos - WIN + i];
    g->out_pos = g->out_start = g->crc_pos = WIN;
  }
  for (;;) {
    switch (g->mode) {
    case M_HEADER: {
      int r = header(g);
      if (r < 0) return fail(g, (u32)-r);
      if (r == 0) return g->out_pos > g->out_start ? R_OUTPUT : R_NEED_INPUT;
      g->mode = M_BLOCK;
      crc_sync(g);
      g->crc = g->isize = 0;
      g->member_out = 0;
      g->bitbuf = g->bitcnt = 0;
      break;
    }
    case M_BLOCK: {
      u32 pos = g->in_pos, buf = g->bitbuf, cnt = g->bitcnt;
      if (!need(g, 3)) goto short_block;
      g->final = take(g, 1);
      u32 type = take(g, 2);
      if (type == 0) {
        take(g, g->bitcnt & 7);
        if (!need(g, 32)) goto short_block;
        u32 len = take(g, 16), nlen = take(g, 16);
        if (len != (~nlen & 0xffff)) return fail(g, E_STORED);
        g->stored_left = len;
        g->mode = M_STORED;
      } else if (type == 1) {
        g->lens = fixed_lens;
        g->dists = fixed_dists;
        g->mode = M_CODES;
      } else if (type == 2) {
        int r = dynamic(g);
        if (r < 0) return fail(g, (u32)-r);
        if (r == 0) goto short_block;
        g->mode = M_CODES;
      } else {
        return fail(g, E_BTYPE);
      }
      break;
    short_block:
      g->in_pos = pos;
      g->bitbuf = buf;
      g->bitcnt = cnt;
      crc_sync(g);
      return g->out_pos > g->out_start ? R_OUTPUT : R_NEED_INPUT;
    }
    case M_STORED: {
      /* Bytes still in the bit buffer come first (whole bytes after the alignment). */
      while (g->stored_left && g->bitcnt >= 8 && g->out_pos < WIN + OUTSZ) {
        put(g, (u8)take(g, 8));
        g->stored_left--;
      }
      u32 n = g->stored_left;
      if (n > g->in_len - g->in_pos) n = g->in_len - g->in_pos;
      if (n > WIN + OUTSZ - g->out_pos) n = WIN + OUTSZ - g->out_pos;
      copy(g->out + g->out_pos, g->in + g->in_pos, n);
      g->out_pos += n;
      g->in_pos += n;
      g->stored_left -= n;
      if (g->stored_left == 0) {
        g->mode = g->final ? M_TRAILER : M_BLOCK;
        break;
      }
      crc_sync(g);
      return g->out_pos > g->out_start ? R_OUTPUT : R_NEED_INPUT;
    }
    case M_CODES: {
      for (;;) {
        if (g->out_pos > WIN + OUTSZ - 258) {
          crc_sync(g);
          return R_OUTPUT;
        }
        u32 pos = g->in_pos, buf = g->bitbuf, cnt = g->bitcnt;
        int sym = decode(g, &g->lens);
        if (sym < 256) {
          if (sym == -1) goto short_codes;
          if (sym < 0) return fail(g, E_SYMBOL);
          put(g, (u8)sym);
          continue;
        }
        if (sym == 256) {
          g->mode = g->final ? M_TRAILER : M_BLOCK;
          break;
        }
        sym -= 257;
        if (sym >= 29) return fail(g, E_SYMBOL);
        if (!need(g, LEXT[sym])) goto short_codes;
        u32 len = LBASE[sym] + take(g, LEXT[sym]);
        int ds = decode(g, &g->dists);
        if (ds == -1) goto short_codes;
        if (ds < 0 || ds >= 30) return fail(g, E_DIST);
        if (!need(g, DEXT[ds])) goto short_codes;
        u32 dist = DBASE[ds] + take(g, DEXT[ds]);
        if (dist > WIN || dist > g->member_out + (g->out_pos - g->crc_pos)) return fail(g, E_FAR);
        u8 *d = g->out + g->out_pos;
        const u8 *s = d - dist;
        for (u32 i = 0; i < len; i++) d[i] = s[i];
        g->out_pos += len;
        continue;
      short_codes:
        g->in_pos = pos;
        g->bitbuf = buf;
        g->bitcnt = cnt;
        crc_sync(g);
        return g->out_pos > g->out_start ? R_OUTPUT : R_NEED_INPUT;
      }
      break;
    }
    case M_TRAILER: {
      crc_sync(g);
      u32 pos = g->in_pos, buf = g->bitbuf, cnt = g->bitcnt;
      take(g, g->bitcnt & 7);
      if (!need(g, 32)) goto short_trailer;
      u32 crc = take(g, 16);
      crc |= take(g, 16) << 16;
      if (!need(g, 32)) goto short_trailer;
      u32 isize = take(g, 16);
      isize |= take(g, 16) << 16;
      if (crc != g->crc) return fail(g, E_CRC);
      if (isize != g->isize) return fail(g, E_LENGTH);
      /* Bytes still in the bit buffer go back to the input. */
      g->in_pos -= g->bitcnt / 8;
      g->bitbuf = g->bitcnt = 0;
      g->members++;
      g->mode = M_END;
      break;
    short_trailer:
      g->in_pos = pos;
      g->bitbuf = buf;
      g->bitcnt = cnt;
      return g->out_pos > g->out_start ? R_OUTPUT : R_NEED_INPUT;
    }
    case M_END:
      /* As zlib in Node: another member follows unless the next byte is 0 (padding: the rest
       * of the input is ignored). */
      if (g->in_pos == g->in_len) return g->out_pos > g->out_start ? R_OUTPUT : R_NEED_INPUT;
      g->mode = g->in[g->in_pos] == 0 ? M_IGNORE : M_HEADER;
      break;
    case M_IGNORE:
      g->in_pos = g->in_len;
      return g->out_pos > g->out_start ? R_OUTPUT : R_NEED_INPUT;
    default:
      return R_ERROR;
    }
  }
}

/* True when the input may end here (after a whole member, or in ignored padding). */
EXPORT(gz_can_end) u32 gz_can_end(Gz *g) {
  return (g->mode == M_END || g->mode == M_IGNORE) && g->members > 0;
}

/* After the output was taken (the window keeps it as history for back-references). */
EXPORT(gz_taken) void gz_taken(Gz *g) {
  g->out_start = g->out_pos;
}

/* ------------------------------------------------------------------ gzip (compression) */

/*
 * A deflate compressor: LZ77 over a 32 KiB window (hash chains, greedy matching) coded with the
 * fixed Huffman codes, one block per call of `gzc_block` (at most GZC_BLOCK bytes), written
 * as one gzip member (mtime 0, OS byte 255, as Spack writes). Its output is valid gzip that any
 * inflater reads, but not byte-identical to zlib's: where Spack's exact bytes matter, spackle
 * uses node:zlib.
 */
#define GZC_BLOCK 65536
#define GZC_BUF (WIN + GZC_BLOCK)
#define HBITS 15
#define HSIZE (1 << HBITS)

typedef struct Gzc {
  struct Gzc *next_free;
  u32 start;     /* where the next block goes in buf (after the history) */
  u32 chain;     /* longest hash chain followed */
  u32 crc, isize;
  u64 bitbuf;
  u32 bitcnt, out_len, header;
  u32 head[HSIZE]; /* last position + 1 of each hash (0: none) */
  u32 prev[GZC_BUF];
  u8 buf[GZC_BUF];
  u8 out[GZC_BLOCK + GZC_BLOCK / 4 + 64];
} Gzc;

static Gzc *gzc_free_list;
static u16 lit_code[288], dist_code[30];
static u8 lit_len[288];
static int gzc_ready;

static u32 reverse(u32 code, int len) {
  u32 r = 0;
  for (int i = 0; i < len; i++) r |= ((code >> i) & 1) << (len - 1 - i);
  return r;
}

static void gzc_init_tables(void) {
  for (u32 v = 0; v < 288; v++) {
    u32 code, len;
    if (v < 144) code = 0x30 + v, len = 8;
    else if (v < 256) code = 0x190 + (v - 144), len = 9;
    else if (v < 280) code = v - 256, len = 7;
    else code = 0xc0 + (v - 280), len = 8;
    lit_code[v] = (u16)reverse(code, (int)len);
    lit_len[v] = (u8)len;
  }
  for (u32 d = 0; d < 30; d++) dist_code[d] = (u16)reverse(d, 5);
  gzc_ready = 1;
}

static inline void bits(Gzc *c, u32 value, u32 n) {
  c->bitbuf |= (u64)value << c->bitcnt;
  c->bitcnt += n;
  while (c->bitcnt >= 8) {
    c->out[c->out_len++] = (u8)c->bitbuf;
    c->bitbuf >>= 8;
    c->bitcnt -= 8;
  }
}

static inline u32 hash3(const u8 *p) {
  return ((u32)p[0] << 16 ^ (u32)p[1] << 8 ^ p[2]) * 2654435761u >> (32 - HBITS);
}

static void put_match(Gzc *c, u32 len, u32 dist) {
  int ls = 0;
  while (ls < 28 && LBASE[ls + 1] <= len) ls++;
  bits(c, lit_code[257 + ls], lit_len[257 + ls]);
  if (LEXT[ls]) bits(c, len - LBASE[ls], LEXT[ls]);
  int ds = 0;
  while (ds < 29 && DBASE[ds + 1] <= dist) ds++;
  bits(c, dist_code[ds], 5);
  if (DEXT[ds]) bits(c, dist - DBASE[ds], DEXT[ds]);
}

EXPORT(gzc_new) Gzc *gzc_new(u32 level) {
  if (!ready) init_tables();
  if (!gzc_ready) gzc_init_tables();
  Gzc *c = gzc_free_list;
  if (c) gzc_free_list = c->next_free;
  else if (!(c = (Gzc *)alloc(sizeof(Gzc)))) return 0;
  c->next_free = 0;
  c->start = 0;
  c->chain = level == 0 ? 1 : level < 4 ? 8 : level < 7 ? 48 : 512;
  c->crc = c->isize = 0;
  c->bitbuf = 0;
  c->bitcnt = c->out_len = 0;
  c->header = 1;
  for (u32 i = 0; i < HSIZE; i++) c->head[i] = 0;
  return c;
}

EXPORT(gzc_free) void gzc_free(Gzc *c) {
  c->next_free = gzc_free_list;
  gzc_free_list = c;
}

/* Where the caller writes the next block (at most GZC_BLOCK bytes). */
EXPORT(gzc_input_ptr) u8 *gzc_input_ptr(Gzc *c) { return c->buf + c->start; }
EXPORT(gzc_out_ptr) u8 *gzc_out_ptr(Gzc *c) { return c->out; }
EXPORT(gzc_block_size) u32 gzc_block_size(void) { return GZC_BLOCK; }

static void gzc_header(Gzc *c) {
  static const u8 h[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff};
  for (int i = 0; i < 10; i++) c->out[c->out_len++] = h[i];
  c->header = 0;
}

/* Compresses the `len` bytes written at gzc_input_ptr as one block; returns the output size. */
EXPORT(gzc_block) u32 gzc_block(Gzc *c, u32 len) {
  c->out_len = 0;
  if (c->header) gzc_header(c);
  if (len == 0) return c->out_len;
  const u8 *b = c->buf;
  u32 end = c->start + len;
  c->crc = crc32(c->crc, b, c->start, end);
  c->isize += len;
  bits(c, 2, 3); /* BFINAL 0, BTYPE 01 (fixed codes) */
  u32 p = c->start;
  while (p < end) {
    u32 best = 0, bdist = 0;
    if (p + 3 <= end) {
      u32 h = hash3(b + p);
      u32 cand = c->head[h];
      u32 limit = end - p < 258 ? end - p : 258;
      for (u32 n = c->chain; cand && n; n--) {
        u32 q = cand - 1;
        if (p - q > WIN) break;
        if (b[q + best] == b[p + best] && b[q] == b[p]) {
          u32 l = 0;
          while (l < limit && b[q + l] == b[p + l]) l++;
          if (l > best) {
            best = l;
            bdist = p - q;
            if (l == limit) break;
          }
        }
        cand = c->prev[q];
      }
      c->prev[p] = c->head[h];
      c->head[h] = p + 1;
    }
    if (best >= 3) {
      put_match(c, best, bdist);
      /* Index the positions the match covers (for later matches). */
      for (u32 k = 1; k < best && p + k + 3 <= end; k++) {
        u32 h = hash3(b + p + k);
        c->prev[p + k] = c->head[h];
        c->head[h] = p + k + 1;
      }
      p += best;
    } else {
      bits(c, lit_code[b[p]], lit_len[b[p]]);
      p++;
    }
  }
  bits(c, lit_code[256], lit_len[256]);
  /* Keep the last WIN bytes as history; positions move down with them. */
  if (end > WIN) {
    u32 shift = end - WIN;
    for (u32 i = 0; i < WIN; i++) c->buf[i] = c->buf[shift + i];
    for (u32 i = 0; i < WIN; i++) {
      u32 v = c->prev[shift + i];
      c->prev[i] = v > shift ? v - shift : 0;
    }
    for (u32 i = 0; i < HSIZE; i++) c->head[i] = c->head[i] > shift ? c->head[i] - shift : 0;
    c->start = WIN;
  } else {
    c->start = end;
  }
  return c->out_len;
}

/* Ends the member: a last empty block and the trailer (CRC-32, length); returns the output size. */
EXPORT(gzc_finish) u32 gzc_finish(Gzc *c) {
  c->out_len = 0;
  if (c->header) gzc_header(c);
  bits(c, 3, 3); /* BFINAL 1, BTYPE 01 */
  bits(c, lit_code[256], lit_len[256]);
  if (c->bitcnt) bits(c, 0, 8 - c->bitcnt);
  for (int i = 0; i < 4; i++) c->out[c->out_len++] = (u8)(c->crc >> (8 * i));
  for (int i = 0; i < 4; i++) c->out[c->out_len++] = (u8)(c->isize >> (8 * i));
  return c->out_len;
}
