/**
 * POSIX `fcntl` record locks, the locks Spack takes on its install database and prefixes
 * (Python's `fcntl.lockf` is `fcntl(F_SETLK)`; `flock` locks do not interact with them).
 *
 * JavaScript runtimes have no `fcntl`: libc is reached through the FFI of the runtime
 * (`bun:ffi` in Bun and the compiled executable, `Deno.dlopen` in Deno). Where that is not
 * possible (another OS, a runtime without FFI, a file system that refuses record locks) the
 * lock is not taken and the caller is warned once, as Spack runs with `locks: false`.
 *
 * fcntl locks belong to a process, and closing any descriptor of a file drops all of the
 * process's locks on it: one descriptor per file is kept open while any lock on it is held
 * (as Spack's `FILE_TRACKER` does), and locks of the same range inside this process are
 * ordered by an in-process readers/writer queue, since fcntl never makes a process wait for
 * itself.
 *
 * @module
 */
import { readFileSync, statSync } from "node:fs";
import process from "node:process";
import { SpackleError } from "../errors.ts";

/** A held lock; `release` is idempotent. */
export interface HeldLock {
  /** False when locking is unsupported here and nothing was locked. */
  readonly locked: boolean;
  release(): void;
}

/** Options of {@link lockRange}. */
export interface LockRangeOptions {
  /** Give up after this many seconds (default: wait forever). */
  timeout?: number;
  signal?: AbortSignal;
  /** Called once when the lock is busy, with a description of the holder when known. */
  onWait?: (holder: string | undefined) => void;
  /** Called (once per process) when locks cannot be taken here. */
  onUnsupported?: (message: string) => void;
  /** What is locked, for messages ("the install database"). */
  desc?: string;
}

/** The lock could not be taken within the timeout. */
export class LockTimeoutError extends SpackleError {
  readonly holder?: string;
  constructor(message: string, holder?: string) {
    super("conflict", message, { temporary: true });
    this.holder = holder;
  }
}

interface Libc {
  open(path: string, flags: number, mode: number): number;
  fcntl(fd: number, cmd: number, buf: Uint8Array): number;
  close(fd: number): number;
  errno(): number;
}

// Linux (x86_64 and aarch64, 64-bit off_t): struct flock { short l_type; short l_whence;
// off_t l_start; off_t l_len; pid_t l_pid; }.
const F_GETLK = 5;
const F_SETLK = 6;
const F_RDLCK = 0;
const F_WRLCK = 1;
const F_UNLCK = 2;
const O_RDONLY = 0;
const O_RDWR = 2;
const O_CREAT = 0o100;
const O_CLOEXEC = 0o2000000;
const EACCES = 13;
const EAGAIN = 11;

let libcState: Libc | null | undefined;
let unsupportedWhy = "";
let warned = false;

const LIBC_NAMES = [
  "libc.so.6",
  `libc.musl-${process.arch === "arm64" ? "aarch64" : "x86_64"}.so.1`,
  "libc.so",
];

async function loadLibc(): Promise<Libc | null> {
  if (libcState !== undefined) return libcState;
  libcState = null;
  if (process.platform !== "linux" || !["x64", "arm64"].includes(process.arch)) {
    unsupportedWhy = `record locks are implemented for Linux only (this is ${process.platform})`;
    return null;
  }
  const g = globalThis as Record<string, unknown>;
  const errors: string[] = [];
  for (const name of LIBC_NAMES) {
    try {
      if (g.Bun) libcState = await bunLibc(name);
      else if (g.Deno) libcState = denoLibc(name);
      else {
        unsupportedWhy = "this JavaScript runtime has no FFI";
        return null;
      }
      return libcState;
    } catch (e) {
      errors.push(`${name}: ${(e as Error).message}`);
    }
  }
  unsupportedWhy = `cannot load libc (${errors.join("; ")})`;
  return null;
}

const cstr = (s: string) => new TextEncoder().encode(s + "\0");

