/**
 * The prune lease of a v3 mirror: `v3/.spackle-prune-lease`, written by a deleting `prune`
 * before it lists anything, refreshed while it runs and deleted when it ends. A writer that
 * commits a manifest (push, migrate, sync) looks for the lease afterwards, waits while a live
 * one is there, and then checks that the blobs the manifest names still exist, writing back
 * any a concurrent prune took for an orphan.
 *
 * Why that is enough: the writer reads the lease after its manifest is written. If it sees
 * none, the prune either started later (so its listing, made after the lease, sees the
 * manifest and keeps its blobs) or has ended (so its deletions are over and the writer's check
 * that follows sees them). If it sees one, it waits for the end and checks then.
 *
 * @module
 */
import { hostname } from "node:os";
import process from "node:process";
import { pidAlive } from "../../core/pid.ts";
import type { ReadStore, Store } from "../../storage/store.ts";

/** Where the lease lives in a v3 mirror. */
export const PRUNE_LEASE = "v3/.spackle-prune-lease";
/** A lease not refreshed for this long is stale (its prune died on another host). */
export const LEASE_STALE_MS = 120_000;
/** How often a running prune refreshes its lease. */
export const LEASE_REFRESH_MS = 20_000;

/** What the lease holds. */
export interface PruneLease {
  host: string;
  pid: number;
  /** When the prune started and when it last refreshed the lease (ms since the epoch). */
  started: number;
  updated: number;
}

/** The lease of `store`, or undefined when there is none (or it cannot be read). */
export async function readLease(
  store: ReadStore,
  signal?: AbortSignal,
): Promise<PruneLease | undefined> {
  if (!(await store.stat(PRUNE_LEASE, { signal }))) return undefined;
  try {
    const doc = JSON.parse(await new Response(await store.read(PRUNE_LEASE, { signal })).text());
    if (
      doc && typeof doc.host === "string" && Number.isInteger(doc.pid) &&
      typeof doc.started === "number" && typeof doc.updated === "number"
    ) return doc as PruneLease;
  } catch (e) {
    if (signal?.aborted) throw e;
  }
  // Unreadable (being replaced, or damaged): taken as live but without an owner to check.
  return { host: "", pid: 0, started: Date.now(), updated: Date.now() };
}

/** True when the lease's prune may still be running. */
export function leaseLive(l: PruneLease, now = Date.now()): boolean {
  if (l.host === hostname() && l.pid > 0 && !pidAlive(l.pid)) return false;
  return now - l.updated < LEASE_STALE_MS;
}

/** A held lease: refreshed in the background until released. */
export interface HeldLease {
  release(): Promise<void>;
}

/** Takes the prune lease of `store` (written before the caller lists anything). */
export async function takeLease(store: Store, signal?: AbortSignal): Promise<HeldLease> {
  const started = Date.now();
  const write = (updated: number) =>
    store.write(
      PRUNE_LEASE,
      new TextEncoder().encode(
        JSON.stringify({ host: hostname(), pid: process.pid, started, updated }),
      ),
      { signal, contentType: "application/json" },
    );
  await write(started);
  let pending: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    pending = write(Date.now()).catch(() => {});
  }, LEASE_REFRESH_MS);
  // Deno.unrefTimer / Node's unref: the refresh must not keep the process alive.
  (timer as unknown as { unref?: () => void }).unref?.();
  return {
    async release() {
      clearInterval(timer);
      await pending;
      // Only our own lease is removed: another prune that started meanwhile keeps its own.
      const l = await readLease(store).catch(() => undefined);
      if (l && l.host === hostname() && l.pid === process.pid && l.started === started) {
        await store.delete(PRUNE_LEASE).catch(() => {});
      }
    },
  };
}

/**
 * Waits while a live prune lease is on `store`. Returns true when it waited (`onWait` is
 * called once, with the lease, when the wait starts).
 */
export async function waitForPrune(
  store: ReadStore,
  opts: { signal?: AbortSignal; onWait?: (l: PruneLease) => void; pollMs?: number } = {},
): Promise<boolean> {
  let waited = false;
  for (;;) {
    const l = await readLease(store, opts.signal);
    if (!l || !leaseLive(l)) return waited;
    if (!waited) opts.onWait?.(l);
    waited = true;
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 200));
    opts.signal?.throwIfAborted();
  }
}
