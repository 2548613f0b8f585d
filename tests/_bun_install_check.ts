/**
 * Run by tests/install_bun_test.ts under Bun (the executable's runtime, whose zlib binding
 * gunzipReader() drives directly): installs fooapp from a fixture mirror into a new root, then
 * tries a copy of the mirror with its largest blob corrupted, and prints one JSON line.
 *
 * @module
 */
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { gunzipReader, gzipBytes } from "../src/core/gzip.ts";
import { streamOf } from "../src/core/streams.ts";
import { installSpecs } from "../src/install/mod.ts";
import { openMirror } from "../src/layout/open.ts";

const [mirror, root] = process.argv.slice(2);
const reader = gunzipReader(streamOf(gzipBytes("x")));
const ring = reader.constructor.name;
await reader.cancel();
const res = await installSpecs(await openMirror(mirror), ["fooapp"], {
  root,
  allowUnsigned: true,
  jobs: 2,
  threadPoolFrom: 0, // the fixtures' tarballs are small: the thread-pool paths for every one
});
const specs = res.specs.map((s) => ({ name: s.name, prefix: s.prefix }));

// The largest file of the mirror (a tarball) with one byte changed in its middle.
const bad = mkdtempSync(join(tmpdir(), "sp-bun-bad-"));
const badRoot = join(bad, "root");
let corrupt = "";
let left: string[] = [];
try {
  cpSync(mirror, join(bad, "mirror"), { recursive: true });
  const files: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else files.push(join(d, e.name));
    }
  };
  walk(join(bad, "mirror"));
  const big = files.map((p) => ({ p, b: readFileSync(p) }))
    .sort((a, b) => b.b.length - a.b.length)[0];
  big.b[big.b.length >> 1] ^= 0xff;
  writeFileSync(big.p, big.b);
  try {
    await installSpecs(await openMirror(join(bad, "mirror")), ["fooapp"], {
      root: badRoot,
      allowUnsigned: true,
      threadPoolFrom: 0,
    });
  } catch (e) {
    corrupt = `${(e as Error).constructor.name}: ${(e as Error).message}`;
  }
  const projected = join(badRoot, "linux-x86_64");
  left = existsSync(projected) ? readdirSync(projected) : [];
} finally {
  rmSync(bad, { recursive: true, force: true });
}
console.log(
  JSON.stringify({ runtime: process.versions.bun ? "bun" : "other", ring, specs, corrupt, left }),
);
