/**
 * Opens a store by URL or path: plain paths and file:// give a FileStore (a BundleStore when
 * the path is a bundle file rather than a directory), https:// and http://
 * a read-only HttpsStore (retried on temporary failures), memory: a MemoryStore (the same one
 * for the same URL within a process), s3:// the S3 backend.
 *
 * @module
 */
import { statSync } from "node:fs";
import { resolve } from "node:path";
import process from "node:process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { NotFoundError, UsageError } from "../errors.ts";
import { BundleStore } from "./bundle.ts";
import { FileStore } from "./file.ts";
import type { HttpOptions } from "./http_client.ts";
import { HttpsStore } from "./http_store.ts";
import { MemoryStore } from "./memory.ts";
import { type RetryOptions, retryStore } from "./retry.ts";
import type { ReadStore, Store } from "./store.ts";

/** Options of `openStore`. */
export interface OpenStoreOptions {
  /** The store will be written: read-only schemes are refused. */
  writable?: boolean;
  /** HTTP client settings (https, http and s3). */
  http?: HttpOptions;
  /** Retry settings for network stores (`{ retries: 0 }` turns retrying off). */
  retry?: RetryOptions;
  /** Backend settings for s3:// (endpoint, region, profile, ...). */
  s3?: Record<string, unknown>;
  /** The fetch network stores use instead of one made from `http`. */
  fetch?: typeof fetch;
  /**
   * oci:// and oci+http:// settings: credentials (`--oci-*` flags, the mirror's
   * `access_pair`/`access_token`), a debug log, the upload chunk size.
   */
  oci?: Record<string, unknown>;
}

const memoryStores = new Map<string, MemoryStore>();

/**
 * The URL a mirror argument stands for: a URL with a scheme as is, anything else a local path
 * resolved against the current directory. The result ends in "/".
 */
export function storeUrl(url: string | URL): URL {
  let u: URL;
  if (url instanceof URL) u = new URL(url.href);
  else if (/^[a-z][a-z0-9+.-]*:/i.test(url) && !/^[a-z]:[\\/]/i.test(url)) {
    try {
      u = new URL(url);
    } catch (e) {
      throw new UsageError(`Invalid mirror URL "${url}": ${(e as Error).message}`, { cause: e });
    }
  } else {
    if (url === "") throw new UsageError("Invalid mirror: the path is empty");
    u = pathToFileURL(resolve(process.cwd(), url));
  }
  if (u.protocol !== "memory:" && !u.pathname.endsWith("/")) u.pathname += "/";
  return u;
}

/**
 * Opens the store at `url` (a URL or a local path).
 *
 * @example Open a store and use it
 * ```ts
 * import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * import {
 *   openStore,
 *   type Store,
 * } from "@spackle/spackle";
 *
 * const dir = mkdtempSync(join(tmpdir(), "spackle-example-"));
 * // A local path or file://, https://, s3:// and memory:// URLs; bundle files open read-only.
 * const store = await openStore(dir, { writable: true }) as Store;
 * await store.write("a/b.txt", new TextEncoder().encode("hello"));
 * const stat = await store.stat("a/b.txt");
 * if (stat?.size !== 5) throw new Error("unexpected size");
 * console.log(await new Response(await store.read("a/b.txt")).text()); // "hello"
 * rmSync(dir, { recursive: true, force: true });
 * ```
 */
export async function openStore(
  url: string | URL,
  opts: OpenStoreOptions = {},
): Promise<ReadStore | Store> {
  const u = storeUrl(url);
  if (u.protocol === "file:") {
    if (u.host !== "" && u.host !== "localhost") {
      throw new UsageError(`Cannot open "${u.href}": file URLs on another host are not supported`);
    }
    const local = fileURLToPath(u).replace(/(.)\/+$/, "$1");
    let st;
    try {
      st = statSync(local, { throwIfNoEntry: false });
    } catch (e) {
      const code = (e as { code?: string }).code;
      throw new UsageError(
        code === "ENOTDIR"
          ? `Cannot open the mirror "${local}": a part of that path is a file, not a directory`
          : `Cannot open the mirror "${local}": ${code === "EACCES" ? "permission denied" : code}`,
      );
    }
    if (st?.isFile()) {
      if (opts.writable) {
        throw new UsageError(
          `Cannot write to "${local}": it is a file, not a mirror directory (a mirror to ` +
            "write to is a directory or an s3:// URL; bundle files are read-only)",
        );
      }
      return BundleStore.open(local);
    }
    if (!st && !opts.writable) {
      throw new NotFoundError(
        `Cannot open the mirror "${local}": no such directory; check the path ` +
          `(a mirror is a directory, a spackle bundle file, or a URL)`,
      );
    }
    return new FileStore(u);
  }
  if (u.protocol === "https:" || u.protocol === "http:") {
    if (opts.writable) {
      throw new UsageError(
        `Cannot write to "${u.href}": https mirrors are read-only (push to file:// or s3:// instead)`,
      );
    }
    const store = new HttpsStore(u, {
      fetch: opts.fetch,
      http: opts.http,
      onRetry: opts.retry?.onRetry,
    });
    return opts.retry?.retries === 0 ? store : retryStore(store, opts.retry);
  }
  if (u.protocol === "memory:") {
    let m = memoryStores.get(u.href);
    if (!m) {
      m = new MemoryStore(u.href);
      memoryStores.set(u.href, m);
    }
    return m;
  }
  if (u.protocol === "s3:") {
    const { openS3Store } = await import("./s3.ts");
    return await openS3Store(u, opts.s3 ?? {}, {
      http: opts.http,
      retry: opts.retry,
      fetch: opts.fetch,
    });
  }
  if (u.protocol === "oci:" || u.protocol === "oci+http:") {
    const { openRegistryStore } = await import("./registry/open.ts");
    return openRegistryStore(u, opts.oci ?? opts.s3 ?? {}, {
      http: opts.http,
      retry: opts.retry,
      fetch: opts.fetch,
    });
  }
  throw new UsageError(
    `Unsupported mirror URL scheme "${u.protocol}" in "${u.href}": use a path, file://, https://, http://, s3://, oci:// or oci+http://`,
  );
}
