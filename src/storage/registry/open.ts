/**
 * Opens an oci:// or oci+http:// mirror as a RegistryStore from store settings: the
 * `--oci-*` flags (`username`, `usernameVariable`, `passwordVariable`), the mirror's
 * configuration (`access_pair`, `access_token`, `access_token_variable`), a debug `log`, the
 * upload `chunkSize`.
 *
 * @module
 */
import type { HttpOptions } from "../http_client.ts";
import type { RetryOptions } from "../retry.ts";
import { registryCredentials } from "./credentials.ts";
import { RegistryStore } from "./store.ts";

function str(v: unknown): string | undefined {
  return typeof v === "string" && v !== "" ? v : undefined;
}

/** A RegistryStore for `url` with credentials resolved from `settings` (see the module doc). */
export function openRegistryStore(
  url: URL | string,
  settings: Record<string, unknown>,
  opts: { http?: HttpOptions; retry?: RetryOptions; fetch?: typeof fetch } = {},
): RegistryStore {
  const log = typeof settings.log === "function"
    ? settings.log as (line: string) => void
    : undefined;
  const origin = settings.origin as Record<string, string> | undefined;
  const mirrorName = str(settings.mirrorName) ??
    /^mirror "(.*)"$/.exec(origin?.accessPair ?? "")?.[1];
  return RegistryStore.open(url, {
    http: opts.http,
    fetch: opts.fetch,
    retry: opts.retry,
    log: log ? (l) => log(l.replace(/^registry /, "")) : undefined,
    chunkSize: typeof settings.chunkSize === "number" ? settings.chunkSize : undefined,
    credentials: registryCredentials({
      username: str(settings.ociUsername),
      usernameVariable: str(settings.ociUsernameVariable),
      passwordVariable: str(settings.ociPasswordVariable),
      mirror: settings,
      mirrorName: mirrorName === "?" ? undefined : mirrorName,
      env: settings.env as Record<string, string | undefined> | undefined,
    }),
  });
}
