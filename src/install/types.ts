/**
 * The types of an install run: what it reads from (`InstallSource`), its options, progress
 * events and result, and the per-package state (`Job`) its stages pass on.
 *
 * @module
 */
import { pyJsonDumps, PyJsonText } from "../core/json.ts";
import { flatString } from "../core/memory_pacer.ts";
import type { Entry, EntryRef, ReadOptions } from "../layout/types.ts";
import type { SpecNode } from "../spec/types.ts";
import type { TargetCheck } from "./target.ts";

/**
 * What install reads from a mirror: the layout's `Mirror`/`MirrorSet` (from `openMirror`,
 * `openMirrors` in src/layout/open.ts) fit.
 */
export interface InstallSource {
  /** The one entry in the build cache a query names (NotFoundError, UsageError when several). */
  resolve(query: string, opts?: { signal?: AbortSignal }): Promise<EntryRef>;
  /** The entry of a full DAG hash, metadata fetched and checked. */
  entry(hash: string, opts?: ReadOptions): Promise<Entry>;
  /** Entry references matching a query, those not in the cache included (externals). */
  list?(query: string, opts?: { signal?: AbortSignal }): Promise<EntryRef[]>;
  /** The index node of a hash, for specs the index lists but the cache does not hold. */
  indexNode?(hash: string, signal?: AbortSignal): Promise<SpecNode | undefined>;
}

/** Progress events. */
export interface InstallProgress {
  phase:
    | "resolve"
    | "planned"
    | "skip"
    | "fetch"
    | "staged"
    | "installed"
    | "external"
    | "warning"
    | "wait";
  name?: string;
  hash?: string;
  bytes?: number;
  message?: string;
  /** `planned`: the packages this run stages (those installed already left out). */
  count?: number;
}

/** Options of `installSpecs`. */
export interface InstallOptions {
  /** The install tree root. */
  root: string;
  /** Parallel downloads (default 4). */
  jobs?: number;
  signal?: AbortSignal;
  onProgress?: (p: InstallProgress) => void;
  /** Accept unsigned metadata (default false: signatures are required). */
  allowUnsigned?: boolean;
  /** Install tree projection (default `DEFAULT_PROJECTION`). */
  projection?: string;
  /**
   * Relocate plain-text files while extracting, settled against the buildinfo afterwards
   * (default true; a file relocated on a wrong guess is put back from its staged copy).
   */
  speculate?: boolean;
  /**
   * Tarballs of this many (compressed) bytes or more are decompressed on the thread pool into
   * reused buffers and their small files written there (default 4 MiB: for smaller ones the
   * setup costs more than it saves).
   */
  threadPoolFrom?: number;
  /**
   * The most (compressed) bytes of tarballs requested ahead of their turn and not yet taken
   * (default 8 MiB): a runtime may take in a waiting response's body whole. A tarball bigger
   * than this is requested at its turn.
   */
  aheadBytes?: number;
  /** Install only the named specs, not their dependencies (default false). */
  noDeps?: boolean;
  /**
   * DAG hashes marked explicit (default: every spec the queries name); an environment's
   * roots are, its other specs are not.
   */
  explicit?: Set<string>;
  /**
   * Replace prefixes that exist but are not in the database, and reinstall the requested
   * specs when installed already (default false: such a prefix is refused).
   */
  overwrite?: boolean;
  /** Seconds to wait for Spack's database and prefix locks (default 60; 0: forever). */
  lockTimeout?: number;
  /**
   * Target checks (default `warn`): a spec for another platform or architecture family is
   * refused and missing CPU features are a warning; `host` makes missing features an error;
   * `none` checks nothing.
   */
  checkTarget?: TargetCheck;
}

/** One installed (or already present) spec. */
export interface InstalledSpec {
  name: string;
  version: string;
  hash: string;
  prefix: string;
  /** False when it was already installed. */
  installed: boolean;
  explicit: boolean;
  /** True for an external spec (registered in the database, nothing extracted). */
  external?: boolean;
}

/** What `installSpecs` did. */
export interface InstallResult {
  root: string;
  specs: InstalledSpec[];
}

/** A spec a package's relocation maps: its hash, and its prefix as the package's DAG gives it. */
export interface RelocSpec {
  hash: string;
  prefix: string;
}

/**
 * One package of a run. It holds what its stages need, not its entry nor its spec DAG (a DAG
 * holds the nodes of every dependency: one per package would grow with the number of packages
 * times their depth). What only staging needs (`tarball`, `reloc`, `splice`) is released once
 * the package is staged.
 */
export interface Job {
  /**
   * The package's node, its dict reduced to the `arch` the target checks read and without
   * dependencies: the whole dict is kept as its text (`record`), a fraction of its memory.
   */
  node: SpecNode;
  /** The node dict as the install database records it (its written text). */
  record: DbSpecText;
  prefix: string;
  source: InstallSource;
  explicit: boolean;
  /** The tarball: its opener, and what names it in errors. */
  tarball?: {
    open: (o?: { signal?: AbortSignal }) => Promise<ReadableStream<Uint8Array>>;
    checksum: string;
    /** Its stored (compressed) size. */
    size: number;
    path: string;
    mirror?: string;
  };
  /** `specsToRelocate` of the package's DAG (records shared between the packages). */
  reloc?: RelocSpec[];
  /**
   * Set for a spliced spec (installed from its build spec's tarball): the build spec's hash,
   * the hash under which each spec to relocate finds its old prefix (`spliceLookup`), and the
   * spliced spec as Spack writes it into `.spack/spec.json`.
   */
  splice?: { buildHash: string; lookup: Map<string, string>; spec: unknown };
  /** The package's direct external dependencies (recorded in the database with it). */
  externals: SpecNode[];
  /** Set once staged. */
  staged?: string;
  /**
   * Set once staged: its ELF and executable files, relative to `staged`, one string each with
   * the paths joined by NUL (an array of strings, each a view into the longer path it was cut
   * from, took several times the memory).
   */
  elfFiles?: string;
  execFiles?: string;
  stagingDir?: string;
  /** Installed from its build spec's tarball. */
  spliced?: boolean;
}

/**
 * A node dict kept as its text (`pyJsonDumps`), written into the database as it is. The hashes
 * its `dependencies` list (what the database's reference counts read of it) are read from the
 * text when asked for, rarely: a run holds one for each of its (thousands of) packages, and
 * an object per dependency would outweigh the text.
 */
export class DbSpecText extends PyJsonText {
  constructor(dict: Record<string, unknown>) {
    super(flatString(pyJsonDumps(dict)));
  }

  get dependencies(): { hash?: string }[] | undefined {
    const deps = (JSON.parse(this.text) as { dependencies?: unknown }).dependencies;
    if (!Array.isArray(deps)) return undefined;
    return deps.map((d) => {
      const hash = (d as { hash?: unknown } | null)?.hash;
      return { hash: typeof hash === "string" ? hash : undefined };
    });
  }
}

/** A progress callback. */
export type OnProgress = (p: InstallProgress) => void;
