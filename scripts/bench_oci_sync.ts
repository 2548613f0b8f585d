/**
 * Times `syncMirror` between a v3 directory and an OCI registry repository through the
 * library, and counts the registry requests: directory -> registry, the same again (a no-op),
 * registry -> a new directory, the same again. Prints one JSON line per run.
 *
 *   deno run -A scripts/bench_oci_sync.ts SRC_DIR oci://HOST/REPO DEST_DIR [--jobs N] [--ca-file F]
 */
import { syncMirror } from "../src/mirror/sync.ts";
import { openStore } from "../src/storage/open.ts";
import type { RegistryStore } from "../src/storage/registry/store.ts";
import type { Store } from "../src/storage/store.ts";

const args = Deno.args.filter((a) => !a.startsWith("--"));
const flag = (n: string) => {
  const i = Deno.args.indexOf(n);
  return i >= 0 ? Deno.args[i + 1] : undefined;
};
const [src, reg, dest] = args.filter((a) => a !== flag("--jobs") && a !== flag("--ca-file"));
const jobs = Number(flag("--jobs") ?? 8);
const http = { caFile: flag("--ca-file") };

async function run(label: string, from: string, to: string) {
  const a = await openStore(from, { http });
  const b = await openStore(to, { http, writable: true });
  const t0 = performance.now();
  const r = await syncMirror(a, b as Store, { jobs });
  const secs = (performance.now() - t0) / 1000;
  const reg = ((a as RegistryStore).registry ? a : b) as RegistryStore;
  const entries = r.entries.length;
  console.log(JSON.stringify({
    run: label,
    seconds: Number(secs.toFixed(2)),
    entries,
    copied: r.entries.filter((e) => e.status === "copied").length,
    present: r.entries.filter((e) => e.status === "present").length,
    blobsCopied: r.blobsCopied,
    bytesCopied: r.bytesCopied,
    registryRequests: reg.client.stats.requests,
    requestsPerEntry: Number((reg.client.stats.requests / entries).toFixed(2)),
    indexRewritten: r.indexSpecs !== undefined,
  }));
}

await run("dir -> registry", src, reg);
await run("dir -> registry (again: no-op)", src, reg);
await run("registry -> dir", reg, dest);
await run("registry -> dir (again: no-op)", reg, dest);
