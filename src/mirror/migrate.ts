/**
 * v2 to v3 migration as Spack's `spack buildcache migrate` does it
 * (`buildcache_migrate.py`): for every spec the v2 index lists as in the build cache (externals
 * excluded), the v2 tarball bytes become the tarball blob (checksum from the spec file,
 * verified while copying), the v2 spec document minus `binary_cache_checksum`, plus
 * `buildcache_layout_version: 2` and `archive_size`, becomes the spec blob, and the manifest is
 * written last (clear-signed with a Signer, else unsigned). Then the v3 index is the v2 index
 * with `in_buildcache` set from the outcome and nodes written as spec format 5, and with a
 * Signer its public key and the key index are published.
 *
 * Signatures of the source are verified (unless `unsigned`) and checksums always, before
 * anything is written for an entry. Entries already migrated (manifest and blobs present) are
 * left as they are, so a second run resumes. The source is never deleted.
 *
 * @module
 */
import { signatureWarning } from "../layout/_read.ts";
import { InvalidDataError, NotFoundError } from "../errors.ts";
import { gzipBytes } from "../core/gzip.ts";
import { manifestOf } from "../layout/manifest.ts";
import { MEDIA_TYPES } from "../layout/media_types.ts";
import { V2_INDEX } from "../layout/v2/paths.ts";
import { V2Reader } from "../layout/v2/reader.ts";
import { v3SpecManifestPath } from "../layout/v3/paths.ts";
import { descriptorOfBytes, V3Writer } from "../layout/v3/writer.ts";
import { pyJsonDumps, scalarText } from "../core/json.ts";
import { runPool } from "../core/pool.ts";
import type { Signer, Verifier } from "../sign/types.ts";
import type { ReadStore, Store } from "../storage/store.ts";

/** Options of `migrate`. */
export interface MigrateOptions {
  /** Verifies signed v2 spec files (required unless `unsigned`). */
  verifier?: Verifier;
  /** Re-signs the v3 manifests; unsigned when absent. */
  signer?: Signer;
  /** Do not require or check source signatures (Spack's `--unsigned`). */
  unsigned?: boolean;
  /** Check everything, write nothing. */
  dryRun?: boolean;
  /** Entries migrated at once (default 4). */
  jobs?: number;
  /** Take blobs already in `dst` as good by their size, without checking their digest. */
  trustDestination?: boolean;
  /** Called when a write waits for a prune running on `dst`. */
  onPruneWait?: (lease: { host: string; pid: number }) => void;
  signal?: AbortSignal;
  onProgress?: (r: MigratedSpec) => void;
}

/** The outcome for one spec. */
export interface MigratedSpec {
  name: string;
  version: string;
  hash: string;
  status: "migrated" | "present" | "would-migrate" | "left";
  /** Why an entry was left (legacy layout, bad signature, checksum mismatch, ...). */
  reason?: string;
  /** Why a migrated entry is not verified (unsigned, or signed by a key not trusted). */
  warning?: string;
  manifestPath?: string;
}

/** What a migration did. */
export interface MigrateResult {
  specs: MigratedSpec[];
  /** Checksum of the index written (absent on a dry run or when nothing migrated). */
  index?: string;
  keys?: string[];
}

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => !!v && typeof v === "object" && !Array.isArray(v);

/**
 * A node dict of an older spec format as Spack 1.x writes it back (format 5): the node
 * `compiler` moves to `annotations` (`{"original_specfile_version": N, "compiler":
 * "name@=version"}`), dependency parameters gain `"direct": true`, `hash` stays last.
 */
export function nodeToV5(node: Obj, originalVersion: number): Obj {
  if (originalVersion >= 5) return node;
  const out: Obj = {};
  const compiler = isObj(node.compiler) ? node.compiler : undefined;
  for (const [k, v] of Object.entries(node)) {
    if (k === "compiler" || k === "hash" || k === "annotations") continue;
    if (k === "dependencies" && Array.isArray(v)) {
      out[k] = v.map((d) =>
        isObj(d) && isObj(d.parameters)
          ? { ...d, parameters: { ...d.parameters, direct: true } }
          : d
      );
      continue;
    }
    out[k] = v;
  }
  const ann: Obj = isObj(node.annotations) ? { ...node.annotations } : {};
  ann.original_specfile_version ??= originalVersion;
  if (compiler && ann.compiler === undefined) {
    ann.compiler = `${compiler.name}@=${compiler.version}`;
  }
  out.annotations = ann;
  if (node.hash !== undefined) out.hash = node.hash;
  return out;
}

/** The spec-file format of the nodes of a database version ("8" -> 5, "7" -> 4, "6" -> 3). */
function specFormatOfDb(version: string): number {
  const v = Number(version);
  return Number.isFinite(v) ? Math.max(1, v - 3) : 5;
}

/**
 * The v3 index text from a v2 index document: the same records in the same order, nodes in
 * spec format 5, `in_buildcache` as `inCache` says for migrated specs, database version 8.
 */