async function bunLibc(name: string): Promise<Libc> {
  const mod = "bun:ffi"; // not a literal: Deno's type checker must not resolve it
  const ffi = await import(mod);
  const { dlopen, FFIType, read } = ffi;
  const lib = dlopen(name, {
    open: { args: [FFIType.ptr, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    fcntl: { args: [FFIType.i32, FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
    close: { args: [FFIType.i32], returns: FFIType.i32 },
    __errno_location: { args: [], returns: FFIType.ptr },
  });
  const s = lib.symbols;
  return {
    open: (p, f, m) => s.open(cstr(p), f, m),
    fcntl: (fd, cmd, buf) => s.fcntl(fd, cmd, buf),
    close: (fd) => s.close(fd),
    errno: () => read.i32(s.__errno_location(), 0),
  };
}

function denoLibc(name: string): Libc {
  const D = (globalThis as unknown as { Deno: typeof Deno }).Deno;
  const lib = D.dlopen(
    name,
    {
      open: { parameters: ["buffer", "i32", "i32"], result: "i32" },
      fcntl: { parameters: ["i32", "i32", "buffer"], result: "i32" },
      close: { parameters: ["i32"], result: "i32" },
      __errno_location: { parameters: [], result: "pointer" },
    } as const,
  );
  const s = lib.symbols;
  return {
    open: (p, f, m) => s.open(cstr(p), f, m),
    fcntl: (fd, cmd, buf) => s.fcntl(fd, cmd, buf as Uint8Array<ArrayBuffer>),
    close: (fd) => s.close(fd),
    errno: () => {
      const p = s.__errno_location();
      return p ? new D.UnsafePointerView(p).getInt32() : 0;
    },
  };
}

function flock(type: number, start: bigint, len: bigint): Uint8Array {
  const buf = new Uint8Array(32);
  const v = new DataView(buf.buffer);
  v.setInt16(0, type, true);
  v.setInt16(2, 0, true); // SEEK_SET
  v.setBigInt64(8, start, true);
  v.setBigInt64(16, len, true);
  return buf;
}

// One descriptor per file while anything on it is locked.
interface OpenFile {
  fd: number;
  refs: number;
  writable: boolean;
}
const files = new Map<string, OpenFile>();

function fileKey(path: string): string {
  try {
    const st = statSync(path);
    return `${st.dev}:${st.ino}`;
  } catch {
    return `path:${path}`;
  }
}

// In-process ordering of one range: readers share, a writer is alone, first come first served.
interface RangeState {
  readers: number;
  writer: boolean;
  queue: { exclusive: boolean; wake: () => void }[];
  /** The fcntl lock held for this range by this process (undefined: none). */
  held?: "shared" | "exclusive";
}
const ranges = new Map<string, RangeState>();

function canEnter(st: RangeState, exclusive: boolean): boolean {
  return exclusive ? !st.writer && st.readers === 0 : !st.writer;
}

async function enterRange(key: string, exclusive: boolean, signal?: AbortSignal): Promise<void> {
  let st = ranges.get(key);
  if (!st) ranges.set(key, st = { readers: 0, writer: false, queue: [] });
  if (st.queue.length === 0 && canEnter(st, exclusive)) {
    if (exclusive) st.writer = true;
    else st.readers++;
    return;
  }
  await new Promise<void>((resolve, reject) => {
    const waiter = { exclusive, wake: resolve };
    st!.queue.push(waiter);
    signal?.addEventListener("abort", () => {
      const i = st!.queue.indexOf(waiter);
      if (i >= 0) {
        st!.queue.splice(i, 1);
        reject(signal.reason);
      }
    }, { once: true });
  });
}

function leaveRange(key: string, exclusive: boolean): void {
  const st = ranges.get(key)!;
  if (exclusive) st.writer = false;
  else st.readers--;
  while (st.queue.length && canEnter(st, st.queue[0].exclusive)) {
    const w = st.queue.shift()!;
    if (w.exclusive) st.writer = true;
    else st.readers++;
    w.wake();
  }
  if (!st.writer && st.readers === 0 && st.queue.length === 0) ranges.delete(key);
}

/**
 * A description of the process holding a conflicting lock (pid and command). The lock file
 * itself is never opened a second time: closing any descriptor of it would drop every lock
 * this process holds on it (POSIX), so Spack's debug "pid=,host=" line in it is not read.
 */
function describeHolder(
  libc: Libc,
  fd: number,
  type: number,
  start: bigint,
  len: bigint,
): string | undefined {
  const buf = flock(type, start, len);
  if (libc.fcntl(fd, F_GETLK, buf) !== 0) return undefined;
  const v = new DataView(buf.buffer);
  if (v.getInt16(0, true) === F_UNLCK) return undefined;
  const pid = v.getInt32(24, true);
  let text = pid > 0 ? `process ${pid}` : undefined;
  if (pid > 0) {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
      if (argv.length) {
        argv[0] = argv[0].slice(argv[0].lastIndexOf("/") + 1);
        text += ` (${argv.slice(0, 4).join(" ").replace(/\s+/g, " ").slice(0, 100)})`;
      }
    } catch { /* another host, or gone */ }
  }
  return text;
}

/** The first `bits` bits of a base32 DAG hash as an integer: Spack's `dag_hash_bit_prefix`. */
export function dagHashBitPrefix(hash: string, bits = 63): bigint {
  const A = "abcdefghijklmnopqrstuvwxyz234567";
  let v = 0n;
  let n = 0;
  for (const ch of hash.toLowerCase()) {
    const i = A.indexOf(ch);
    if (i < 0) {
      throw new SpackleError("usage", `Cannot lock "${hash}": it is not a base32 DAG hash`);
    }
    v = (v << 5n) | BigInt(i);
    n += 5;
  }
  // Python decodes whole bytes then keeps the bytes up to `bits`: the same as taking the top
  // `bits` of the bit string.
  if (n < bits) throw new SpackleError("usage", `Cannot lock "${hash}": hash too short`);
  return v >> BigInt(n - bits);
}

/** True when this process can take POSIX record locks (loads libc on first call). */
export async function posixLocksAvailable(): Promise<boolean> {
  return (await loadLibc()) !== null;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(t);
      reject(signal.reason);
    }, { once: true });
  });

