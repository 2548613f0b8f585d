/** The store behaviour suite over BundleStore (read-only: objects are seeded by rewriting the file). */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BundleStore, writeBundle } from "../src/storage/bundle.ts";
import { openStore } from "../src/storage/open.ts";
import { runStoreBehaviour } from "../src/testing/store_suite.ts";

async function bundleStore(viaOpen: boolean) {
  const dir = await mkdtemp(join(tmpdir(), "spackle-bundle-store-"));
  const file = join(dir, "test.bundle");
  const objects = new Map<string, Uint8Array>();
  const reopen = async () => {
    const items = [...objects].map(([path, bytes]) => ({
      path,
      size: bytes.byteLength,
      open: () => ReadableStream.from([bytes]),
    }));
    await writeBundle(file, items);
    return viaOpen ? await openStore(file) : BundleStore.open(file);
  };
  let store = await reopen();
  return {
    get store() {
      return store;
    },
    async seed(path: string, bytes: Uint8Array) {
      objects.set(path, bytes);
      store = await reopen();
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

runStoreBehaviour("bundle", () => bundleStore(false), { write: false, list: true });
runStoreBehaviour("bundle (openStore of a bundle file)", () => bundleStore(true), {
  write: false,
  list: true,
});
