/**
 * `verify`: an fsck for a build cache. Every manifest (v3) and spec file (v2) parses; every
 * blob it names exists with the right size and sha256; signatures verify against a keyring
 * (or are reported unsigned); the index agrees with the metadata; blobs nothing names are
 * reported as orphans; the v2 and v3 parts of a migrated mirror agree.
 *
 * Findings have a kind; the kinds of the errors found make the exit flags (`VERIFY_FLAGS`),
 * as `nix store verify` does.
 *
 * @module
 */
import { SpackleError } from "../errors.ts";
import { runPool } from "../core/pool.ts";
import { digestFile, digestStream, sha256Hex } from "../core/digest.ts";
import { gunzipBytes, isGzip } from "../core/gzip.ts";
import { collect, collectText } from "../core/streams.ts";
import { findTemporaries } from "../core/pid.ts";
import { parseIndexDb } from "../index/db.ts";
import { isClearsigned } from "../layout/signed_metadata.ts";
import { splitClearsigned } from "../sign/clearsign.ts";
import { parseManifest as parseLayoutManifest } from "../layout/manifest.ts";
import { v2Stem, v2TarballPath } from "../layout/v2/paths.ts";
import { V3_SPEC_MANIFEST_SUFFIX, v3BlobPath, v3SpecManifestPath } from "../layout/v3/paths.ts";
import { MEDIA_TYPES } from "../layout/media_types.ts";
import type { ReadStore } from "../storage/store.ts";
import { isRegistryStore } from "../storage/registry/store.ts";

export {
  type Finding,
  type FindingKind,
  VERIFY_FLAGS,
  type VerifyOptions,
  type VerifyReport,
} from "./verify_report.ts";
import {
  type Finding,
  type FindingKind,
  VERIFY_FLAGS,
  type VerifyOptions,
  type VerifyReport,
} from "./verify_report.ts";

const SPEC_MANIFEST = V3_SPEC_MANIFEST_SUFFIX;
const TARBALL_TYPE = MEDIA_TYPES.tarball;

/** The payload of a clear-signed document (Spack's rule), or undefined when malformed. */
export function clearsignedBody(text: string): string | undefined {
  if (!isClearsigned(text)) return undefined;
  try {
    return splitClearsigned(text).body;
  } catch {
    return undefined;
  }
}

interface Record3 {
  contentLength: number;
  mediaType: string;
  compression: string;
  checksumAlgorithm: string;
  checksum: string;
}

/**
 * The records of manifest text (the layout's parser), each also required to be a sha256
 * checksum of 64 lowercase hex digits (what a blob path is made of).
 */
function parseManifest(text: string, label: string): Record3[] {
  return parseLayoutManifest(text, label).data.map((r, i) => {
    if (r.checksumAlgorithm !== "sha256") {
      throw new Error(`record ${i}: checksum algorithm "${r.checksumAlgorithm}" is not sha256`);
    }
    if (!/^[0-9a-f]{64}$/.test(r.checksum)) {
      throw new Error(`record ${i}: checksum "${r.checksum}" is not 64 lowercase hex digits`);
    }
    return r;
  });
}

/** The blob path of a record (its checksum is already checked to be sha256 hex). */
function blobPath(r: { checksumAlgorithm: string; checksum: string }): string {
  return v3BlobPath(r.checksum, r.checksumAlgorithm);
}

interface IndexEntry {
  hash: string;
  name: string;
  version: string;
  inBuildcache: boolean;
  external: boolean;
  /** `name@version` of the naming compiler, when there is one. */
  compiler?: string;
  spec: Record<string, unknown>;
}

/** The entries of index text (`parseIndexDb`: database versions 6 to 8, as Spack reads). */
function parseIndex(text: string, label: string): IndexEntry[] {
  const db = parseIndexDb(text, label);
  return db.records.map((r) => ({
    hash: r.hash,
    name: r.name,
    version: r.version,
    inBuildcache: r.inBuildcache,
    external: r.external,
    compiler: r.compiler,
    spec: db.raw(r.hash)!.spec as Record<string, unknown>,
  }));
}

/**
 * The v2 file names of an index entry (FORMAT.md 2.2): the spec file stem and the tarball
 * path, or undefined when the entry lacks what the names are made of.
 */