function unsupported(opts: LockRangeOptions, why: string): HeldLock {
  if (!warned) {
    warned = true;
    opts.onUnsupported?.(
      `Cannot take POSIX locks: ${why}; going on without them (as Spack with "locks: false"): ` +
        `do not run Spack or another spackle on this install tree at the same time`,
    );
  }
  return { locked: false, release() {} };
}

/**
 * Takes a POSIX record lock on `[start, start+length)` of `path` (length 0: to the end of the
 * file and beyond), shared or exclusive, creating the file (mode 0666 less the umask) when
 * missing. Polls as Spack does (0.1 s for 2 s, 0.2 s up to 10 s, then 0.5 s).
 */
export async function lockRange(
  path: string,
  start: bigint,
  length: bigint,
  mode: "shared" | "exclusive",
  opts: LockRangeOptions = {},
): Promise<HeldLock> {
  const desc = opts.desc ?? `"${path}"`;
  const libc = await loadLibc();
  if (!libc) return unsupported(opts, unsupportedWhy);
  const exclusive = mode === "exclusive";
  opts.signal?.throwIfAborted();

  // The descriptor (kept while any lock of this process is on the file).
  let key = fileKey(path);
  let file = files.get(key);
  if (!file) {
    let fd = libc.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o666);
    let writable = true;
    if (fd < 0) {
      const err = libc.errno();
      if (exclusive) {
        throw new SpackleError(
          "unsupported",
          `Cannot lock ${desc}: cannot open "${path}" for writing (errno ${err}); check that ` +
            `you can write to its directory`,
        );
      }
      // A tree this user may only read (an upstream, a read-only mount): read it unlocked.
      fd = libc.open(path, O_RDONLY | O_CLOEXEC, 0);
      writable = false;
      if (fd < 0) {
        return unsupported(opts, `the lock file "${path}" cannot be created (a read-only tree?)`);
      }
    }
    key = fileKey(path);
    file = files.get(key) ?? { fd, refs: 0, writable };
    if (file.fd !== fd) libc.close(fd);
    files.set(key, file);
  }
  if (exclusive && !file.writable) {
    throw new SpackleError("conflict", `Cannot lock ${desc} for writing: "${path}" is read-only`);
  }
  file.refs++;
  const rangeKey = `${key}:${start}:${length}`;
  const dropFile = () => {
    if (--file!.refs === 0) {
      files.delete(key);
      libc.close(file!.fd);
    }
  };
  try {
    await enterRange(rangeKey, exclusive, opts.signal);
  } catch (e) {
    dropFile();
    throw e;
  }
  const st = ranges.get(rangeKey)!;
  const type = exclusive ? F_WRLCK : F_RDLCK;
  let needLock = exclusive || st.held === undefined;
  if (needLock) {
    const started = performance.now();
    const deadline = opts.timeout ? started + opts.timeout * 1000 : Infinity;
    let n = 0;
    let told = false;
    let holder: string | undefined;
    try {
      for (;;) {
        if (libc.fcntl(file.fd, F_SETLK, flock(type, start, length)) === 0) break;
        const err = libc.errno();
        if (err !== EAGAIN && err !== EACCES) {
          needLock = false;
          leaveRange(rangeKey, exclusive);
          dropFile();
          return unsupported(opts, `fcntl on "${path}" failed with errno ${err}`);
        }
        if (!told) {
          told = true;
          holder = describeHolder(libc, file.fd, type, start, length);
          opts.onWait?.(holder);
        }
        if (performance.now() >= deadline) {
          throw new LockTimeoutError(
            `Cannot lock ${desc} ("${path}") after ${opts.timeout} s: held by ${
              holder ?? "another process"
            }; ` +
              `wait for it to finish, or raise the lock timeout`,
            holder,
          );
        }
        await sleep(n >= 60 ? 500 : n >= 20 ? 200 : 100, opts.signal);
        n++;
      }
    } catch (e) {
      leaveRange(rangeKey, exclusive);
      dropFile();
      throw e;
    }
    st.held = mode;
  }
  return new RangeLock(libc, file, key, rangeKey, start, length, exclusive);
}

