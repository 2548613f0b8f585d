/*
 * spackle's index record scanner: reads the records of a Spack database's `installs` object
 * for the few fields a light record needs, checking their JSON, at native speed. Freestanding
 * C: no libc, no imports; built by build_index_scan.sh with clang --target=wasm32.
 *
 * The caller copies bytes to `scan_input(size)` and calls `scan_records(len, at, max)`: from
 * `at` (the start of a record's key, or the blanks before it), records are read while they are
 * plain (ASCII, no escapes, every relevant key once, values of the types Spack writes) and
 * complete; each one read fills one entry of `scan_table()` (ENTRY_WORDS u32 words, offsets
 * into the input). It stops at the end of `installs` (its `}`), at a record it does not read
 * (to be read by the caller's own reader: bad JSON, an unusual shape, or bytes that end
 * inside it) or when `max` entries are filled. `scan_stop()` tells why, `scan_pos()` where.
 */

typedef unsigned char u8;
typedef unsigned int u32;

#define EXPORT(name) __attribute__((export_name(#name)))

/* Entry words. A span is a string token's [start, end) with its quotes; 0, 0 when absent. */
enum {
  E_KEY = 0,       /* the key string token (2 words) */
  E_VALUE = 2,     /* the value [start, end) */
  E_SEP = 4,       /* the `,` or `}` after the value */
  E_NAME = 5,      /* spec.name */
  E_VERSION = 7,   /* spec.version */
  E_PLATFORM = 9,  /* spec.arch.platform */
  E_OS = 11,       /* spec.arch.platform_os */
  E_TARGET = 13,   /* spec.arch.target, or its name */
  E_CNAME = 15,    /* spec.compiler.name */
  E_CVERSION = 17, /* spec.compiler.version */
  E_ANNOT = 19,    /* spec.annotations.compiler */
  E_PROVIDER = 21, /* the c, else cxx, else fortran provider's hash */
  E_TIME = 23,     /* installation_time, a number token */
  E_FLAGS = 25,
  E_ARCH_ID = 26,  /* the arch's number: the same for the same arch bytes (0 without one) */
  /* The numbers of the version, compiler name, compiler version, annotated compiler and
     provider strings: the same number, the same bytes (see `intern`); 0 when absent or long. */
  E_VERSION_ID = 27,
  E_CNAME_ID = 28,
  E_CVERSION_ID = 29,
  E_ANNOT_ID = 30,
  E_PROVIDER_ID = 31,
  ENTRY_WORDS = 32
};
/* Flags. */
enum {
  F_EXTERNAL = 1,
  F_IN_BUILDCACHE = 2,
  F_ARCH = 4,
  F_COMPILER = 8, /* a compiler object with a name */
  F_PROVIDER = 16,
  F_TIME = 32,
  /* The name, the key (the hash) and the version can be a package's (see `identity_ok`). */
  F_CHECKED = 64
};
/* Why scan_records stopped. */
enum { STOP_MAX = 0, STOP_END = 1, STOP_RECORD = 2 };

#define MAX_ENTRIES 4096
static u32 table[MAX_ENTRIES * ENTRY_WORDS];
static u32 stop_why, stop_pos;

extern u8 __heap_base;
static u32 input_cap;

EXPORT(scan_input) u8 *scan_input(u32 size) {
  u8 *base = &__heap_base;
  u32 have = (u32)__builtin_wasm_memory_size(0) * 65536u;
  u32 need = (u32)(unsigned long)base + size;
  if (need > have) {
    if (__builtin_wasm_memory_grow(0, (need - have + 65535) / 65536) == (unsigned long)-1) {
      return 0;
    }
  }
  input_cap = size;
  return base;
}
EXPORT(scan_table) u32 *scan_table(void) { return table; }
EXPORT(scan_entry_words) u32 scan_entry_words(void) { return ENTRY_WORDS; }
EXPORT(scan_max_entries) u32 scan_max_entries(void) { return MAX_ENTRIES; }
EXPORT(scan_stop) u32 scan_stop(void) { return stop_why; }
EXPORT(scan_pos) u32 scan_pos(void) { return stop_pos; }