function v2Names(e: IndexEntry): { stem: string; tarball: string } | undefined {
  const arch = e.spec.arch as
    | { platform?: string; platform_os?: string; target?: string | { name?: string } }
    | undefined;
  const target = typeof arch?.target === "string" ? arch.target : arch?.target?.name;
  if (!arch?.platform || !arch.platform_os || !target) return undefined;
  const archText = `${arch.platform}-${arch.platform_os}-${target}`;
  // The naming compiler as the index reader finds it: the node's own (formats <= 4, or the
  // annotation of converted nodes), else its c, cxx or fortran provider.
  const at = e.compiler?.indexOf("@") ?? -1;
  const compiler = e.compiler && at > 0
    ? { name: e.compiler.slice(0, at), version: e.compiler.slice(at + 1) }
    : undefined;
  const names = {
    arch: archText,
    compilerName: compiler?.name ?? "none",
    compilerVersion: compiler?.version ?? "none",
    name: e.name,
    version: e.version,
    hash: e.hash,
  };
  return { stem: v2Stem(names), tarball: v2TarballPath(names) };
}

/** The hashes of the nodes of a spec document (formats 1 to 5). */
function specHashes(doc: unknown): string[] {
  const spec = (doc as { spec?: unknown })?.spec;
  const nodes = (spec as { nodes?: unknown })?.nodes ?? spec;
  if (!Array.isArray(nodes)) return [];
  const out: string[] = [];
  for (const n of nodes) {
    if (n && typeof n === "object") {
      const h = (n as { hash?: unknown }).hash;
      if (typeof h === "string") out.push(h);
      else {
        // Format 1 (YAML-era JSON): [{name: {hash: ...}}]
        for (const v of Object.values(n)) {
          const hh = (v as { hash?: unknown })?.hash;
          if (typeof hh === "string") out.push(hh);
        }
      }
    }
  }
  return out;
}

function readErrorKind(e: unknown): FindingKind {
  if (e instanceof SpackleError) {
    if (e.code === "not_found" || e.code === "integrity") return "corrupt";
    if (e.code === "signature") return "untrusted";
    if (e.code === "transport" || e.code === "invalid_data") return "unreachable";
  }
  if (e instanceof Error && e.name === "AbortError") throw e;
  return "unreachable";
}

/**
 * Checks a whole mirror (or a sample of it) and reports every problem found.
 *
 * @example Check a whole mirror
 * ```ts
 * import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * import {
 *   openStore,
 *   prefixSource,
 *   pushSpecs,
 *   specsToPush,
 *   type Store,
 *   updateIndex,
 *   V3Writer,
 *   verifyMirror,
 * } from "@spackle/spackle";
 *
 * // A build cache with one package, pushed from an installed prefix (files + .spack/spec.json).
 * const dir = mkdtempSync(join(tmpdir(), "spackle-example-"));
 * const hash = "a".repeat(32);
 * const prefix = join(dir, "tree", "linux-x86_64", `hello-1.0-${hash}`);
 * mkdirSync(join(prefix, ".spack"), { recursive: true });
 * writeFileSync(join(prefix, "hello.txt"), `hello from ${prefix}\n`);
 * const arch = { platform: "linux", platform_os: "debian12", target: "x86_64" };
 * const node = { name: "hello", version: "1.0", arch, hash };
 * const spec = { spec: { _meta: { version: 5 }, nodes: [node] } };
 * writeFileSync(join(prefix, ".spack", "spec.json"), JSON.stringify(spec));
 * const installed = prefixSource([prefix]);
 * const writer = new V3Writer(await openStore(join(dir, "mirror"), { writable: true }) as Store);
 * await pushSpecs(specsToPush(installed.roots, installed).items, installed, writer);
 * await updateIndex(writer);
 *
 * const report = await verifyMirror(await openStore(join(dir, "mirror")));
 * // Findings name each problem; flags is 0 when the mirror is sound.
 * if (report.flags !== 0) throw new Error(JSON.stringify(report.findings));
 * console.log(`${report.checked.entries} entries, ${report.checked.blobs} blobs checked`);
 * rmSync(dir, { recursive: true, force: true });
 * ```
 */
