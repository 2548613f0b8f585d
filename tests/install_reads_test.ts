/**
 * How many metadata reads the plan of an install keeps in flight: many for a remote mirror
 * (its latency is hidden), a few for a local one (spec files carry whole DAGs: fewer are then
 * parsed at once). A store that delays each spec manifest read shows the most in flight.
 */
import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { installSpecs, openMirror } from "../mod.ts";
import { generatedMirror } from "./_generated_mirror.ts";
import type { ReadStore, Store } from "../src/storage/store.ts";

const N = 120;

/** `base` read as from `url`, recording the most spec manifest reads in flight at once. */
function delayed(base: Store, url: URL) {
  const seen = { inFlight: 0, most: 0 };
  const store: ReadStore = {
    url,
    stat: base.stat.bind(base),
    list: base.list!.bind(base),
    read: async (path, o) => {
      if (!path.endsWith(".spec.manifest.json")) return await base.read(path, o);
      seen.most = Math.max(seen.most, ++seen.inFlight);
      try {
        await new Promise((r) => setTimeout(r, 5));
        return await base.read(path, o);
      } finally {
        seen.inFlight--;
      }
    },
  };
  return { store, seen };
}

Deno.test("the plan reads 16 spec manifests at once from a local mirror, more from a remote one", async () => {
  const dir = mkdtempSync(join(tmpdir(), "spackle-install-reads-"));
  try {
    const { names, store: base } = await generatedMirror(dir, N);
    const most: Record<string, number> = {};
    const kinds: [string, URL][] = [["local", base.url], ["remote", new URL("x-remote://mirror/")]];
    for (const [kind, url] of kinds) {
      const { store, seen } = delayed(base, url);
      const res = await installSpecs(await openMirror(store), names, {
        root: join(dir, `root-${kind}`),
        allowUnsigned: true,
      });
      assert.equal(res.specs.filter((s) => s.installed).length, N, kind);
      most[kind] = seen.most;
    }
    assert.ok(most.local > 1 && most.local <= 16, `local: ${most.local} reads in flight`);
    assert.ok(most.remote > 16, `remote: ${most.remote} reads in flight`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
