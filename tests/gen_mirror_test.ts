/** scripts/gen_mirror.ts writes v3 mirrors the readers accept (for the measurements). */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT } from "./_fixtures.ts";
import { drain } from "../src/core/streams.ts";
import { openMirror } from "../src/layout/mod.ts";

Deno.test("gen_mirror writes N specs that list, resolve, fetch and verify", async () => {
  const dir = await mkdtemp(join(tmpdir(), "spackle-gen-"));
  try {
    const p = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", join(REPO_ROOT, "scripts/gen_mirror.ts"), dir, "25"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(p.code, 0, new TextDecoder().decode(p.stderr));
    const mirror = await openMirror(dir);
    const refs = await mirror.list();
    assert.equal(refs.length, 25);
    const last = await mirror.resolve("pkg00024");
    const closure = await mirror.closure(last.hash);
    assert.equal(closure.length, 25);
    for (const r of closure) {
      const e = await mirror.entry(r.hash, { requireSignature: false });
      assert.equal(await drain(await e.openTarball()), e.tarball.size);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

Deno.test("gen_mirror --tarball-bytes makes each tarball that much larger", async () => {
  const dir = await mkdtemp(join(tmpdir(), "spackle-gen-"));
  try {
    const p = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        join(REPO_ROOT, "scripts/gen_mirror.ts"),
        dir,
        "3",
        "--tarball-bytes=5000",
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(p.code, 0, new TextDecoder().decode(p.stderr));
    const mirror = await openMirror(dir);
    for (const r of await mirror.list()) {
      const e = await mirror.entry(r.hash, { requireSignature: false });
      assert.ok(e.tarball.size > 5000, `${r.name}: ${e.tarball.size} bytes`);
      assert.equal(await drain(await e.openTarball()), e.tarball.size);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
