/**
 * The CacheReader behaviour suite over the v3 and v2 readers, each on an unsigned and a signed
 * mirror written by real Spack (copied, so that the tamper check can change a tarball).
 */
import { cp, mkdtemp, open, readFile, rm } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fixture, HAVE_FIXTURES } from "./_fixtures.ts";
import { FileStore } from "../src/storage/file.ts";
import { storeUrl } from "../src/storage/open.ts";
import { V2Reader } from "../src/layout/v2/reader.ts";
import { V3Reader } from "../src/layout/v3/reader.ts";
import { verifierFromKeys } from "../src/mirror/trusted_keys.ts";
import {
  type ReaderUnderTest,
  runCacheReaderBehaviour,
} from "../src/testing/cache_reader_suite.ts";

const FPR = "4D782899AF51B814967AC6DE6EE87675E657CA38";

interface FixtureMirror {
  signed: boolean;
  specs: { name: string; version: string; hash: string }[];
}
const mirrors: Record<string, FixtureMirror> = HAVE_FIXTURES
  ? JSON.parse(readFileSync(fixture("fixtures.json"), "utf8")).mirrors
  : {};

function reader(layout: 2 | 3, name: string): () => Promise<ReaderUnderTest> {
  return async () => {
    const m = mirrors[name];
    const dir = await mkdtemp(join(tmpdir(), "spackle-reader-"));
    await cp(fixture(name), dir, { recursive: true });
    const store = new FileStore(storeUrl(dir));
    const verifier = await verifierFromKeys([
      await readFile(fixture("keys/oracle-test.pub.asc"), "utf8"),
    ]);
    return {
      reader: layout === 3 ? new V3Reader(store, { verifier }) : new V2Reader(store, { verifier }),
      specs: m.specs,
      signed: m.signed,
      keys: m.signed ? [FPR] : [],
      async corrupt(path: string) {
        const fh = await open(join(dir, path), "r+");
        try {
          const b = new Uint8Array(1);
          await fh.read(b, 0, 1, 100);
          b[0] ^= 0xff;
          await fh.write(b, 0, 1, 100);
        } finally {
          await fh.close();
        }
      },
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  };
}

for (
  const [layout, name] of [[3, "v3-unsigned"], [3, "v3-signed"], [2, "v2-unsigned"], [
    2,
    "v2-signed",
  ]] as const
) {
  runCacheReaderBehaviour(`v${layout} (${name})`, reader(layout, name), { ignore: !HAVE_FIXTURES });
}
