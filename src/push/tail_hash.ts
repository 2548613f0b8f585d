/**
 * The sha256 of a file while it is being written, computed on a worker thread that reads the
 * file behind the writer: the writer only says how far it got. Packing a big prefix keeps its
 * main thread busy reading, framing and writing; hashing the tarball there too (a few hundred
 * milliseconds for a few hundred megabytes) would add to that path, and a worker does it on
 * the side. Where a worker cannot be started (a runtime without module workers from `blob:`
 * URLs) {@link TailHasher.start} gives undefined and the caller hashes as it writes.
 *
 * @module
 */
import { closeSync, openSync } from "node:fs";
import { newSha256 } from "../core/backend.ts";
import { readAt } from "./scan.ts";

/**
 * The worker: reads `path` from offset 0 up to each `upto` it is told, hashing; on `end`
 * answers `{ hex }` (or `{ error, code }` on any failure). Messages are handled in order.
 */
const WORKER_SOURCE = `
let queue = Promise.resolve();
let fs, hash, fd, pos = 0, buf, failed = false;
self.onmessage = (e) => { queue = queue.then(() => handle(e.data)); };
async function handle(d) {
  if (failed) return;
  try {
    if (d.path !== undefined) {
      fs = await import("node:fs");
      const Hasher = globalThis.Bun && globalThis.Bun.CryptoHasher;
      hash = Hasher ? new Hasher("sha256") : (await import("node:crypto")).createHash("sha256");
      fd = fs.openSync(d.path, "r");
      buf = new Uint8Array(1 << 20);
    }
    while (pos < d.upto) {
      const n = fs.readSync(fd, buf, 0, Math.min(buf.length, d.upto - pos), pos);
      if (n <= 0) throw new Error("the file is shorter than the " + d.upto + " bytes written");
      hash.update(buf.subarray(0, n));
      pos += n;
    }
    if (d.end) {
      fs.closeSync(fd);
      self.postMessage({ hex: hash.digest("hex") });
    }
  } catch (e) {
    failed = true;
    self.postMessage({ error: String((e && e.message) || e), code: e && e.code });
  }
}
`;

/** Bytes written between two notes to the worker. */
const NOTE_EVERY = 1 << 20;

/** sha256 of a file being written, on a worker thread (see the module). */
export class TailHasher {
  readonly #worker: Worker;
  readonly #url: string;
  readonly #path: string;
  readonly #result: Promise<string>;
  #noted = 0;

  private constructor(worker: Worker, url: string, path: string) {
    this.#worker = worker;
    this.#url = url;
    this.#path = path;
    this.#result = new Promise<string>((resolve, reject) => {
      worker.onmessage = (e: MessageEvent) => {
        const d = e.data as { hex?: string; error?: string; code?: string };
        if (typeof d.hex === "string") resolve(d.hex);
        else reject(Object.assign(new Error(d.error ?? "hashing failed"), { code: d.code }));
      };
      worker.onerror = (e: ErrorEvent) => {
        e.preventDefault?.();
        reject(new Error(e.message || "the hashing worker failed"));
      };
    });
    this.#result.catch(() => {}); // awaited by digest()
    worker.postMessage({ path, upto: 0 });
  }

  /** A hasher of the file `path` (being written), or undefined when no worker can be had. */
  static start(path: string): TailHasher | undefined {
    const W = (globalThis as { Worker?: typeof Worker }).Worker;
    if (typeof W !== "function" || typeof URL.createObjectURL !== "function") return undefined;
    let url: string | undefined;
    try {
      url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: "text/javascript" }));
      return new TailHasher(new W(url, { type: "module" }), url, path);
    } catch {
      if (url) URL.revokeObjectURL(url);
      return undefined;
    }
  }

  /** The first `upto` bytes of the file are written. */
  written(upto: number): void {
    if (upto - this.#noted < NOTE_EVERY) return;
    this.#noted = upto;
    this.#worker.postMessage({ upto });
  }

  /**
   * The hex sha256 of the file's first `size` bytes (all written). Should the worker fail,
   * the file is hashed here instead, read back from the start.
   */
  async digest(size: number): Promise<string> {
    this.#worker.postMessage({ upto: size, end: true });
    try {
      return await this.#result;
    } catch {
      return hashFile(this.#path, size);
    } finally {
      this.close();
    }
  }

  /** Stops the worker (at once; what it was doing is dropped). */
  close(): void {
    this.#worker.terminate();
    URL.revokeObjectURL(this.#url);
  }
}

/** The hex sha256 of the first `size` bytes of the file `path`, read here. */
function hashFile(path: string, size: number): string {
  const hash = newSha256();
  const buf = new Uint8Array(1 << 20);
  const fd = openSync(path, "r");
  try {
    for (let pos = 0; pos < size;) {
      const n = readAt(fd, buf, Math.min(buf.length, size - pos), pos);
      if (n === 0) throw new Error(`"${path}" is shorter than the ${size} bytes written`);
      hash.update(buf.subarray(0, n));
      pos += n;
    }
  } finally {
    closeSync(fd);
  }
  return hash.digestHex();
}
