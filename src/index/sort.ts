/**
 * The order `list` prints records in: by name, then version (digit runs compared as numbers),
 * then hash, as `Intl.Collator` orders them (`numeric: true` for versions). Tens of thousands
 * of collator comparisons cost a tenth of a second; when every name, version and hash is made
 * of the characters Spack uses (lowercase letters, digits, `-_.+`), they are compared instead
 * character by character by each character's rank under the collator (read from the collator
 * once), digit runs of versions by their numbers: the same order at a fraction of the cost.
 * Anything else (capitals, other characters, digit runs with leading zeros, a locale with its
 * own rules) is sorted with the collator itself.
 *
 * @module
 */

/** What the order reads of a record. */
export interface SortableRecord {
  name: string;
  version: string;
  hash: string;
}

/** The characters compared by rank. */
const KEYED = "abcdefghijklmnopqrstuvwxyz0123456789-_.+";
const PLAIN = /^[a-z0-9_.+-]*$/;
/** Hashes in base32 (or hex), whose code-unit order is the collator's. */
const HASH = /^[a-z0-9]*$/;
/** The collator's order of {@link KEYED}: `_` and `+` are where code units do not put them. */
const COLLATED = "_-.+0123456789abcdefghijklmnopqrstuvwxyz";
const ORDER_MAP = /[_+]/;
const ORDER_MAP_ALL = /[_+]/g;
/** A digit run with a leading zero (`01`): the collator breaks such ties its own way. */
const LEADING_ZERO = /(^|[^0-9])0[0-9]/;

let ranks: Uint8Array | null | undefined;

/**
 * Each keyed character's rank under the default collator (1 and up), by character code; null
 * when the collator's locale may have contractions or other rules over these characters.
 */
function rankTable(): Uint8Array | null {
  if (ranks !== undefined) return ranks;
  const coll = new Intl.Collator();
  if (!/^en\b/.test(coll.resolvedOptions().locale)) return ranks = null;
  const order = [...KEYED].sort(coll.compare);
  if (order.join("") !== COLLATED) return ranks = null;
  ranks = new Uint8Array(128);
  order.forEach((c, i) => ranks![c.charCodeAt(0)] = 1 + i);
  return ranks;
}

const isDigit = (c: number) => c >= 0x30 && c <= 0x39;

/**
 * Character by character by rank, a prefix first, but a digit run against a digit run by its
 * number (there are no leading zeros).
 */
function compareVersion(a: string, b: string, r: Uint8Array): number {
  let i = 0, j = 0;
  while (i < a.length && j < b.length) {
    const ca = a.charCodeAt(i), cb = b.charCodeAt(j);
    if (isDigit(ca) && isDigit(cb)) {
      let ie = i + 1, je = j + 1;
      while (ie < a.length && isDigit(a.charCodeAt(ie))) ie++;
      while (je < b.length && isDigit(b.charCodeAt(je))) je++;
      if (ie - i !== je - j) return (ie - i) - (je - j);
      for (; i < ie; i++, j++) {
        const d = a.charCodeAt(i) - b.charCodeAt(j);
        if (d !== 0) return d;
      }
      continue;
    }
    // Any digit (a run's first) ranks as the digits' group does against other characters.
    const d = r[isDigit(ca) ? 0x30 : ca] - r[isDigit(cb) ? 0x30 : cb];
    if (d !== 0) return d;
    i++, j++;
  }
  return (a.length - i) - (b.length - j);
}

/** The collator order, comparison by comparison (any text, any locale). */
function collatorSorted<T extends SortableRecord>(records: readonly T[]): T[] {
  const text = new Intl.Collator();
  const numeric = new Intl.Collator(undefined, { numeric: true });
  return [...records].sort((a, b) =>
    text.compare(a.name, b.name) || numeric.compare(a.version, b.version) ||
    text.compare(a.hash, b.hash)
  );
}

/**
 * `records` sorted by name, version (numerically) and hash, as `Intl.Collator` orders them; a
 * new array. Keys are used when they give the same order (see the module), else the collator.
 */
export function sortRecords<T extends SortableRecord>(records: readonly T[]): T[] {
  const r = rankTable();
  // Versions repeat: each one tested once.
  const plainVersions = new Map<string, boolean>();
  const plainVersion = (v: string) => {
    let ok = plainVersions.get(v);
    if (ok === undefined) plainVersions.set(v, ok = PLAIN.test(v) && !LEADING_ZERO.test(v));
    return ok;
  };
  // Names compare as plain strings once `_` and `+` (the two characters out of code-unit
  // order) are put in their places; names repeat, so each is tested and mapped once (null: not
  // plain).
  const mapped = new Map<string, string | null>();
  const keyOf = (name: string) => {
    let k = mapped.get(name);
    if (k === undefined) {
      k = !PLAIN.test(name)
        ? null
        : ORDER_MAP.test(name)
        ? name.replace(ORDER_MAP_ALL, (c) => c === "_" ? "!" : "/")
        : name;
      mapped.set(name, k);
    }
    return k;
  };
  if (!r) return collatorSorted(records);
  const keyed: { k: string; rec: T }[] = new Array(records.length);
  for (let i = 0; i < records.length; i++) {
    const rec = records[i];
    const k = keyOf(rec.name);
    if (k === null || !plainVersion(rec.version) || !HASH.test(rec.hash)) {
      return collatorSorted(records);
    }
    keyed[i] = { k, rec };
  }
  keyed.sort((a, b) => {
    if (a.k !== b.k) return a.k < b.k ? -1 : 1;
    const x = a.rec, y = b.rec;
    if (x.version !== y.version) {
      const d = compareVersion(x.version, y.version, r);
      if (d !== 0) return d;
    }
    return x.hash < y.hash ? -1 : x.hash > y.hash ? 1 : 0;
  });
  return keyed.map((e) => e.rec);
}

/** The collator order only (for tests to compare {@link sortRecords} with). */
export const sortRecordsByCollator = collatorSorted;