/* The reading state: the input and its length. Every reader returns the index past what it
   read, or FAIL (the record is left to the caller). */
static const u8 *b;
static u32 n;
#define FAIL 0xffffffffu

static inline int is_ws(u8 c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }
static inline u32 ws(u32 i) {
  while (i < n && b[i] <= ' ' && is_ws(b[i])) i++;
  return i;
}

typedef unsigned long long u64;
#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* Sixteen bytes at a time (WebAssembly SIMD; SSE2 where built natively for tests). */
typedef u8 v16 __attribute__((vector_size(16)));
typedef signed char m16 __attribute__((vector_size(16)));
static inline u32 bitmask(m16 m) {
#ifdef __wasm__
  return (u32)__builtin_wasm_bitmask_i8x16(m);
#else
  return (u32)__builtin_ia32_pmovmskb128((__attribute__((vector_size(16))) char)m);
#endif
}

/* A string at i (its quote): plain ASCII without escapes or control characters. Sixteen bytes
   at a time: the first quote, backslash, control character or non-ASCII byte ends it (a quote)
   or fails it (the others). */
static u32 str(u32 i) {
  if (i >= n || b[i] != '"') return FAIL;
  u32 k = i + 1;
  while (k + 16 <= n) {
    v16 v;
    __builtin_memcpy(&v, b + k, 16);
    m16 special = (m16)(v == '"') | (m16)(v == '\\') | (m16)(v < 0x20) | (m16)(v >= 0x80);
    u32 bits = bitmask(special);
    if (bits) {
      k += (u32)__builtin_ctz(bits);
      return b[k] == '"' ? k + 1 : FAIL;
    }
    k += 16;
  }
  for (; k < n; k++) {
    u8 c = b[k];
    if (c == '"') return k + 1;
    if (c < 0x20 || c >= 0x80 || c == '\\') return FAIL;
  }
  return FAIL;
}

static inline int digit(u8 c) { return c >= '0' && c <= '9'; }

/* A number at i (JSON's grammar), ending before n. `zero` is set when its value is 0 and it
   has no exponent. */
static int num_zero;
static u32 number(u32 i) {
  u32 k = i;
  int nonzero = 0, exp = 0;
  if (k < n && b[k] == '-') k++;
  if (k >= n) return FAIL;
  if (b[k] == '0') k++;
  else if (b[k] >= '1' && b[k] <= '9') {
    nonzero = 1;
    while (k < n && digit(b[k])) k++;
  } else return FAIL;
  if (k < n && b[k] == '.') {
    u32 s = ++k;
    while (k < n && digit(b[k])) nonzero |= b[k++] != '0';
    if (k == s) return FAIL;
  }
  if (k < n && (b[k] == 'e' || b[k] == 'E')) {
    exp = 1;
    k++;
    if (k < n && (b[k] == '+' || b[k] == '-')) k++;
    u32 s = k;
    while (k < n && digit(b[k])) k++;
    if (k == s) return FAIL;
  }
  if (k >= n) return FAIL; /* it may go on */
  num_zero = !nonzero && !exp;
  return k;
}

static u32 lit(u32 i, const char *w, u32 len) {
  if (i + len > n) return FAIL;
  for (u32 k = 0; k < len; k++) if (b[i + k] != (u8)w[k]) return FAIL;
  return i + len;
}

#define MAX_DEPTH 1024
static u8 stack[MAX_DEPTH];

/* Past a key string, its colon and blanks: where the value starts. */
static u32 key(u32 i) {
  i = str(i);
  if (i == FAIL) return FAIL;
  i = ws(i);
  if (i >= n || b[i] != ':') return FAIL;
  return ws(i + 1);
}

