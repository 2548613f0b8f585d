/**
 * Install memory is bounded by the work in flight: once the plan of a many-package install is
 * made, the entries' spec DAGs it read are no longer held (a DAG holds every dependency's node,
 * so one kept per package grows with the packages times their depth), and what each planned
 * package keeps until its turn is a few dozen objects. Runs under Bun, the executable's
 * runtime, whose full collection (`Bun.gc`) and heap statistics the checks need: Bun scripts
 * install generated mirrors and look at the heap after a full collection when the first
 * package starts staging.
 */
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT } from "./_fixtures.ts";
import { generatedMirror } from "./_generated_mirror.ts";

const N = 120;
/**
 * Objects a planned package may keep (its job, prefix lock, relocation record and its index
 * reference): about 35. Each held about 65 when a prefix lock kept its whole frame, a record
 * an object per dependency, and concatenated strings their pieces.
 */
const PER_PACKAGE = 45;

/**
 * Runs a Bun script (written to `dir/probe.ts`) and gives the JSON of its last line of output,
 * with that output for messages.
 */
function bunProbe<T = Record<string, number>>(dir: string, script: string): { r: T; out: string } {
  const file = join(dir, "probe.ts");
  writeFileSync(file, script);
  const out = execFileSync(join(REPO_ROOT, "node_modules/.bin/bun"), ["run", file], {
    cwd: dir,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  return { r: JSON.parse(out.trim().split("\n").pop()!), out };
}

Deno.test("an install of many packages keeps no entry's spec DAG once it is planned", async () => {
  const dir = mkdtempSync(join(tmpdir(), "spackle-install-memory-"));
  try {
    await generatedMirror(dir, N);

    const { r, out } = bunProbe(
      dir,
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

/** The heap's objects after a full collection when the first of `n` packages starts staging. */
async function objectsWhenPlanned(dir: string, n: number): Promise<number> {
  await generatedMirror(dir, n);
  const { r, out } = bunProbe(
    dir,
    `import { installSpecs, openMirror } from ${JSON.stringify(join(REPO_ROOT, "mod.ts"))};
import { heapStats } from "bun:jsc";
const mirror = await openMirror(${JSON.stringify(join(dir, "mirror"))});
const roots = (await mirror.list()).map((r) => "/" + r.hash);
let objects = -1;
const res = await installSpecs(mirror, roots, {
  root: ${JSON.stringify(join(dir, "root"))},
  allowUnsigned: true,
  jobs: 2,
  onProgress: (p) => {
    if (p.phase !== "fetch" || objects >= 0) return;
    Bun.gc(true);
    objects = heapStats().objectCount;
  },
});
console.log(JSON.stringify({ objects, installed: res.specs.filter((s) => s.installed).length }));
`,
  );
  assert.equal(r.installed, n, out);
  return r.objects;
}

Deno.test("a planned package keeps a few dozen objects until its turn", async () => {
  const dir = mkdtempSync(join(tmpdir(), "spackle-install-objects-"));
  try {
    // The difference between two sizes: what the runtime and the code hold cancels out.
    const small = await objectsWhenPlanned(join(dir, "small"), 40);
    const big = await objectsWhenPlanned(join(dir, "big"), 240);
    const each = (big - small) / 200;
    console.log(`objects: ${small} for 40 packages, ${big} for 240: ${each.toFixed(1)} each`);
    assert.ok(each > 0, `the count grows with the packages: ${small}, ${big}`);
    assert.ok(each <= PER_PACKAGE, `${each.toFixed(1)} objects a planned package`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

Deno.test("flatString resolves a concatenation and a slice in Bun", () => {
  const dir = mkdtempSync(join(tmpdir(), "spackle-flat-string-"));
  const script = `import { isRope } from "bun:jsc";
import { flatString } from ${JSON.stringify(join(REPO_ROOT, "src/core/memory_pacer.ts"))};
const long = "x".repeat(200) + Math.random();
const joined = \`\${long}/\${long.slice(0, 50)}\`;
const cut = long.slice(3, 150);
const before = [isRope(joined), isRope(cut)];
const same = flatString(joined) === joined && flatString(cut) === cut && flatString("") === "";
console.log(JSON.stringify({ before, after: [isRope(joined), isRope(cut)], same }));
`;
  try {
    const { r } = bunProbe<{ before: boolean[]; after: boolean[]; same: boolean }>(dir, script);
    assert.deepEqual(r.before, [true, true], "the engine keeps both as pieces or views");
    assert.deepEqual(r.after, [false, false], "flatString resolves both");
    assert.equal(r.same, true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
