/** `spackle graph` and `report`/`serve` argument handling, as a user runs them. */
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fixture, HAVE_FIXTURES, REPO_ROOT } from "./_fixtures.ts";

async function spackle(...args: string[]) {
  const p = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(REPO_ROOT, "cli.ts"), ...args],
    env: { NO_COLOR: "1", SPACKLE_KEYRING: join(tmpdir(), "spackle-no-keyring-here") },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: p.code, stdout: dec.decode(p.stdout), stderr: dec.decode(p.stderr) };
}

const t = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, ignore: !HAVE_FIXTURES, fn });

t("graph prints DOT by default with edge types and virtuals, of v3 and v2 mirrors", async () => {
  const r = await spackle("graph", "-m", fixture("v3-unsigned"), "fooapp");
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^digraph "fooapp@3\.0\/iicodpd" \{/);
  assert.match(
    r.stdout,
    /"qxhycnksfks5oi3io5ajg3tr2xzvfrso" -> "irttwv2f4rzhheesshe6vsy3xw3ezk2h" \[label="build,link \(zz-api\)"/,
  );
  assert.match(
    r.stdout,
    /"iicodpd5dtmh5ijlchcoay25frkfkyuv" -> "ddk74w2rurmyrizbswgi6fj4tk2losox" \[label="run"/,
  );
  assert.match(
    r.stdout,
    /"f57lmd4dmdanikdfw3efel7doqszvgro" \[label="foo-buildtool@1\.0\\n\/f57lmd4", style="rounded,dashed"/,
  );
  assert.equal(r.stdout.match(/ -> /g)?.length, 5);
  const v2 = await spackle("graph", "-m", fixture("v2-unsigned"), "--mermaid", "libfoo");
  assert.equal(v2.code, 0, v2.stderr);
  assert.match(v2.stdout, /^flowchart TD\n/);
  assert.match(v2.stdout, /n0 -->\|"build,link \(zz-api\)"\| n\d/);
});

t(
  "graph --svg draws without Graphviz; --deptype keeps the chosen edges; --json has the graph",
  async () => {
    const r = await spackle("graph", "-m", fixture("v3-signed"), "--svg", "fooapp");
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /^<\?xml version="1\.0" encoding="UTF-8"\?>\n<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/,
    );
    assert.equal(r.stdout.match(/<g class="node/g)?.length, 5);
    assert.equal(r.stdout.match(/<g class="edge/g)?.length, 5);
    const run = await spackle("graph", "-m", fixture("v3-signed"), "--deptype", "run", "fooapp");
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout.match(/ -> /g)?.length, 1);
    const j = await spackle("--json", "graph", "-m", fixture("v3-signed"), "fooapp");
    const doc = JSON.parse(j.stdout);
    assert.equal(doc.root, "iicodpd5dtmh5ijlchcoay25frkfkyuv");
    assert.equal(doc.nodes.length, 5);
    assert.deepEqual(doc.edges.find((e: { virtuals: string[] }) => e.virtuals.length).virtuals, [
      "zz-api",
    ]);
  },
);

t("graph, report and serve refuse bad arguments with a clear message and exit 2", async () => {
  const bad = await spackle(
    "graph",
    "-m",
    fixture("v3-signed"),
    "--deptype",
    "link,bogus",
    "fooapp",
  );
  assert.equal(bad.code, 2);
  assert.match(
    bad.stderr,
    /--deptype takes a comma-separated list of build, link, run, test, not "bogus"/,
  );
  const both = await spackle("graph", "-m", fixture("v3-signed"), "--svg", "--mermaid", "fooapp");
  assert.equal(both.code, 2);
  const none = await spackle("report", "-m", fixture("v3-signed"));
  assert.equal(none.code, 2);
  assert.match(none.stderr, /exactly one of -o\/--output DIR and --into MIRROR/);
  const port = await spackle("serve", "-m", fixture("v3-signed"), "--port", "70000");
  assert.equal(port.code, 2);
  assert.match(port.stderr, /port number from 0 to 65535, not "70000"/);
});

t(
  "report -o refuses a directory holding other files and leaves it untouched; replaces an earlier report",
  async () => {
    const tmp = await mkdtemp(join(tmpdir(), "spackle-report-"));
    try {
      await writeFile(join(tmp, "precious.txt"), "keep");
      const r = await spackle("report", "-m", fixture("v3-unsigned"), "-o", tmp, "--no-verify");
      assert.equal(r.code, 2);
      assert.match(r.stderr, /not empty and holds no earlier report/);
      assert.deepEqual(await readdir(tmp), ["precious.txt"]);
      const site = join(tmp, "site");
      for (let i = 0; i < 2; i++) {
        const ok = await spackle("report", "-m", fixture("v3-unsigned"), "-o", site, "--no-verify");
        assert.equal(ok.code, 0, ok.stderr);
      }
      assert.deepEqual((await readdir(tmp)).sort(), ["precious.txt", "site"]);
      const index = await readFile(join(site, "index.html"), "utf8");
      assert.match(
        index,
        /<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'self'/,
      );
      assert.ok(!/<script>|<style>| style="| on[a-z]+="/.test(index), "no inline script or style");
      assert.equal(index.match(/<tr id="h-/g)?.length, 4);
      assert.match(index, /<span class="sig none">unsigned<\/span>/);
      const mirror = await readFile(join(site, "mirror.html"), "utf8");
      assert.match(mirror, /Not verified when this page was made/);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  },
);

Deno.test("the embedded browser script is up to date with src/web/browser.ts and what it imports", async () => {
  const p = await new Deno.Command(join(REPO_ROOT, "node_modules/.bin/bun"), {
    args: [join(REPO_ROOT, "scripts/build_web.ts"), "--check"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(p.code, 0, new TextDecoder().decode(p.stderr));
});