/* Any JSON value at i, checked whole. */
static u32 value(u32 i) {
  u32 depth = 0;
  for (;;) {
    i = ws(i);
    if (i >= n) return FAIL;
    u8 c = b[i];
    if (c == '"') i = str(i);
    else if (c == '{' || c == '[') {
      i = ws(i + 1);
      if (i >= n) return FAIL;
      if (b[i] == (c == '{' ? '}' : ']')) i++;
      else {
        if (depth == MAX_DEPTH) return FAIL;
        stack[depth++] = c == '{';
        if (c == '{' && (i = key(i)) == FAIL) return FAIL;
        continue;
      }
    } else if (c == 't') i = lit(i, "true", 4);
    else if (c == 'f') i = lit(i, "false", 5);
    else if (c == 'n') i = lit(i, "null", 4);
    else i = number(i);
    if (i == FAIL) return FAIL;
    for (;;) {
      if (depth == 0) return i;
      i = ws(i);
      if (i >= n) return FAIL;
      int obj = stack[depth - 1];
      if (b[i] == ',') {
        i = ws(i + 1);
        if (obj && (i = key(i)) == FAIL) return FAIL;
        break;
      }
      if (b[i] != (obj ? '}' : ']')) return FAIL;
      depth--;
      i++;
    }
  }
}

/* Keys, by their bytes. */
enum {
  K_OTHER, K_SPEC, K_IN_BUILDCACHE, K_INSTALLATION_TIME, K_NAME, K_VERSION, K_ARCH, K_EXTERNAL,
  K_COMPILER, K_ANNOTATIONS, K_DEPENDENCIES, K_PLATFORM, K_PLATFORM_OS, K_TARGET, K_HASH,
  K_PARAMETERS, K_VIRTUALS
};
static int eq(u32 s, const char *w, u32 len) {
  for (u32 k = 0; k < len; k++) if (b[s + k] != (u8)w[k]) return 0;
  return 1;
}
/* The key whose string token is [s, e). */
static int key_code(u32 s, u32 e) {
  u32 len = e - s - 2;
  s++;
  switch (len) {
    case 4:
      if (eq(s, "spec", 4)) return K_SPEC;
      if (eq(s, "name", 4)) return K_NAME;
      if (eq(s, "arch", 4)) return K_ARCH;
      if (eq(s, "hash", 4)) return K_HASH;
      return K_OTHER;
    case 6: return eq(s, "target", 6) ? K_TARGET : K_OTHER;
    case 7: return eq(s, "version", 7) ? K_VERSION : K_OTHER;
    case 8:
      if (eq(s, "external", 8)) return K_EXTERNAL;
      if (eq(s, "compiler", 8)) return K_COMPILER;
      if (eq(s, "platform", 8)) return K_PLATFORM;
      if (eq(s, "virtuals", 8)) return K_VIRTUALS;
      return K_OTHER;
    case 10: return eq(s, "parameters", 10) ? K_PARAMETERS : K_OTHER;
    case 11:
      if (eq(s, "annotations", 11)) return K_ANNOTATIONS;
      if (eq(s, "platform_os", 11)) return K_PLATFORM_OS;
      return K_OTHER;
    case 12: return eq(s, "dependencies", 12) ? K_DEPENDENCIES : K_OTHER;
    case 13: return eq(s, "in_buildcache", 13) ? K_IN_BUILDCACHE : K_OTHER;
    case 17: return eq(s, "installation_time", 17) ? K_INSTALLATION_TIME : K_OTHER;
    default: return K_OTHER;
  }
}

/*
 * Object walking: `first(i)` at a `{` gives the first key's index (or END_OBJ, `closed` past
 * the `}`); `member(k)` reads the key at k (its code in `kc`, value start returned); `next(e)`
 * after a value gives the next key or END_OBJ.
 */
