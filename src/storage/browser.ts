/**
 * The storage a browser page can use: a same-origin https (or http) mirror read through fetch,
 * without the proxy and CA settings of the Node-side client. The web view's browser bundle opens
 * mirrors through this instead of `openStore`, which also loads the file and s3 backends.
 *
 * @module
 */
import { HttpsStore } from "./http_store.ts";
import type { ReadStore } from "./store.ts";

/** A read-only store over `url` for a page: no proxies from the environment, no resumes. */
export function openPageStore(url: URL): ReadStore {
  return new HttpsStore(url, { http: { proxy: false, env: {} }, maxResumes: 0 });
}
