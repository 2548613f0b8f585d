/**
 * Peak memory of long streaming jobs. Under Bun, large short-lived buffers (stream chunks,
 * zlib output) are freed only by a full collection, which its collector starts late: a job
 * that moves hundreds of megabytes would hold most of them as garbage. A {@link MemoryPacer}
 * is told how far the job got and asks for a full collection whenever the resident set has
 * grown past a soft limit, so the peak stays near that limit whatever the size of the job.
 * One pacer can serve several jobs running at once (progress is added, not set).
 *
 * @module
 */
import process from "node:process";

/** Options of {@link MemoryPacer}. */
export interface MemoryPacerOptions {
  /** Resident bytes under which no collection is asked for (default 96 MiB). */
  limit?: number;
  /**
   * Growth allowed above what a collection leaves (default 16 MiB): when live data alone
   * comes near `limit`, collections happen each time this much more is resident.
   */
  headroom?: number;
  /** Progress (bytes) between two looks at the resident set (default 1 MiB). */
  every?: number;
}

type FullGc = () => void;

/** The runtime's synchronous full collection: Bun's, or `gc` where exposed (Deno with flags). */
function fullGc(): FullGc | undefined {
  const g = globalThis as { Bun?: { gc(force: boolean): void }; gc?: () => void };
  if (g.Bun) return () => g.Bun!.gc(true);
  if (typeof g.gc === "function") return () => g.gc!();
  return undefined;
}

/** Asks for full collections to keep the resident set near a soft limit (see the module). */
export class MemoryPacer {
  readonly #gc = fullGc();
  readonly #base: number;
  readonly #headroom: number;
  readonly #every: number;
  #limit: number;
  #next: number;
  #done = 0;
  /** Collections asked for so far. */
  collections = 0;

  constructor(opts: MemoryPacerOptions = {}) {
    this.#base = opts.limit ?? 96 << 20;
    this.#headroom = opts.headroom ?? 16 << 20;
    this.#every = opts.every ?? 1 << 20;
    this.#limit = this.#base;
    this.#next = this.#every;
  }

  /** Reports `bytes` more of progress; looks at the resident set every `every` bytes. */
  add(bytes: number): void {
    this.#done += bytes;
    if (this.#done < this.#next) return;
    this.#next = this.#done + this.#every;
    this.check();
  }

  /**
   * Told that a job of `bytes` has ended: after a big one (at least `big`, default 64 MiB) a full
   * collection now, whatever the resident set, so that what comes next reuses the job's garbage
   * instead of growing past it (a job that makes little garbage per byte meets few collections
   * on its way, and its last one may be far behind); after a small one, {@link check}.
   */
  afterJob(bytes: number, big: number = 64 << 20): void {
    if (bytes < big) return this.check();
    this.collect();
  }

  /**
   * A full collection now, whatever the resident set: before a step that makes much garbage
   * at once (and cannot be paced), so that it reuses what came before instead of growing.
   */
  collect(): void {
    if (!this.#gc) return;
    this.#gc();
    this.collections++;
    this.#limit = Math.max(this.#base, process.memoryUsage.rss() + this.#headroom);
  }

  /** Looks at the resident set now: a full collection when it is past the limit. */
  check(): void {
    if (!this.#gc || process.memoryUsage.rss() < this.#limit) return;
    this.#gc();
    this.collections++;
    this.#limit = Math.max(this.#base, process.memoryUsage.rss() + this.#headroom);
  }
}

/**
 * Asks the runtime to tier functions up to its optimizing compilers `scale` times later than
 * it would (Bun's `Bun.unsafe.setJITPolicy`; elsewhere nothing); 1 is the usual policy. For a
 * long run of small I/O-bound steps (installing thousands of small packages) this saves the
 * optimizing compilers' memory: 5 to 10 MB of peak at 2,000 Spack-built packages, for 0 to 9%
 * more time in alternating runs. Shorter runs pay for it (300 packages staged under it: 12 to 19% more time), and hot
 * loops over big data (one big package) want the usual policy. Process-wide; returns whether it
 * was applied.
 */
export function delayOptimizingJit(scale = 10): boolean {
  const bun = (globalThis as { Bun?: { unsafe?: { setJITPolicy?: (s: number) => void } } }).Bun;
  const set = bun?.unsafe?.setJITPolicy;
  if (typeof set !== "function") return false;
  try {
    set.call(bun!.unsafe, scale);
    return true;
  } catch {
    return false; // (a runtime whose policy takes other values: left as it is)
  }
}

/**
 * `s`, resolved if the engine kept it as pieces (a concatenation, each piece a string of its
 * own) or as a view into another string: for strings kept long, whose pieces would otherwise
 * take more memory than their text. JavaScriptCore resolves both when a code point is read
 * (`charCodeAt` reads through a view without resolving it); other engines need nothing.
 */
export function flatString(s: string): string {
  // Kept, so that an optimizing compiler does not drop the read.
  flatSink = (flatSink + (s.codePointAt(0) ?? 0)) & 0xffff;
  return s;
}
let flatSink = 0;