#define END_OBJ 0xfffffffeu
static u32 closed;
static int kc;
static u32 first(u32 i) {
  i = ws(i + 1);
  if (i < n && b[i] == '}') {
    closed = i + 1;
    return END_OBJ;
  }
  return i;
}
static u32 member(u32 k) {
  u32 e = str(k);
  if (e == FAIL) return FAIL;
  kc = key_code(k, e);
  e = ws(e);
  if (e >= n || b[e] != ':') return FAIL;
  return ws(e + 1);
}
static u32 next(u32 e) {
  e = ws(e);
  if (e >= n) return FAIL;
  if (b[e] == ',') return ws(e + 1);
  if (b[e] == '}') {
    closed = e + 1;
    return END_OBJ;
  }
  return FAIL;
}

static u32 *ent;
static void span(int at, u32 s, u32 e) {
  ent[at] = s;
  ent[at + 1] = e;
}
/* A string value at v recorded at `at`. */
static u32 string_at(int at, u32 v) {
  u32 e = str(v);
  if (e != FAIL) span(at, v, e);
  return e;
}

/* Reads an object at i whose member values are read by `read(key, value)`; a repeated key
   whose bit is in `once` fails. */
#define OBJECT(i, once, READ)                             \
  do {                                                    \
    if (i >= n || b[i] != '{') return FAIL;               \
    u32 seen_ = 0;                                        \
    for (u32 k_ = first(i); k_ != END_OBJ;) {             \
      if (k_ == FAIL) return FAIL;                        \
      u32 v = member(k_);                                 \
      if (v == FAIL) return FAIL;                         \
      int key = kc;                                       \
      if ((once) & (1u << key)) {                         \
        if (seen_ & (1u << key)) return FAIL;             \
        seen_ |= 1u << key;                               \
      }                                                   \
      u32 e_;                                             \
      READ;                                               \
      if (e_ == FAIL) return FAIL;                        \
      k_ = next(e_);                                      \
    }                                                     \
  } while (0)

static u32 target(u32 i) {
  OBJECT(i, 1u << K_NAME, {
    if (key == K_NAME) e_ = string_at(E_TARGET, v);
    else e_ = value(v);
  });
  return closed;
}

static u32 arch_object(u32 i) {
  OBJECT(i, (1u << K_PLATFORM) | (1u << K_PLATFORM_OS) | (1u << K_TARGET), {
    if (key == K_PLATFORM) e_ = string_at(E_PLATFORM, v);
    else if (key == K_PLATFORM_OS) e_ = string_at(E_OS, v);
    else if (key == K_TARGET) e_ = v < n && b[v] == '"' ? string_at(E_TARGET, v) : target(v);
    else e_ = value(v);
  });
  return closed;
}

/* Arch objects read lately (records share a few): their bytes, and where their strings are
   (relative to the object's start; 0, 0 when absent). The same bytes are the same arch. */
#define ARCH_SLOTS 8
#define ARCH_MAX 1024
static struct {
  u32 len, id;
  u32 rel[6];
  u8 bytes[ARCH_MAX];
} arches[ARCH_SLOTS];
static u32 arch_next, arch_ids;

static int same(const u8 *x, const u8 *y, u32 len) {
  u32 k = 0;
  for (; k + 16 <= len; k += 16) {
    v16 a, c;
    __builtin_memcpy(&a, x + k, 16);
    __builtin_memcpy(&c, y + k, 16);
    if (bitmask((m16)(a != c))) return 0;
  }
  for (; k + 8 <= len; k += 8) {
    u64 a, c;
    __builtin_memcpy(&a, x + k, 8);
    __builtin_memcpy(&c, y + k, 8);
    if (a != c) return 0;
  }
  for (; k < len; k++) if (x[k] != y[k]) return 0;
  return 1;
}

