import assert from "node:assert/strict";
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { sha256Hex } from "../core/digest.ts";
import { IntegrityError } from "../errors.ts";
import { FileStore } from "../storage/file.ts";
import { readIndexBlob } from "./_index.ts";
import type { Descriptor } from "./types.ts";

/** A version 8 index of `n` records, several batches long (with an installation time). */
function index(n: number, tag = "") {
  const b32 = "abcdefghijklmnopqrstuvwxyz234567";
  const h = (i: number) =>
    "q".repeat(26) + [...i.toString(32).padStart(6, "0")].map((c) => b32[parseInt(c, 32)]).join("");
  const installs: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) {
    installs[h(i)] = {
      spec: {
        name: `p${i}`,
        version: `1.${i}`,
        arch: { platform: "linux", platform_os: "debian12", target: "x86_64" },
        parameters: { note: tag + "x".repeat(400) },
        hash: h(i),
      },
      ref_count: 0,
      in_buildcache: true,
      installation_time: 1.7e9 + i,
    };
  }
  return {
    bytes: new TextEncoder().encode(JSON.stringify({ database: { version: "8", installs } })),
    h,
  };
}

function descriptor(bytes: Uint8Array): Descriptor {
  return {
    mediaType: "application/vnd.spack.db.v8+json",
    checksum: sha256Hex(bytes),
    checksumAlgorithm: "sha256",
    size: bytes.length,
    compression: "none",
  };
}

Deno.test("an index blob streams from a local store; nodes are read back by offset, refused once the file changed", async () => {
  const dir = mkdtempSync(join(tmpdir(), "spackle-index-"));
  try {
    const store = new FileStore(pathToFileURL(dir));
    const { bytes, h } = index(4000);
    assert.ok(bytes.length > 4 * (256 << 10));
    writeFileSync(join(dir, "index.json"), bytes);
    const d = descriptor(bytes);
    const idx = await readIndexBlob(store, "index.json", d, 3, "index blob");
    assert.equal(idx.refs.length, 4000);
    assert.deepEqual(idx.refs[3999], {
      name: "p3999",
      version: "1.3999",
      hash: h(3999),
      arch: "linux-debian12-x86_64",
      compiler: undefined,
      inBuildcache: true,
      layout: 3,
      installedAt: 1.7e9 + 3999,
    });
    assert.equal(idx.node(h(10))!.name, "p10");
    assert.equal(idx.node(h(3990))!.version, "1.3990");
    // The same size, other bytes, another modification time: what was read is not that file.
    writeFileSync(join(dir, "index.json"), index(4000, "y").bytes.subarray(0, bytes.length));
    utimesSync(join(dir, "index.json"), new Date(1e12), new Date(1e12));
    assert.throws(() => idx.node(h(2000)), /Cannot read index blob again: it changed/);
    // A blob that is not what its descriptor says is refused, whatever parsed before.
    writeFileSync(join(dir, "index.json"), bytes);
    const wrong = { ...d, checksum: sha256Hex(new Uint8Array([1])) };
    await assert.rejects(
      readIndexBlob(store, "index.json", wrong, 3, "index blob"),
      IntegrityError,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