export function migratedIndexText(v2Index: Obj, inCache: Map<string, boolean>): string {
  const db = isObj(v2Index.database) ? v2Index.database : undefined;
  const installs = db && isObj(db.installs) ? db.installs : undefined;
  if (!db || !installs) {
    throw new InvalidDataError(`Cannot read "${V2_INDEX}": it has no "database.installs"`);
  }
  const fmt = specFormatOfDb(scalarText(db.version, "8"));
  const out: Obj = {};
  for (const [hash, rec] of Object.entries(installs)) {
    if (!isObj(rec) || !isObj(rec.spec)) continue;
    out[hash] = {
      spec: nodeToV5(rec.spec, fmt),
      ref_count: rec.ref_count ?? 0,
      in_buildcache: inCache.has(hash) ? inCache.get(hash) : rec.in_buildcache ?? false,
    };
  }
  return pyJsonDumps({ database: { version: "8", installs: out } });
}

/** Migrates the v2 part of `src` to the v3 layout in `dst` (which may be the same mirror). */
export async function migrate(
  src: ReadStore,
  dst: Store,
  opts: MigrateOptions = {},
): Promise<MigrateResult> {
  const signal = opts.signal;
  const reader = new V2Reader(src, { verifier: opts.verifier });
  let said = false;
  const writer = new V3Writer(dst, {
    trustDestination: opts.trustDestination,
    onPruneWait: (l) => {
      if (!said) opts.onPruneWait?.(l);
      said = true;
    },
  });
  let indexDoc: Obj;
  try {
    const body = await src.read(V2_INDEX, { signal });
    indexDoc = JSON.parse(await new Response(body).text());
  } catch (e) {
    if (e instanceof NotFoundError) {
      throw new NotFoundError(
        `Cannot migrate "${src.url.href}": it has no v2 index ("${V2_INDEX}"), which migration needs`,
      );
    }
    if (e instanceof SyntaxError) {
      throw new InvalidDataError(`Cannot parse "${V2_INDEX}": ${e.message}`, { cause: e });
    }
    throw e;
  }
  const installs = (isObj(indexDoc.database) && isObj(indexDoc.database.installs))
    ? indexDoc.database.installs
    : undefined;
  if (!installs) throw new InvalidDataError(`Cannot read "${V2_INDEX}": no "database.installs"`);
  const todo: { hash: string; name: string; version: string }[] = [];
  for (const [hash, rec] of Object.entries(installs)) {
    if (!isObj(rec) || !isObj(rec.spec) || !rec.in_buildcache || rec.spec.external) continue;
    todo.push({ hash, name: scalarText(rec.spec.name), version: scalarText(rec.spec.version) });
  }

  const results: MigratedSpec[] = new Array(todo.length);
  const one = async (t: typeof todo[number]): Promise<MigratedSpec> => {
    const r: MigratedSpec = { ...t, status: "left" };
    r.manifestPath = v3SpecManifestPath(t.name, t.version, t.hash);
    if (await writer.complete(t.name, t.version, t.hash, signal)) {
      r.status = "present";
      return r;
    }
    let entry;
    try {
      entry = await reader.entry(t.hash, { signal, requireSignature: !opts.unsigned });
    } catch (e) {
      r.reason = (e as Error).message;
      return r;
    }
    if (entry.legacy) {
      r.reason = entry.legacy;
      return r;
    }
    r.warning = signatureWarning(entry);
    // Verify the tarball completely before writing anything for this entry.
    try {
      const body = await entry.openTarball({ signal });
      const reader2 = body.getReader();
      while (!(await reader2.read()).done) { /* checksum checked at the end */ }
    } catch (e) {
      r.reason = (e as Error).message;
      return r;
    }
    if (opts.dryRun) {
      r.status = "would-migrate";
      return r;
    }
    const doc: Obj = {};
    for (const [k, v] of Object.entries(entry.spec.raw)) {
      if (k !== "binary_cache_checksum") doc[k] = v;
    }
    doc.buildcache_layout_version = 2;
    doc.archive_size = entry.tarball.size;
    const specGz = gzipBytes(pyJsonDumps(doc));
    const specD = descriptorOfBytes(specGz, MEDIA_TYPES.spec, "gzip");
    await writer.writeBlob(entry.tarball, () => entry.openTarball({ signal }), signal);
    await writer.writeBlob(specD, specGz, signal);
    await writer.writeManifest(
      r.manifestPath,
      manifestOf([entry.tarball, specD]),
      opts.signer,
      signal,
    );
    await writer.settle([
      { d: entry.tarball, body: () => entry.openTarball({ signal }) },
      { d: specD, body: specGz },
    ], signal);
    r.status = "migrated";
    return r;
  };
  const worker = async (_: unknown, i: number) => {
    let r: MigratedSpec;
    try {
      r = await one(todo[i]);
    } catch (e) {
      if (signal?.aborted) throw e;
      r = { ...todo[i], status: "left", reason: (e as Error).message };
    }
    results[i] = r;
    opts.onProgress?.(r);
  };
  const jobs = Math.max(1, Math.min(opts.jobs ?? 4, todo.length || 1));
  await runPool(todo, jobs, worker);

  const res: MigrateResult = { specs: results };
  const ok = results.filter((r) => r.status === "migrated" || r.status === "present");
  if (opts.dryRun || ok.length === 0) return res;
  await writer.ensureLayoutJson(signal);
  const inCache = new Map(results.map((r) => [r.hash, r.status !== "left"]));
  const index = await writer.writeIndex(migratedIndexText(indexDoc, inCache), { signal });
  res.index = index.checksum;
  if (opts.signer) {
    await writer.publishKey(opts.signer.fingerprint, opts.signer.publicKeyArmored, signal);
    res.keys = await writer.writeKeyIndex(signal);
  }
  return res;
}