static u32 arch(u32 i) {
  static const int words[3] = {E_PLATFORM, E_OS, E_TARGET};
  ent[E_FLAGS] |= F_ARCH;
  for (u32 s = 0; s < ARCH_SLOTS; s++) {
    u32 len = arches[s].len;
    if (!len || i + len > n || !same(b + i, arches[s].bytes, len)) continue;
    for (int w = 0; w < 3; w++) {
      u32 rs = arches[s].rel[2 * w], re = arches[s].rel[2 * w + 1];
      if (re) span(words[w], i + rs, i + re);
    }
    ent[E_ARCH_ID] = arches[s].id;
    return i + len;
  }
  u32 e = arch_object(i);
  if (e == FAIL || e - i > ARCH_MAX) return e;
  u32 s = arch_next;
  arch_next = (arch_next + 1) % ARCH_SLOTS;
  arches[s].len = e - i;
  arches[s].id = ++arch_ids;
  ent[E_ARCH_ID] = arches[s].id;
  __builtin_memcpy(arches[s].bytes, b + i, e - i);
  for (int w = 0; w < 3; w++) {
    u32 ss = ent[words[w]], se = ent[words[w] + 1];
    arches[s].rel[2 * w] = se ? ss - i : 0;
    arches[s].rel[2 * w + 1] = se ? se - i : 0;
  }
  return e;
}

static u32 compiler(u32 i) {
  OBJECT(i, (1u << K_NAME) | (1u << K_VERSION), {
    if (key == K_NAME) {
      e_ = string_at(E_CNAME, v);
      ent[E_FLAGS] |= F_COMPILER;
    } else if (key == K_VERSION) e_ = string_at(E_CVERSION, v);
    else e_ = value(v);
  });
  return closed;
}

static u32 annotations(u32 i) {
  OBJECT(i, 1u << K_COMPILER, {
    if (key == K_COMPILER && v < n && b[v] == '"') e_ = string_at(E_ANNOT, v);
    else e_ = value(v);
  });
  return closed;
}

/* Containers read lately whose values nobody needs (a spec's parameters): the same bytes are
   the same valid JSON. */
#define MEMO_SLOTS 8
#define MEMO_MAX 512
static struct {
  u32 len;
  u8 bytes[MEMO_MAX];
} memos[MEMO_SLOTS];
static u32 memo_next;

static u32 skip_memo(u32 i) {
  if (i >= n || (b[i] != '{' && b[i] != '[')) return value(i);
  for (u32 s = 0; s < MEMO_SLOTS; s++) {
    u32 len = memos[s].len;
    if (len && i + len <= n && b[i + len - 1] == memos[s].bytes[len - 1] &&
        same(b + i, memos[s].bytes, len)) {
      return i + len;
    }
  }
  u32 e = value(i);
  if (e == FAIL || e - i > MEMO_MAX) return e;
  u32 s = memo_next;
  memo_next = (memo_next + 1) % MEMO_SLOTS;
  memos[s].len = e - i;
  __builtin_memcpy(memos[s].bytes, b + i, e - i);
  return e;
}

/* Languages a dependency provides (1 c, 2 cxx, 4 fortran), read by `virtuals`. */
static u32 langs;
static u32 virtuals(u32 i) {
  i = ws(i + 1);
  if (i < n && b[i] == ']') return i + 1;
  for (;;) {
    u32 e = value(i);
    if (e == FAIL) return FAIL;
    if (b[i] == '"') {
      u32 len = e - i - 2;
      if (len == 1 && b[i + 1] == 'c') langs |= 1;
      else if (len == 3 && eq(i + 1, "cxx", 3)) langs |= 2;
      else if (len == 7 && eq(i + 1, "fortran", 7)) langs |= 4;
    }
    i = ws(e);
    if (i >= n) return FAIL;
    if (b[i] == ']') return i + 1;
    if (b[i] != ',') return FAIL;
    i = ws(i + 1);
  }
}

