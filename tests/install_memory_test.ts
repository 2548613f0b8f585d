/**
 * Install memory is bounded by the work in flight: once the plan of a many-package install is
 * made, the entries' spec DAGs it read are no longer held (a DAG holds every dependency's node,
 * so one kept per package grows with the packages times their depth). Runs under Bun, the
 * executable's runtime, whose full collection (`Bun.gc`) the check needs: a Bun script installs
 * a generated mirror, tracking every entry's spec with a WeakRef, and counts those still alive
 * after a full collection when the first package starts staging.
 */
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT } from "./_fixtures.ts";
import { generatedMirror } from "./_generated_mirror.ts";

const N = 120;

Deno.test("an install of many packages keeps no entry's spec DAG once it is planned", async () => {
  const dir = mkdtempSync(join(tmpdir(), "spackle-install-memory-"));
  try {
    await generatedMirror(dir, N);

    const script = join(dir, "probe.ts");
    writeFileSync(
      script,
      `import { installSpecs, openMirror } from ${JSON.stringify(join(REPO_ROOT, "mod.ts"))};
const mirror = await openMirror(${JSON.stringify(join(dir, "mirror"))});
const specs: WeakRef<object>[] = [];
const source = {
  resolve: mirror.resolve.bind(mirror),
  list: mirror.list.bind(mirror),
  indexNode: mirror.indexNode.bind(mirror),
  entry: async (hash: string, opts: unknown) => {
    const e = await mirror.entry(hash, opts as never);
    specs.push(new WeakRef(e.spec));
    return e;
  },
};
const roots = (await mirror.list()).map((r) => "/" + r.hash);
let alive = -1;
const res = await installSpecs(source, roots, {
  root: ${JSON.stringify(join(dir, "root"))},
  allowUnsigned: true,
  jobs: 2,
  onProgress: (p) => {
    if (p.phase !== "fetch" || alive >= 0) return;
    Bun.gc(true);
    alive = specs.filter((w) => w.deref() !== undefined).length;
  },
});
console.log(JSON.stringify({ read: specs.length, alive, installed: res.specs.filter((s) => s.installed).length }));
`,
    );
    const out = execFileSync(join(REPO_ROOT, "node_modules/.bin/bun"), ["run", script], {
      cwd: dir,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
    });
    const r = JSON.parse(out.trim().split("\n").pop()!);
    assert.equal(r.installed, N, out);
    assert.equal(
      r.read,
      N,
      `each package's entry is read once (roots that are dependencies too): ${out}`,
    );
    // A few may still be referenced from the stack or a pending read; not one per package.
    assert.ok(r.alive <= 8, `spec DAGs still alive after the plan: ${r.alive} of ${r.read}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
