/**
 * A fast yes-or-don't-know check of spec documents against the wire schemas of `schema.ts`.
 * zod checks a document by building a checked copy of it, which costs more than the parse
 * itself and leaves as much garbage: an install plan reads thousands of spec files, each with
 * its whole DAG. These functions walk the parsed value without allocating and answer `true`
 * only for values the schemas accept; a `false` sends the value to zod, which names what is
 * wrong. They are as strict as the schemas or stricter (plain objects only, finite numbers),
 * never more lenient.
 *
 * @module
 */

type Obj = Record<string, unknown>;

/** A plain object (what JSON.parse makes of `{...}`): not null, not an array. */
function isPlain(v: unknown): v is Obj {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

const isString = (v: unknown): v is string => typeof v === "string";
const isNumber = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

/** Optional: absent (undefined) or `ok`. */
function opt(v: unknown, ok: (v: unknown) => boolean): boolean {
  return v === undefined || ok(v);
}

/** Nullable and optional. */
function nopt(v: unknown, ok: (v: unknown) => boolean): boolean {
  return v === undefined || v === null || ok(v);
}

/** A list whose every slot is `ok` (holes included, which `every` would skip). */
function isListOf(v: unknown, ok: (v: unknown) => boolean): boolean {
  if (!Array.isArray(v)) return false;
  for (let i = 0; i < v.length; i++) if (!ok(v[i])) return false;
  return true;
}

const isStringOrNumber = (v: unknown) => isString(v) || isNumber(v);
const isStringList = (v: unknown) => isListOf(v, isString);
/** `DepTypesJson`: a string or a list of strings. */
const isDepTypes = (v: unknown) => isString(v) || isStringList(v);

/** `TargetJson`: a name, or a dict with a name. */
const isTarget = (v: unknown) => isString(v) || (isPlain(v) && isString(v.name));

function isArch(v: unknown): boolean {
  return isPlain(v) && nopt(v.platform, isString) && nopt(v.platform_os, isString) &&
    nopt(v.target, isTarget);
}

const isCompiler = (v: unknown) =>
  isPlain(v) && isString(v.name) && opt(v.version, isStringOrNumber);

/** `hash`, `full_hash` and `build_hash`, each optional. */
function hashes(v: Obj): boolean {
  return opt(v.hash, isString) && opt(v.full_hash, isString) && opt(v.build_hash, isString);
}

function isEdge(v: unknown): boolean {
  if (!isPlain(v) || !isString(v.name) || !hashes(v) || !opt(v.package_hash, isString)) {
    return false;
  }
  if (!opt(v.type, isDepTypes)) return false;
  const p = v.parameters;
  return p === undefined ||
    (isPlain(p) && opt(p.deptypes, isDepTypes) && opt(p.virtuals, isStringList) &&
      opt(p.direct, (d) => typeof d === "boolean"));
}

function isDictEntry(v: unknown): boolean {
  return isPlain(v) && hashes(v) && opt(v.type, isDepTypes);
}

function isDependencies(v: unknown): boolean {
  if (Array.isArray(v)) return isListOf(v, isEdge);
  if (!isPlain(v)) return false;
  for (const k in v) if (!isDictEntry(v[k])) return false;
  return true;
}

function isExternal(v: unknown): boolean {
  return isPlain(v) && nopt(v.path, isString) &&
    nopt(v.module, (m) => isString(m) || isStringList(m)) && opt(v.extra_attributes, isPlain);
}

/** The fields every node form shares (`nodeFields` of the schemas). */
function isNodeBody(v: unknown): v is Obj {
  if (!isPlain(v)) return false;
  if (!opt(v.version, isStringOrNumber) || !nopt(v.arch, isArch)) return false;
  if (!nopt(v.compiler, isCompiler) || !nopt(v.namespace, isString)) return false;
  if (!opt(v.parameters, isPlain) || !nopt(v.external, isExternal)) return false;
  if (!opt(v.package_hash, isString) || !hashes(v)) return false;
  if (!opt(v.dependencies, isDependencies)) return false;
  const a = v.annotations;
  if (
    a !== undefined &&
    !(isPlain(a) && opt(a.original_specfile_version, isNumber) && opt(a.compiler, isString))
  ) return false;
  return opt(v.build_spec, (b) => isPlain(b) && isString(b.name) && isString(b.hash));
}

/** True only if `NodeJson` accepts `v` (a node dict of formats 2 to 5). */
export function isNodeDict(v: unknown): boolean {
  return isNodeBody(v) && isString(v.name);
}

/** An entry of format 1's list: `{"<name>": {...}}`. */
function isV1Entry(m: unknown): boolean {
  if (!isPlain(m)) return false;
  for (const k in m) if (!isNodeBody(m[k])) return false;
  return true;
}

/** `SpecNodesJson` (formats 2 to 5) or `SpecListV1Json` (format 1). */
function isSpecValue(v: unknown): boolean {
  if (Array.isArray(v)) return v.length > 0 && isListOf(v, isV1Entry);
  if (!isPlain(v) || !opt(v._meta, (m) => isPlain(m) && isNumber(m.version))) return false;
  const nodes = v.nodes;
  return Array.isArray(nodes) && nodes.length > 0 && isListOf(nodes, isNodeDict);
}

/** True only if `SpecDocJson` accepts `doc` (`{"spec": ..., ...}`); false: ask the schema. */
export function isSpecDoc(doc: unknown): boolean {
  if (!isPlain(doc) || !isSpecValue(doc.spec)) return false;
  const c = doc.binary_cache_checksum;
  return opt(doc.buildcache_layout_version, isNumber) && opt(doc.archive_size, isNumber) &&
    opt(doc.buildinfo, isPlain) &&
    opt(c, (c) => isPlain(c) && isString(c.hash_algorithm) && isString(c.hash));
}
