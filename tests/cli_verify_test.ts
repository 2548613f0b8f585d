/** `spackle verify` as a user runs it: exit flags, --json report, human output. */
import assert from "node:assert/strict";
import { cp, mkdtemp, readFile, rm, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fixture, HAVE_FIXTURES } from "./_fixtures.ts";
import { runCli } from "./_cli.ts";

function spackle(...args: string[]) {
  return runCli(args);
}

const t = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, ignore: !HAVE_FIXTURES, fn });

t("spackle verify exits 0 on a sound signed mirror and reports verified signatures", async () => {
  const r = await spackle(
    "verify",
    fixture("v3-signed"),
    "--key",
    fixture("keys/oracle-test.pub.asc"),
  );
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /4 entries, 11 blobs.*signatures: 4 verified/);
  assert.match(r.stderr, /no problems found/);
});

t(
  "spackle verify sets the corrupt and inconsistent flags and --json carries the findings",
  async () => {
    const root = await mkdtemp(join(tmpdir(), "spackle-cli-verify-"));
    try {
      await cp(fixture("v3-unsigned"), root, { recursive: true });
      const blob = join(
        root,
        "blobs/sha256/45/4590a986d375a913d79b7f5d89235ea5cbde27eed5e499e0d936385755da68da",
      );
      const b = await readFile(blob);
      b[b.length - 1] ^= 0xff;
      await writeFile(blob, b);
      await unlink(
        join(
          root,
          "v3/manifests/spec/foodata/foodata-1.0-ddk74w2rurmyrizbswgi6fj4tk2losox.spec.manifest.json",
        ),
      );
      const r = await spackle("--json", "verify", root, "--jobs", "2");
      assert.equal(r.code, 4 | 32, r.stderr);
      const report = JSON.parse(r.stdout);
      const codes = report.findings.filter((f: { kind: string }) => f.kind !== "notice")
        .map((f: { code: string; spec: string }) => `${f.code} ${f.spec}`).sort();
      assert.deepEqual(codes, [
        "digest_mismatch fooapp@3.0/iicodpd5dtmh5ijlchcoay25frkfkyuv",
        "index_entry_without_metadata foodata@1.0/ddk74w2rurmyrizbswgi6fj4tk2losox",
      ]);
      assert.equal(report.flags, 36);
      const human = await spackle("verify", root);
      assert.equal(human.code, 36);
      assert.match(human.stdout, /^corrupt\s+digest_mismatch\s+The tarball blob/m);
      assert.match(human.stderr, /2 problem\(s\) found/);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  },
);

t("spackle verify --require-signatures flags unsigned entries as untrusted (8)", async () => {
  const r = await spackle("verify", fixture("v2-unsigned"), "--require-signatures");
  assert.equal(r.code, 8, r.stderr);
  assert.equal(r.stdout.trim().split("\n").length, 4);
});

t("spackle verify --help documents the exit flags", async () => {
  const r = await spackle("verify", "--help");
  assert.equal(r.code, 0);
  for (const s of ["4  corrupt", "8  untrusted", "16  unreachable", "32  inconsistent"]) {
    assert.ok(r.stdout.includes(s), s);
  }
});