/**
 * A lock {@link lockRange} holds. A class, not a closure: a closure made in `lockRange` would
 * keep its whole frame (options, messages, paths) for as long as the lock is held, and an
 * install holds one lock for each of its (thousands of) packages.
 */
class RangeLock implements HeldLock {
  readonly locked = true;
  #released = false;
  constructor(
    readonly libc: Libc,
    readonly file: OpenFile,
    readonly key: string,
    readonly rangeKey: string,
    readonly start: bigint,
    readonly length: bigint,
    readonly exclusive: boolean,
  ) {}

  release(): void {
    if (this.#released) return;
    this.#released = true;
    const s = ranges.get(this.rangeKey)!;
    // The fcntl lock goes when the last in-process holder leaves.
    if (this.exclusive || s.readers === 1) {
      this.libc.fcntl(this.file.fd, F_SETLK, flock(F_UNLCK, this.start, this.length));
      s.held = undefined;
    }
    leaveRange(this.rangeKey, this.exclusive);
    if (--this.file.refs === 0) {
      files.delete(this.key);
      this.libc.close(this.file.fd);
    }
  }
}

// renameat2(RENAME_EXCHANGE): swapping two paths in one step (Linux 3.15+, glibc 2.28+), loaded
// apart from the lock functions so that a libc without it costs only this.
let exchangeFn: ((a: string, b: string) => boolean) | null | undefined;
const AT_FDCWD = -100;
const RENAME_EXCHANGE = 2;

async function loadExchange(): Promise<((a: string, b: string) => boolean) | null> {
  if (exchangeFn !== undefined) return exchangeFn;
  exchangeFn = null;
  if (process.platform !== "linux") return null;
  const g = globalThis as Record<string, unknown>;
  for (const name of LIBC_NAMES) {
    try {
      if (g.Bun) {
        const mod = "bun:ffi";
        const { dlopen, FFIType } = await import(mod);
        const lib = dlopen(name, {
          renameat2: {
            args: [FFIType.i32, FFIType.ptr, FFIType.i32, FFIType.ptr, FFIType.u32],
            returns: FFIType.i32,
          },
        });
        exchangeFn = (a, b) =>
          lib.symbols.renameat2(AT_FDCWD, cstr(a), AT_FDCWD, cstr(b), RENAME_EXCHANGE) === 0;
      } else if (g.Deno) {
        const D = (globalThis as unknown as { Deno: typeof Deno }).Deno;
        const lib = D.dlopen(
          name,
          {
            renameat2: { parameters: ["i32", "buffer", "i32", "buffer", "u32"], result: "i32" },
          } as const,
        );
        exchangeFn = (a, b) =>
          lib.symbols.renameat2(AT_FDCWD, cstr(a), AT_FDCWD, cstr(b), RENAME_EXCHANGE) === 0;
      }
      return exchangeFn;
    } catch { /* try the next name */ }
  }
  return null;
}

/**
 * Loads what {@link exchangePaths} needs (once); true when this system can swap two paths in
 * one step.
 */
export async function canExchangePaths(): Promise<boolean> {
  return (await loadExchange()) !== null;
}

/**
 * Swaps two existing paths in one step (renameat2 with RENAME_EXCHANGE): nobody ever sees
 * either path missing. False when not possible here (not loaded by {@link canExchangePaths},
 * another OS, a file system without it): the caller falls back to two renames.
 */
export function exchangePaths(a: string, b: string): boolean {
  return exchangeFn ? exchangeFn(a, b) : false;
}
