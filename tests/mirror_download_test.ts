/** The library's download (`specsToDownload`, `downloadSpecs`) on the fixture mirrors. */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { downloadSpecs, openMirrors, specsToDownload } from "../mod.ts";
import { fixture, HAVE_FIXTURES } from "./_fixtures.ts";

const t = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, ignore: !HAVE_FIXTURES, fn });

t("downloadSpecs writes a spec's closure verified, at the mirror's paths", async () => {
  const to = await mkdtemp(join(tmpdir(), "sp-lib-dl-"));
  try {
    const mirrors = await openMirrors([fixture("v3-unsigned")]);
    const plan = await specsToDownload(mirrors, ["fooapp"], { deps: true });
    const root = plan.refs.find((r) => r.name === "fooapp");
    assert.ok(root && plan.refs.some((r) => r.name === "libfoo"), "the closure is included");
    assert.equal(plan.rootQueries.get(root.hash), "fooapp");
    assert.equal(new Set(plan.refs.map((r) => r.hash)).size, plan.refs.length, "each once");
    const seen: string[] = [];
    const r = await downloadSpecs(mirrors, plan.refs, {
      to,
      requireSignature: false,
      rootQueries: plan.rootQueries,
      onSpec: (s) => seen.push(s.name),
    });
    assert.deepEqual(r.specs.map((s) => s.name), plan.refs.map((x) => x.name));
    assert.deepEqual(seen.sort(), plan.refs.map((x) => x.name).sort());
    assert.equal(r.warnings.length, plan.refs.length, "one warning per unsigned spec");
    let total = 0;
    for (const s of r.specs) {
      const tarball = s.files.find((f) => f.path.startsWith("blobs/") && f.sha256 && f.verified);
      assert.ok(tarball, `${s.name} has a verified blob`);
      for (const f of s.files) {
        const data = await readFile(join(to, f.path));
        assert.equal(data.byteLength, f.size);
        if (f.sha256) assert.equal(createHash("sha256").update(data).digest("hex"), f.sha256);
        total += f.size;
      }
    }
    assert.equal(r.bytes, total);
    assert.ok(!(await readdir(to, { recursive: true })).some((p) => p.includes(".part-")));
  } finally {
    await rm(to, { recursive: true, force: true });
  }
});

t("downloadSpecs leaves nothing behind when one blob is corrupt", async () => {
  const mirror = await mkdtemp(join(tmpdir(), "sp-lib-dl-m-"));
  const to = await mkdtemp(join(tmpdir(), "sp-lib-dl-"));
  try {
    await new Deno.Command("cp", { args: ["-a", fixture("v3-unsigned") + "/.", mirror] })
      .output();
    const blob = join(
      mirror,
      "blobs/sha256/66/668d1a36b7d4a007b7e1d92bd8fbf69a30569cc2c56008551f4c464c87a2894c",
    );
    const data = await readFile(blob);
    data[data.length - 12] ^= 0xff;
    await writeFile(blob, data);
    await writeFile(join(to, "keep"), "x");
    const mirrors = await openMirrors([mirror]);
    const plan = await specsToDownload(mirrors, ["fooapp"], { deps: true });
    // A run all fails: nothing but what the directory had before stays.
    await assert.rejects(
      downloadSpecs(mirrors, plan.refs, { to, jobs: 1, requireSignature: false }),
      /668d1a36/,
    );
    assert.deepEqual(await readdir(to), ["keep"]);
  } finally {
    await rm(mirror, { recursive: true, force: true });
    await rm(to, { recursive: true, force: true });
  }
});
