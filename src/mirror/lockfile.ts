/**
 * A lock file against mirrors: which of the specs an environment needs no mirror holds, found
 * (all of them) before anything is installed, copied or pushed.
 *
 * @module
 */
import { NotFoundError } from "../errors.ts";
import { type Lockfile, lockfileClosure, lockfileSpecs } from "../index/lockfile.ts";
import type { EntryRef } from "../layout/types.ts";
import type { SpecNode } from "../spec/types.ts";

/** What the check needs of a mirror (a `Mirror` or `MirrorSet` fits). */
export interface RefLookup {
  ref(hash: string, opts?: { signal?: AbortSignal }): Promise<EntryRef | undefined>;
}

/** Options of {@link missingLockSpecs}. */
export interface LockCheckOptions {
  /** Every concrete spec of the lock, not only its roots. */
  all?: boolean;
  /** Only the specs themselves, not their runtime closure. */
  noDeps?: boolean;
  signal?: AbortSignal;
  /** Lookups at once (default 8). */
  jobs?: number;
}

/**
 * The specs of the lock's runtime closure (of its roots, or with `all` of every concrete spec)
 * that no mirror has in its build cache, in dependency order.
 */
export async function missingLockSpecs(
  lock: Lockfile,
  mirrors: RefLookup,
  opts: LockCheckOptions = {},
): Promise<SpecNode[]> {
  const specs = opts.noDeps
    ? lockfileSpecs(lock, { all: opts.all }).filter((n) => !n.external)
    : lockfileClosure(lock, { all: opts.all });
  const found = new Array<boolean>(specs.length);
  let next = 0;
  const worker = async () => {
    while (next < specs.length) {
      const i = next++;
      const r = await mirrors.ref(specs[i].hash, { signal: opts.signal });
      found[i] = !!r?.inBuildcache;
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.jobs ?? 8, specs.length) }, worker));
  return specs.filter((_, i) => !found[i]);
}

/** The error naming every missing spec of `label` (a lock file). */
export function lockMissingError(missing: SpecNode[], label: string): NotFoundError {
  return new NotFoundError(
    `Cannot find ${missing.length} spec(s) of ${label} in any mirror: ${
      missing.map((n) => `${n.name}@${n.version}/${n.hash}`).join(", ")
    }`,
  );
}

/** Throws {@link lockMissingError} when some spec of the lock is in no mirror. */
export async function requireLockSpecs(
  lock: Lockfile,
  mirrors: RefLookup,
  label: string,
  opts: LockCheckOptions = {},
): Promise<void> {
  const missing = await missingLockSpecs(lock, mirrors, opts);
  if (missing.length) throw lockMissingError(missing, label);
}