export async function verifyMirror(
  store: ReadStore,
  opts: VerifyOptions = {},
): Promise<VerifyReport> {
  if (isRegistryStore(store)) {
    const { verifyOciMirror } = await import("./oci_verify.ts");
    return await verifyOciMirror(store, opts);
  }
  const jobs = opts.jobs ?? 4;
  const signal = opts.signal;
  const findings: Finding[] = [];
  const checked = {
    entries: 0,
    blobs: 0,
    bytes: 0,
    signaturesVerified: 0,
    signedUnchecked: 0,
    unsigned: 0,
  };
  const add = (f: Finding) => findings.push(f);
  const local = store.localPath ? store as Required<Pick<ReadStore, "localPath">> : undefined;

  // ---- blobs, each checked once -------------------------------------------------------------
  type BlobResult = { ok: boolean; bytes?: Uint8Array };
  const blobChecks = new Map<string, Promise<BlobResult>>();
  const referenced = new Set<string>();

  /** Digest (and size) of a stored object; keeps the bytes when `keep` (small objects). */
  async function digestOf(
    path: string,
    keep: boolean,
  ): Promise<{ hex: string; size: number; bytes?: Uint8Array }> {
    signal?.throwIfAborted();
    if (local && !keep) {
      const p = local.localPath(path);
      const st = await store.stat(path, { signal });
      if (!st) throw new NotFound(path);
      const r = await digestFile(p);
      return { hex: r.digest.hex, size: r.size };
    }
    const body = await store.read(path, { signal });
    if (keep) {
      const bytes = await collect(body);
      return { hex: sha256Hex(bytes), size: bytes.byteLength, bytes };
    }
    const { stream, result } = digestStream();
    for await (const _ of body.pipeThrough(stream)) { /* hashing */ }
    const r = await result;
    return { hex: r.digest.hex, size: r.size };
  }

  function checkBlob(
    r: { checksum: string; checksumAlgorithm: string; contentLength?: number },
    ctx: { spec?: string; layout: 2 | 3; what: string; path?: string; keep?: boolean },
  ): Promise<BlobResult> {
    const path = ctx.path ?? blobPath(r);
    referenced.add(path);
    const key = `${path}\0${r.checksum}\0${r.contentLength ?? ""}`;
    let p = blobChecks.get(key);
    if (!p) {
      p = (async (): Promise<BlobResult> => {
        let d: { hex: string; size: number; bytes?: Uint8Array };
        try {
          d = await digestOf(path, !!ctx.keep);
        } catch (e) {
          if (e instanceof NotFound || (e instanceof SpackleError && e.code === "not_found")) {
            add({
              kind: "corrupt",
              code: "blob_missing",
              path,
              spec: ctx.spec,
              layout: ctx.layout,
              message: `The ${ctx.what} "${path}" is missing`,
            });
          } else {
            add({
              kind: readErrorKind(e),
              code: "read_failed",
              path,
              spec: ctx.spec,
              layout: ctx.layout,
              message: `Cannot read the ${ctx.what} "${path}": ${(e as Error).message}`,
            });
          }
          return { ok: false };
        }
        checked.blobs++;
        checked.bytes += d.size;
        if (d.hex !== r.checksum) {
          const sizeNote = r.contentLength !== undefined && d.size !== r.contentLength
            ? `, and it is ${d.size} bytes where ${r.contentLength} are declared`
            : "";
          add({
            kind: "corrupt",
            code: r.contentLength !== undefined && d.size < r.contentLength
              ? "blob_truncated"
              : "digest_mismatch",
            path,
            spec: ctx.spec,
            layout: ctx.layout,
            message: `The ${ctx.what} "${path}" has sha256 "${d.hex}", expected "${r.checksum}"` +
              sizeNote,
          });
          return { ok: false };
        }
        if (r.contentLength !== undefined && d.size !== r.contentLength) {
          add({
            kind: "corrupt",
            code: "size_mismatch",
            path,
            spec: ctx.spec,
            layout: ctx.layout,
            message:
              `The manifest declares ${r.contentLength} bytes for the ${ctx.what} "${path}", ` +
              `but it has ${d.size} (its sha256 matches)`,
          });
          return { ok: false, bytes: d.bytes };
        }
        return { ok: true, bytes: d.bytes };
      })();
      blobChecks.set(key, p);
    }
    return p;
  }

  /** Reads metadata text; a finding (and undefined) when it cannot be read. */
  async function readText(
    path: string,
    layout: 2 | 3,
    spec?: string,
    fromIndex = false,
  ): Promise<string | undefined> {
    try {
      return await collectText(await store.read(path, { signal }));
    } catch (e) {
      const missing = e instanceof SpackleError && e.code === "not_found";
      if (missing && fromIndex) {
        add({
          kind: "inconsistent",
          code: "index_entry_without_metadata",
          path,
          spec,
          layout,
          message: `The v${layout} index lists "${spec}" but "${path}" does not exist`,
        });
        return undefined;
      }
      add({
        kind: missing ? "corrupt" : readErrorKind(e),
        code: missing ? "metadata_missing" : "read_failed",
        path,
        spec,
        layout,
        message: `Cannot read "${path}": ${(e as Error).message}`,
      });
      return undefined;
    }
  }

  /** Checks the signature of metadata; returns the payload, or undefined when refused. */
  async function payloadOf(
    text: string,
    path: string,
    layout: 2 | 3,
    spec: string,
    mayBeSigned: boolean,
  ): Promise<string | undefined> {
    const signed = isClearsigned(text);
    if (!signed) {
      checked.unsigned++;
      if (opts.requireSignatures) {
        add({
          kind: "untrusted",
          code: "unsigned",
          path,
          spec,
          layout,
          message: `"${spec}" is not signed ("${path}")`,
        });
      }
      return text;
    }
    if (!mayBeSigned) return clearsignedBody(text);
    if (!opts.verifier) {
      checked.signedUnchecked++;
      const body = clearsignedBody(text);
      if (body === undefined) {
        add({
          kind: "corrupt",
          code: "signature_malformed",
          path,
          spec,
          layout,
          message: `"${path}" starts as a clear-signed document but has no signature block`,
        });
      }
      return body;
    }
    try {
      const { body } = await opts.verifier.verify(text, spec);
      checked.signaturesVerified++;
      return body;
    } catch (e) {
      if (!(e instanceof SpackleError)) throw e;
      add({
        kind: "untrusted",
        code: "bad_signature",
        path,
        spec,
        layout,
        message: e.message.includes(spec)
          ? e.message
          : `The signature of "${spec}" does not verify: ${e.message}`,
      });
      // The entry is still checked (its blobs may be fine), from the unverified payload.
      return clearsignedBody(text);
    }
  }

  // ---- detect ----------------------------------------------------------------------------------
  const canList = typeof store.list === "function";
  const listAll = async (prefix: string): Promise<string[]> => {
    const out: string[] = [];
    for await (const p of store.list!(prefix, { signal })) out.push(p);
    return out;
  };
  let detectFailed = false;
  const safeStat = async (path: string) => {
    try {
      return await store.stat(path, { signal });
    } catch (e) {
      detectFailed = true;
      add({
        kind: readErrorKind(e),
        code: "read_failed",
        path,
        message: `Cannot stat "${path}": ${(e as Error).message}`,
      });
      return undefined;
    }
  };

  const v3Listing = canList ? await listAll("v3/") : undefined;
  const v2Listing = canList ? await listAll("build_cache/") : undefined;
  const hasV3 = v3Listing ? v3Listing.length > 0 : !!(await safeStat("v3/layout.json"));
  const hasV2 = v2Listing ? v2Listing.length > 0 : !!(await safeStat("build_cache/index.json"));
  const layouts: (2 | 3)[] = [];
  if (hasV3) layouts.push(3);
  if (hasV2) layouts.push(2);
  if (!layouts.length && !detectFailed) {
    add({
      kind: "corrupt",
      code: "no_build_cache",
      path: "",
      message: canList
        ? `No build cache at ${store.url.href}: neither "v3/layout.json" nor "build_cache/" exists`
        : `No build cache at ${store.url.href}: neither "v3/layout.json" nor ` +
          `"build_cache/index.json" exists (a store that cannot list is found by these)`,
    });
  }

  // ---- gather work -----------------------------------------------------------------------------
  type Task = {
    layout: 2 | 3;
    path: string;
    hash: string;
    label: string;
    /** Found through the index (not by listing): a missing file means a stale index. */
    fromIndex?: boolean;
    /** v2: the unsigned spec file to read when the signed one is absent. */
    alt?: string;
    /** v2: the tarball path, when known without listing. */
    tarball?: string;
  };
  const v3Tasks: Task[] = [];
  const v2Tasks: Task[] = [];
  let v3Index: IndexEntry[] | undefined;
  let v2Index: IndexEntry[] | undefined;

  if (hasV3) {
    if (!v3Listing || v3Listing.includes("v3/layout.json")) {
      const lj = await readText("v3/layout.json", 3);
      if (lj !== undefined) {
        try {
          JSON.parse(lj);
        } catch (e) {
          add({
            kind: "corrupt",
            code: "metadata_invalid",
            path: "v3/layout.json",
            layout: 3,
            message: `"v3/layout.json" is not JSON: ${(e as Error).message}`,
          });
        }
      }
    } else {
      add({
        kind: "corrupt",
        code: "metadata_missing",
        path: "v3/layout.json",
        layout: 3,
        message: `"v3/layout.json" is missing (Spack does not recognise the mirror without it)`,
      });
    }
    v3Index = await readIndexV3();
    let manifests: string[];
    if (v3Listing) {
      manifests = v3Listing.filter((p) =>
        p.startsWith("v3/manifests/spec/") && p.endsWith(SPEC_MANIFEST)
      );
    } else {
      manifests = (v3Index ?? []).filter((e) => e.inBuildcache && !e.external).map((e) =>
        v3SpecManifestPath(e.name, e.version, e.hash)
      );
      if (!v3Index) {
        add({
          kind: "notice",
          code: "cannot_enumerate",
          path: "v3/manifests/spec/",
          layout: 3,
          message: "The store cannot list and has no index: no v3 entry could be found to check",
        });
      }
    }
    for (const path of manifests) {
      const base = path.split("/").pop()!.slice(0, -SPEC_MANIFEST.length);
      const hash = base.slice(-32);
      const name = path.split("/")[3];
      const version = base.slice(name.length + 1, -33);
      v3Tasks.push({
        layout: 3,
        path,
        hash,
        label: `${name}@${version}/${hash}`,
        fromIndex: !v3Listing,
      });
    }
  }

  const v2Spack = new Map<string, string>(); // stem -> .spack path
  const v2LegacyStems = new Set<string>();
  if (hasV2) {
    v2Index = await readIndexV2();
    if (v2Listing) {
      const stems = new Map<string, string>();
      for (const p of v2Listing) {
        const rest = p.slice("build_cache/".length);
        if (rest.endsWith(".spack")) v2Spack.set(rest.split("/").pop()!.slice(0, -6), p);
        if (rest.includes("/")) continue;
        if (rest.endsWith(".spec.yaml")) {
          v2LegacyStems.add(rest.slice(0, -".spec.yaml".length));
          add({
            kind: "notice",
            code: "legacy_metadata",
            path: p,
            layout: 2,
            message:
              `"${p}" is a .spec.yaml file (Spack 0.16 and older), which Spack no longer reads`,
          });
        }
        const m = /^(.*)\.spec\.json(\.sig)?$/.exec(rest);
        if (!m) continue;
        // Spack prefers the signed file when both exist.
        if (!stems.has(m[1]) || m[2]) stems.set(m[1], p);
      }
      for (const [stem, path] of stems) {
        const hash = stem.slice(-32);
        v2Tasks.push({ layout: 2, path, hash, label: `${stem.slice(0, -33)}/${hash}` });
      }
    } else {
      let unnamed = 0;
      for (const e of v2Index ?? []) {
        if (!e.inBuildcache || e.external) continue;
        const names = v2Names(e);
        if (!names) {
          unnamed++;
          continue;
        }
        v2Tasks.push({
          layout: 2,
          path: `build_cache/${names.stem}.spec.json.sig`,
          alt: `build_cache/${names.stem}.spec.json`,
          tarball: names.tarball,
          hash: e.hash,
          label: `${e.name}@${e.version}/${e.hash}`,
          fromIndex: true,
        });
      }
      if (!v2Index || unnamed) {
        add({
          kind: "notice",
          code: "cannot_enumerate",
          path: "build_cache/",
          layout: 2,
          message: v2Index
            ? `The store cannot list, and ${unnamed} index entries lack what their file names are made of: they were not checked`
            : "The store cannot list and has no v2 index: no v2 entry could be found to check",
        });
      }
    }
  }

  let tasks = [...v3Tasks, ...v2Tasks];
  const sampled = opts.sample !== undefined && opts.sample < tasks.length;
  if (sampled) {
    const rnd = opts.random ?? Math.random;
    for (let i = tasks.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [tasks[i], tasks[j]] = [tasks[j], tasks[i]];
    }
    tasks = tasks.slice(0, opts.sample);
  }
  const picked = new Set(tasks);

  // ---- check entries ---------------------------------------------------------------------------
  const v3Tarballs = new Map<string, string>(); // hash -> tarball checksum
  const v2Tarballs = new Map<string, string>();
  let done = 0;
  await runPool(tasks, jobs, async (t) => {
    signal?.throwIfAborted();
    if (t.layout === 3) await checkV3Entry(t);
    else await checkV2Entry(t);
    checked.entries++;
    opts.onProgress?.({ done: ++done, total: tasks.length, bytes: checked.bytes });
  });

  async function checkV3Entry(t: Task): Promise<void> {
    const text = await readText(t.path, 3, t.label, t.fromIndex);
    if (text === undefined) return;
    const body = await payloadOf(text, t.path, 3, t.label, true);
    if (body === undefined) return;
    let records: Record3[];
    try {
      records = parseManifest(body, `"${t.path}"`);
    } catch (e) {
      add({
        kind: "corrupt",
        code: "manifest_invalid",
        path: t.path,
        spec: t.label,
        layout: 3,
        message: `The manifest of "${t.label}" is invalid: ${(e as Error).message}`,
      });
      return;
    }
    const tarball = records.find((r) => r.mediaType === TARBALL_TYPE);
    const specRec = records.find((r) =>
      /^application\/vnd\.spack\.spec\.v\d+\+json$/.test(r.mediaType)
    );
    for (const [rec, what] of [[tarball, "tarball"], [specRec, "spec"]] as const) {
      if (!rec) {
        add({
          kind: "corrupt",
          code: "record_missing",
          path: t.path,
          spec: t.label,
          layout: 3,
          message: `The manifest of "${t.label}" has no ${what} record`,
        });
      }
    }
    if (tarball) v3Tarballs.set(t.hash, tarball.checksum);
    await Promise.all(records.map(async (r) => {
      const isSpec = r === specRec;
      const res = await checkBlob(r, {
        spec: t.label,
        layout: 3,
        what: isSpec ? "spec blob" : r === tarball ? "tarball blob" : "blob",
        keep: isSpec,
      });
      if (isSpec && res.bytes) checkSpecDoc(res.bytes, t, blobPath(r));
    }));
  }

  function checkSpecDoc(bytes: Uint8Array, t: Task, path: string): void {
    let hashes: string[];
    try {
      const text = new TextDecoder().decode(isGzip(bytes) ? gunzipBytes(bytes, path) : bytes);
      const json = JSON.parse(isClearsigned(text) ? clearsignedBody(text) ?? "" : text);
      hashes = specHashes(json);
    } catch (e) {
      add({
        kind: "corrupt",
        code: "spec_invalid",
        path,
        spec: t.label,
        layout: t.layout,
        message: `The spec of "${t.label}" does not parse: ${(e as Error).message}`,
      });
      return;
    }
    if (!hashes.includes(t.hash)) {
      add({
        kind: "corrupt",
        code: "spec_hash_mismatch",
        path,
        spec: t.label,
        layout: t.layout,
        message: `The spec stored for "${t.label}" does not contain a node with hash "${t.hash}"` +
          (hashes.length ? ` (its root is "${hashes[0]}")` : ""),
      });
    }
  }

  async function checkV2Entry(t: Task): Promise<void> {
    if (t.alt) {
      // Signed file first, as Spack does; the unsigned one when there is no signed one.
      let signed;
      try {
        signed = await store.stat(t.path, { signal });
      } catch (e) {
        add({
          kind: readErrorKind(e),
          code: "read_failed",
          path: t.path,
          spec: t.label,
          layout: 2,
          message: `Cannot stat "${t.path}": ${(e as Error).message}`,
        });
        return;
      }
      if (!signed) t = { ...t, path: t.alt, alt: undefined };
    }
    const text = await readText(t.path, 2, t.label, t.fromIndex);
    if (text === undefined) return;
    const body = await payloadOf(text, t.path, 2, t.label, t.path.endsWith(".sig"));
    if (body === undefined) return;
    let doc: { binary_cache_checksum?: { hash_algorithm?: unknown; hash?: unknown } };
    try {
      doc = JSON.parse(body);
    } catch (e) {
      add({
        kind: "corrupt",
        code: "metadata_invalid",
        path: t.path,
        spec: t.label,
        layout: 2,
        message: `The spec file of "${t.label}" is not JSON: ${(e as Error).message}`,
      });
      return;
    }
    checkSpecDoc(new TextEncoder().encode(body), t, t.path);
    const sum = doc.binary_cache_checksum;
    if (sum?.hash_algorithm !== "sha256" || typeof sum.hash !== "string") {
      add({
        kind: "corrupt",
        code: "checksum_missing",
        path: t.path,
        spec: t.label,
        layout: 2,
        message: `The spec file of "${t.label}" has no sha256 "binary_cache_checksum"`,
      });
      return;
    }
    v2Tarballs.set(t.hash, sum.hash);
    const stem = t.path.slice("build_cache/".length).replace(/\.spec\.json(\.sig)?$/, "");
    const tarPath = t.tarball ?? v2Spack.get(stem);
    if (!tarPath) {
      add({
        kind: "corrupt",
        code: "blob_missing",
        path: `build_cache/.../${stem}.spack`,
        spec: t.label,
        layout: 2,
        message: `The tarball "${stem}.spack" of "${t.label}" is missing`,
      });
      return;
    }
    await checkBlob({ checksum: sum.hash, checksumAlgorithm: "sha256" }, {
      spec: t.label,
      layout: 2,
      what: "tarball",
      path: tarPath,
    });
  }

  async function readIndexV3(): Promise<IndexEntry[] | undefined> {
    const mpath = "v3/manifests/index/index.manifest.json";
    if (v3Listing && !v3Listing.includes(mpath)) {
      add({
        kind: "notice",
        code: "no_index",
        path: mpath,
        layout: 3,
        message: "The v3 part has no index (spackle and Spack fall back to listing manifests)",
      });
      return undefined;
    }
    const text = await readText(mpath, 3);
    if (text === undefined) return undefined;
    let rec: Record3 | undefined;
    try {
      const body = isClearsigned(text) ? clearsignedBody(text) ?? "" : text;
      rec = parseManifest(body, `"${mpath}"`).find((r) =>
        /^application\/vnd\.spack\.db\.v\d+\+json$/.test(r.mediaType)
      );
      if (!rec) throw new Error("no index record");
    } catch (e) {
      add({
        kind: "corrupt",
        code: "manifest_invalid",
        path: mpath,
        layout: 3,
        message: `The index manifest is invalid: ${(e as Error).message}`,
      });
      return undefined;
    }
    const res = await checkBlob(rec, { layout: 3, what: "index blob", keep: true });
    if (!res.bytes) return undefined;
    try {
      return parseIndex(new TextDecoder().decode(res.bytes), `"${blobPath(rec)}"`);
    } catch (e) {
      add({
        kind: "corrupt",
        code: "index_invalid",
        path: blobPath(rec),
        layout: 3,
        message: `The v3 index does not parse: ${(e as Error).message}`,
      });
      return undefined;
    }
  }

  async function readIndexV2(): Promise<IndexEntry[] | undefined> {
    const path = "build_cache/index.json";
    if (v2Listing && !v2Listing.includes(path)) {
      add({
        kind: "notice",
        code: "no_index",
        path,
        layout: 2,
        message: "The v2 part has no index.json",
      });
      return undefined;
    }
    let bytes: Uint8Array;
    try {
      bytes = await collect(await store.read(path, { signal }));
    } catch (e) {
      add({
        kind: readErrorKind(e),
        code: "read_failed",
        path,
        layout: 2,
        message: `Cannot read "${path}": ${(e as Error).message}`,
      });
      return undefined;
    }
    referenced.add(path);
    const hashPath = "build_cache/index.json.hash";
    if (!v2Listing || v2Listing.includes(hashPath)) {
      const h = await readText(hashPath, 2);
      const want = h?.slice(0, 64);
      if (want !== undefined && want !== sha256Hex(bytes)) {
        add({
          kind: "inconsistent",
          code: "index_hash_mismatch",
          path: hashPath,
          layout: 2,
          message: `"${hashPath}" says "${want}" but index.json has sha256 "${sha256Hex(bytes)}"`,
        });
      }
    }
    try {
      return parseIndex(new TextDecoder().decode(bytes), `"${path}"`);
    } catch (e) {
      add({
        kind: "corrupt",
        code: "index_invalid",
        path,
        layout: 2,
        message: `The v2 index does not parse: ${(e as Error).message}`,
      });
      return undefined;
    }
  }

  // ---- index against metadata ------------------------------------------------------------------
  function compareIndex(layout: 2 | 3, index: IndexEntry[] | undefined, all: Task[]): void {
    if (!index) return;
    const inIndex = new Map(
      index.filter((e) => e.inBuildcache && !e.external).map((e) => [e.hash, e]),
    );
    const present = new Set(all.map((t) => t.hash));
    const enumerated = layout === 3 ? !!v3Listing : !!v2Listing;
    if (enumerated && !sampled) {
      for (const [hash, e] of inIndex) {
        if (!present.has(hash)) {
          add({
            kind: "inconsistent",
            code: "index_entry_without_metadata",
            path: layout === 3
              ? "v3/manifests/index/index.manifest.json"
              : "build_cache/index.json",
            spec: `${e.name}@${e.version}/${hash}`,
            layout,
            message: `The v${layout} index lists "${e.name}@${e.version}/${hash}" but the mirror ` +
              `has no ${layout === 3 ? "manifest" : "spec file"} for it`,
          });
        }
      }
    }
    for (const t of all) {
      if (sampled && !picked.has(t)) continue;
      if (!inIndex.has(t.hash)) {
        add({
          kind: "inconsistent",
          code: "missing_from_index",
          path: t.path,
          spec: t.label,
          layout,
          message:
            `"${t.label}" is in the mirror but not in its v${layout} index (the index is stale)`,
        });
      }
    }
  }
  compareIndex(3, v3Index, v3Tasks);
  compareIndex(2, v2Index, v2Tasks);

  // ---- v2 against v3 ---------------------------------------------------------------------------
  if (hasV2 && hasV3) {
    for (const [hash, sum] of v2Tarballs) {
      const v3 = v3Tarballs.get(hash);
      const t = v2Tasks.find((x) => x.hash === hash)!;
      if (v3 === undefined) {
        if (!sampled && v3Listing) {
          add({
            kind: "inconsistent",
            code: "missing_from_v3",
            path: t.path,
            spec: t.label,
            layout: 2,
            message: `"${t.label}" is in the v2 part but not in the v3 part (migrate again)`,
          });
        }
      } else if (v3 !== sum) {
        add({
          kind: "inconsistent",
          code: "layouts_disagree",
          path: t.path,
          spec: t.label,
          layout: 2,
          message: `The v2 and v3 tarballs of "${t.label}" differ: v2 sha256 "${sum}", v3 "${v3}"`,
        });
      }
    }
  }

  // ---- keys and orphans ------------------------------------------------------------------------
  if (hasV3 && v3Listing && !sampled) {
    const keyManifests = v3Listing.filter((p) => p.startsWith("v3/manifests/key/"));
    const indexViews = v3Listing.filter((p) =>
      p.startsWith("v3/manifests/index/") && p.endsWith("index.manifest.json") &&
      p !== "v3/manifests/index/index.manifest.json"
    );
    await runPool([...keyManifests, ...indexViews], jobs, async (path) => {
      const text = await readText(path, 3);
      if (text === undefined) return;
      try {
        const body = isClearsigned(text) ? clearsignedBody(text) ?? "" : text;
        for (const r of parseManifest(body, `"${path}"`)) {
          await checkBlob(r, { layout: 3, what: "blob" });
        }
      } catch (e) {
        add({
          kind: "corrupt",
          code: "manifest_invalid",
          path,
          layout: 3,
          message: `The manifest "${path}" is invalid: ${(e as Error).message}`,
        });
      }
    });
    for (const p of await listAll("blobs/")) {
      if (!referenced.has(p)) {
        add({
          kind: "notice",
          code: "orphan_blob",
          path: p,
          layout: 3,
          message: `The blob "${p}" is named by no manifest (\`spackle prune\` removes it)`,
        });
      }
    }
  }
  if (hasV2 && v2Listing && !sampled) {
    const stems = new Set(
      v2Tasks.map((t) => t.path.slice(12).replace(/\.spec\.json(\.sig)?$/, "")),
    );
    for (const [stem, p] of v2Spack) {
      if (!stems.has(stem) && !v2LegacyStems.has(stem)) {
        add({
          kind: "notice",
          code: "orphan_tarball",
          path: p,
          layout: 2,
          message: `The tarball "${p}" has no spec file`,
        });
      }
    }
  }

  // ---- what interrupted writers left --------------------------------------------------------
  const localDir = store.url.protocol === "file:" ? store.localPath?.("") : undefined;
  if (localDir !== undefined && !sampled) {
    const what = {
      dead: "its process is gone; `spackle prune --delete` removes it",
      live: "its process still runs (a write in progress)",
      "other-host": "made on another host; remove it once that write is over",
      unknown: "its owner is unknown; `spackle prune --delete` removes it after an hour",
    };
    for (const t of findTemporaries(localDir)) {
      add({
        kind: "notice",
        code: "temporary_file",
        path: t.path,
        message: `The temporary ${t.dir ? "directory" : "file"} "${t.path}" was left by a ` +
          `writer: ${what[t.owner]}`,
      });
    }
  }

  let flags = 0;
  for (const f of findings) {
    if (f.kind !== "notice") flags |= VERIFY_FLAGS[f.kind];
  }
  const order: Record<FindingKind, number> = {
    corrupt: 0,
    untrusted: 1,
    unreachable: 2,
    inconsistent: 3,
    notice: 4,
  };
  findings.sort((a, b) => order[a.kind] - order[b.kind] || a.path.localeCompare(b.path));
  return { url: store.url.href, layouts, sampled, checked, findings, flags };
}

class NotFound extends Error {
  constructor(path: string) {
    super(`"${path}" does not exist`);
  }
}
