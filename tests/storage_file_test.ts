/** The store behaviour suite over the memory and file backends (and openStore of each). */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { FileStore } from "../src/storage/file.ts";
import { MemoryStore } from "../src/storage/memory.ts";
import { openStore } from "../src/storage/open.ts";
import { runStoreBehaviour } from "./storage_behaviour.ts";

runStoreBehaviour("memory", () => {
  const store = new MemoryStore();
  return Promise.resolve({
    store,
    seed: (p: string, b: Uint8Array) => store.write(p, b),
    cleanup: () => Promise.resolve(),
  });
}, { write: true, list: true, copy: true });

async function fileStore(viaOpen: boolean) {
  const root = await mkdtemp(join(tmpdir(), "spackle-store-"));
  const store = viaOpen ? await openStore(root) : new FileStore(pathToFileURL(root));
  return {
    store,
    async seed(p: string, b: Uint8Array) {
      await mkdir(dirname(join(root, p)), { recursive: true });
      await writeFile(join(root, p), b);
    },
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
}

runStoreBehaviour("file", () => fileStore(false), { write: true, list: true, place: true });
runStoreBehaviour("file (openStore of a plain path)", () => fileStore(true), {
  write: true,
  list: true,
  place: true,
});