static u32 parameters(u32 i) {
  OBJECT(i, 1u << K_VIRTUALS, {
    if (key == K_VIRTUALS && v < n && b[v] == '[') e_ = virtuals(v);
    else e_ = value(v);
  });
  return closed;
}

static u32 dep_hash_s, dep_hash_e;
static u32 dependency(u32 i) {
  dep_hash_s = dep_hash_e = 0;
  langs = 0;
  OBJECT(i, (1u << K_HASH) | (1u << K_PARAMETERS), {
    if (key == K_HASH) {
      e_ = str(v);
      dep_hash_s = v;
      dep_hash_e = e_;
    } else if (key == K_PARAMETERS && v < n && b[v] == '{') e_ = parameters(v);
    else e_ = value(v);
  });
  return closed;
}

/* Dependency objects read lately (records share their compiler's and runtime's): bytes, the
   languages, where the hash is (relative; 0, 0 when absent). */
#define DEP_SLOTS 8
#define DEP_MAX 512
static struct {
  u32 len, langs, hs, he;
  u8 bytes[DEP_MAX];
} deps_seen[DEP_SLOTS];
static u32 dep_next;

static u32 dependency_memo(u32 i) {
  for (u32 s = 0; s < DEP_SLOTS; s++) {
    u32 len = deps_seen[s].len;
    if (len && i + len <= n && same(b + i, deps_seen[s].bytes, len)) {
      langs = deps_seen[s].langs;
      dep_hash_s = deps_seen[s].he ? i + deps_seen[s].hs : 0;
      dep_hash_e = deps_seen[s].he ? i + deps_seen[s].he : 0;
      return i + len;
    }
  }
  u32 e = dependency(i);
  if (e == FAIL || e - i > DEP_MAX) return e;
  u32 s = dep_next;
  dep_next = (dep_next + 1) % DEP_SLOTS;
  deps_seen[s].len = e - i;
  deps_seen[s].langs = langs;
  deps_seen[s].hs = dep_hash_e ? dep_hash_s - i : 0;
  deps_seen[s].he = dep_hash_e ? dep_hash_e - i : 0;
  __builtin_memcpy(deps_seen[s].bytes, b + i, e - i);
  return e;
}

static u32 dependencies(u32 i) {
  u32 ps[3] = {0, 0, 0}, pe[3] = {0, 0, 0};
  u32 found = 0;
  i = ws(i + 1);
  if (i < n && b[i] == ']') return i + 1;
  for (;;) {
    u32 e;
    if (i < n && b[i] == '{') {
      e = dependency_memo(i);
      if (e == FAIL) return FAIL;
      for (int l = 0; l < 3; l++) {
        if ((langs & (1u << l)) && !(found & (1u << l))) {
          found |= 1u << l;
          ps[l] = dep_hash_s;
          pe[l] = dep_hash_e;
        }
      }
    } else e = value(i);
    if (e == FAIL) return FAIL;
    i = ws(e);
    if (i >= n) return FAIL;
    if (b[i] == ']') break;
    if (b[i] != ',') return FAIL;
    i = ws(i + 1);
  }
  for (int l = 0; l < 3; l++) {
    if (found & (1u << l)) {
      ent[E_FLAGS] |= F_PROVIDER;
      span(E_PROVIDER, ps[l], pe[l]);
      break;
    }
  }
  return i + 1;
}

static u32 external(u32 v) {
  u32 e = value(v);
  if (e == FAIL) return FAIL;
  u8 c = b[v];
  int truthy = c == '{' || c == '[' || c == 't' || (c == '"' && e - v > 2);
  if (c == '-' || digit(c)) {
    number(v);
    /* 1e-400 is 0 to JSON.parse: a number with an exponent is left to the caller. */
    for (u32 k = v; k < e; k++) if (b[k] == 'e' || b[k] == 'E') return FAIL;
    truthy = !num_zero;
  }
  if (truthy) ent[E_FLAGS] |= F_EXTERNAL;
  return e;
}

