/**
 * Where sha256 and gzip come from: the runtime's `node:crypto` and `node:zlib` when it has them
 * (Deno, Bun, Node: the fastest), else the WebAssembly core (`wasm.ts`; browsers). Chosen once,
 * by feature detection, when the core is first loaded; callers never choose.
 *
 * `SPACKLE_CORE_BACKEND=wasm` in the environment makes a runtime that has the native modules use
 * the WebAssembly core anyway (the core's tests run on both backends with it). Its gzip output is
 * valid but not zlib's byte for byte, so Spack-identical tarballs come from `node:zlib` only.
 *
 * @module
 */
import { loadWasmCore, type WasmCore } from "./wasm.ts";

/** An incremental sha256. */
export interface Sha256 {
  update(data: Uint8Array | string): Sha256;
  /** The digest as lowercase hex (the hash cannot be updated afterwards). */
  digestHex(): string;
}

type NodeCrypto = typeof import("node:crypto");
type NodeZlib = typeof import("node:zlib");

function env(name: string): string | undefined {
  const g = globalThis as {
    process?: { env?: Record<string, string | undefined> };
    Deno?: { env: { get(n: string): string | undefined } };
  };
  try {
    return g.process?.env?.[name] ?? g.Deno?.env.get(name);
  } catch {
    return undefined; // no permission to read the environment
  }
}

// The module names are not literals so that bundlers for the browser leave these imports to
// run time (where they fail) instead of replacing them with polyfills.
const CRYPTO = ["node", "crypto"].join(":");
const ZLIB = ["node", "zlib"].join(":");
const forced = env("SPACKLE_CORE_BACKEND");
const nodeCrypto: NodeCrypto | undefined = forced === "wasm"
  ? undefined
  : await import(CRYPTO).then((m) => (typeof m.createHash === "function" ? m : undefined))
    .catch(() => undefined);
/** Node's synchronous loader of built-in modules (Deno, Bun, Node 22.3+); browsers have none. */
type GetBuiltin = (id: string) => unknown;
const getBuiltin: GetBuiltin | undefined = (() => {
  const p = (globalThis as { process?: { getBuiltinModule?: GetBuiltin } }).process;
  return typeof p?.getBuiltinModule === "function" ? p.getBuiltinModule.bind(p) : undefined;
})();
// `node:zlib` is evaluated on first use where the runtime loads built-ins synchronously (at
// import it would cost every command's startup, listing included, which never gunzips); elsewhere
// it is tried here, once. `null`: not loaded yet.
let nodeZlib: NodeZlib | undefined | null = getBuiltin ? null : await import(ZLIB)
  .then((m) => (typeof m.createGunzip === "function" ? m : undefined))
  .catch(() => undefined);
function zlibModule(): NodeZlib | undefined {
  if (nodeZlib === null) {
    let m: NodeZlib | undefined;
    try {
      m = getBuiltin!(ZLIB) as NodeZlib;
    } catch {
      m = undefined;
    }
    nodeZlib = typeof m?.createGunzip === "function" ? m : undefined;
  }
  return nodeZlib;
}
const hasZlib = forced !== "wasm" && (nodeZlib === null || nodeZlib !== undefined);
const wasm: WasmCore | undefined = nodeCrypto && hasZlib ? undefined : await loadWasmCore();

type BunHasher = new (algorithm: "sha256") => {
  update(data: Uint8Array | string): unknown;
  digest(encoding: "hex"): string;
};
const bunHasher: BunHasher | undefined = nodeCrypto
  ? (globalThis as { Bun?: { CryptoHasher?: BunHasher } }).Bun?.CryptoHasher
  : undefined;

/** The implementation in use for each capability. */
export const BACKEND: { sha256: "native" | "wasm"; gzip: "native" | "wasm" } = {
  sha256: nodeCrypto ? "native" : "wasm",
  gzip: hasZlib ? "native" : "wasm",
};

/** A new incremental sha256 from the backend in use. */
export function newSha256(): Sha256 {
  // Bun's own hasher: about a third faster than its `node:crypto` one on large inputs.
  const h = bunHasher ? new bunHasher("sha256") : nodeCrypto?.createHash("sha256");
  if (!h) return wasm!.sha256();
  const api: Sha256 = {
    update(data) {
      h.update(data);
      return api;
    },
    digestHex: () => h.digest("hex"),
  };
  return api;
}

/** `node:zlib` for decompression, unless it is missing or overridden (then: the WASM core). */
export function nativeGunzip(): NodeZlib | undefined {
  return hasZlib ? zlibModule() : undefined;
}

/** `node:zlib` for compression, unless it is missing or overridden (then: the WASM core). */
export function nativeZlib(): NodeZlib | undefined {
  return hasZlib ? zlibModule() : undefined;
}

/** The WebAssembly core, when it is loaded (it is whenever a native module is missing). */
export function wasmCore(): WasmCore | undefined {
  return wasm;
}