#define SPEC_ONCE                                                                          \
  ((1u << K_NAME) | (1u << K_VERSION) | (1u << K_ARCH) | (1u << K_EXTERNAL) |               \
   (1u << K_COMPILER) | (1u << K_ANNOTATIONS) | (1u << K_DEPENDENCIES) | (1u << K_SPEC) |   \
   (1u << K_IN_BUILDCACHE) | (1u << K_INSTALLATION_TIME) | (1u << K_PLATFORM) |             \
   (1u << K_PLATFORM_OS) | (1u << K_TARGET) | (1u << K_PARAMETERS) | (1u << K_VIRTUALS))

static u32 spec(u32 i) {
  OBJECT(i, SPEC_ONCE, {
    if (key == K_NAME) e_ = string_at(E_NAME, v);
    else if (key == K_VERSION) e_ = string_at(E_VERSION, v);
    else if (key == K_ARCH) e_ = arch(v);
    else if (key == K_EXTERNAL) e_ = external(v);
    else if (key == K_COMPILER) e_ = compiler(v);
    else if (key == K_ANNOTATIONS) e_ = annotations(v);
    else if (key == K_DEPENDENCIES && v < n && b[v] == '[') e_ = dependencies(v);
    else e_ = skip_memo(v);
  });
  return closed;
}

static u32 record(u32 i) {
  int has_spec = 0;
  OBJECT(i, (1u << K_SPEC) | (1u << K_IN_BUILDCACHE) | (1u << K_INSTALLATION_TIME), {
    if (key == K_SPEC) {
      has_spec = 1;
      e_ = spec(v);
    } else {
      e_ = value(v);
      if (e_ != FAIL && key == K_IN_BUILDCACHE && b[v] == 't') ent[E_FLAGS] |= F_IN_BUILDCACHE;
      if (e_ != FAIL && key == K_INSTALLATION_TIME && (b[v] == '-' || digit(b[v]))) {
        ent[E_FLAGS] |= F_TIME;
        span(E_TIME, v, e_);
      }
    }
  });
  return has_spec ? closed : FAIL;
}

/* Strings seen lately, by a hash of their bytes: a slot's number changes whenever its bytes
   do (the slot in the low 8 bits, its generation above, never 0). */
#define INTERN_SLOTS 256
#define INTERN_MAX 64
static struct {
  u32 len, id;
  u8 bytes[INTERN_MAX];
} interned[INTERN_SLOTS];
static u32 intern_gen[INTERN_SLOTS];

/* The number of the string token [s, e) (quotes included), 0 when absent (e == 0) or long. */
static u32 intern(u32 s, u32 e) {
  if (e == 0 || e - s - 2 > INTERN_MAX) return 0;
  u32 len = e - s - 2;
  const u8 *p = b + s + 1;
  /* A cheap hash (the bytes are compared anyway): the length and the first and last 8 bytes. */
  u64 h = len * 0x9e3779b97f4a7c15ull;
  if (len >= 8) {
    u64 x, y;
    __builtin_memcpy(&x, p, 8);
    __builtin_memcpy(&y, p + len - 8, 8);
    h ^= (x * 0xff51afd7ed558ccdull) ^ (y * 0xc4ceb9fe1a85ec53ull);
  } else {
    for (u32 k = 0; k < len; k++) h = (h ^ p[k]) * 0x100000001b3ull;
  }
  h ^= h >> 29;
  u32 slot = (u32)(h ^ (h >> 32)) & (INTERN_SLOTS - 1);
  if (interned[slot].id && interned[slot].len == len && same(p, interned[slot].bytes, len)) {
    return interned[slot].id;
  }
  u32 gen = intern_gen[slot] = (intern_gen[slot] + 1) & 0xffffff;
  if (!gen) gen = intern_gen[slot] = 1;
  interned[slot].len = len;
  interned[slot].id = (gen << 8) | slot;
  __builtin_memcpy(interned[slot].bytes, p, len);
  return interned[slot].id;
}

static inline int lower_or_digit(u8 c) { return (c >= 'a' && c <= 'z') || digit(c); }
static inline int name_char(u8 c) {
  return lower_or_digit(c) || (c >= 'A' && c <= 'Z') || c == '_';
}

/* As spackle's identity check: the name [A-Za-z0-9_][A-Za-z0-9_.+-]*, the key 1 to 64 of
   [a-z0-9], the version (absent, or a string: plain strings hold no backslash, NUL or newline)
   neither holding "/" nor being "." or "..". */
static int identity_ok(void) {
  u32 s = ent[E_NAME], e = ent[E_NAME + 1];
  if (e == 0 || e - s < 3 || !name_char(b[s + 1])) return 0;
  for (u32 k = s + 2; k < e - 1; k++) {
    u8 c = b[k];
    if (!name_char(c) && c != '.' && c != '+' && c != '-') return 0;
  }
  s = ent[E_KEY];
  e = ent[E_KEY + 1];
  if (e - s < 3 || e - s > 66) return 0;
  u32 k = s + 1;
  for (; k + 16 <= e - 1; k += 16) {
    v16 v;
    __builtin_memcpy(&v, b + k, 16);
    m16 ok = ((m16)(v >= 'a') & (m16)(v <= 'z')) | ((m16)(v >= '0') & (m16)(v <= '9'));
    if (bitmask(ok) != 0xffff) return 0;
  }
  for (; k < e - 1; k++) if (!lower_or_digit(b[k])) return 0;
  s = ent[E_VERSION];
  e = ent[E_VERSION + 1];
  if (e) {
    for (u32 k = s + 1; k < e - 1; k++) if (b[k] == '/') return 0;
    if (e - s == 3 && b[s + 1] == '.') return 0;
    if (e - s == 4 && b[s + 1] == '.' && b[s + 2] == '.') return 0;
  }
  return 1;
}

EXPORT(scan_records) u32 scan_records(u32 len, u32 at, u32 max) {
  b = &__heap_base;
  n = len;
  u32 count = 0;
  if (max > MAX_ENTRIES) max = MAX_ENTRIES;
  for (;;) {
    u32 i = ws(at);
    stop_pos = i;
    if (count == max) {
      stop_why = STOP_MAX;
      return count;
    }
    stop_why = STOP_RECORD;
    ent = table + count * ENTRY_WORDS;
    for (u32 w = 0; w < ENTRY_WORDS; w++) ent[w] = 0;
    u32 ke = str(i);
    if (ke == FAIL) return count;
    u32 v = ws(ke);
    if (v >= n || b[v] != ':') return count;
    v = ws(v + 1);
    u32 ve = record(v);
    if (ve == FAIL) return count;
    u32 sep = ws(ve);
    if (sep >= n || (b[sep] != ',' && b[sep] != '}')) return count;
    span(E_KEY, i, ke);
    span(E_VALUE, v, ve);
    ent[E_SEP] = sep;
    ent[E_VERSION_ID] = intern(ent[E_VERSION], ent[E_VERSION + 1]);
    ent[E_CNAME_ID] = intern(ent[E_CNAME], ent[E_CNAME + 1]);
    ent[E_CVERSION_ID] = intern(ent[E_CVERSION], ent[E_CVERSION + 1]);
    ent[E_ANNOT_ID] = intern(ent[E_ANNOT], ent[E_ANNOT + 1]);
    ent[E_PROVIDER_ID] = intern(ent[E_PROVIDER], ent[E_PROVIDER + 1]);
    if (identity_ok()) ent[E_FLAGS] |= F_CHECKED;
    count++;
    if (b[sep] == '}') {
      stop_why = STOP_END;
      stop_pos = sep;
      return count;
    }
    at = sep + 1;
  }
}
