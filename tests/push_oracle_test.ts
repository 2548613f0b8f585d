/**
 * Acceptance with real Spack: mirrors written by `spackle push` (unsigned, and signed with the
 * fixture key) and by `spackle migrate` are installed by Spack 1.2 through the oracle scripts,
 * and the trees Spack installs equal fixtures/expected.
 *
 * Runs only when `SPACKLE_ORACLE_SPACK_V3` names a Spack 1.2 work tree (and, for the v2
 * sources, `SPACKLE_ORACLE_SPACK_V2` a Spack 0.23 one) and the fixtures are present.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fixture, HAVE_FIXTURES, ORACLE } from "./_fixtures.ts";
import { compareTrees, type TreeEntry } from "./_install_tree.ts";
import { main } from "../src/cli/app.ts";

const SPACK_V3 = Deno.env.get("SPACKLE_ORACLE_SPACK_V3");
const SPACK_V2 = Deno.env.get("SPACKLE_ORACLE_SPACK_V2");
const HAVE_SPACK = HAVE_FIXTURES && !!SPACK_V3 && existsSync(join(SPACK_V3, "bin", "spack")) &&
  existsSync(join(ORACLE, "oracle-install.sh"));

/** Runs the oracle install of `mirror` into `dest`; returns the tree it dumped. */
function oracleInstall(mirror: string, dest: string, extra: string[] = []) {
  const tree = `${dest}.tree.json`;
  const env: Record<string, string> = { SPACK_V3: SPACK_V3! };
  if (SPACK_V2) env.SPACK_V2 = SPACK_V2;
  const out = new Deno.Command("bash", {
    args: [
      join(ORACLE, "oracle-install.sh"),
      "--check-fixtures",
      "--tree",
      tree,
      ...extra,
      mirror,
      dest,
    ],
    env,
  }).outputSync();
  const log = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, `oracle-install failed:\n${log.slice(-3000)}`);
  return JSON.parse(readFileSync(tree, "utf8")) as {
    prefixes: Record<string, { name: string; entries: TreeEntry[] }>;
  };
}

/** Compares Spack's install with fixtures/expected/<name>, prefix by prefix. */
function assertSameTrees(actual: ReturnType<typeof oracleInstall>, expectedFile: string) {
  const exp = JSON.parse(readFileSync(fixture("expected", expectedFile), "utf8")) as {
    prefixes: Record<string, { name: string; entries: TreeEntry[] }>;
  };
  assert.deepEqual(Object.keys(actual.prefixes).sort(), Object.keys(exp.prefixes).sort());
  for (const [k, e] of Object.entries(exp.prefixes)) {
    const diffs = compareTrees(e.entries, actual.prefixes[k].entries);
    assert.deepEqual(diffs, [], `${k}`);
  }
}

async function spackle(...args: string[]) {
  const code = await main(["--quiet", ...args]);
  assert.equal(code, 0, `spackle ${args.join(" ")} exited ${code}`);
}

/**
 * Installs fooapp from a fixture mirror with spackle into a deep root (Spack relocates
 * binaries only to prefixes that are not longer) and returns the root.
 */
async function installedTree(base: string, signed = false): Promise<string> {
  const root = join(base, "tree-" + "x".repeat(60));
  const from = signed
    ? ["-m", fixture("v3-signed"), "--key", fixture("keys", "oracle-test.pub.asc")]
    : ["-m", fixture("v3-unsigned"), "--allow-unsigned"];
  await spackle("install", ...from, "--root", root, "fooapp");
  return root;
}

for (const signed of [false, true]) {
  Deno.test({
    name: `Spack 1.2 installs what spackle pushed ${
      signed ? "signed with the fixture key" : "unsigned"
    } and gets the expected trees`,
    ignore: !HAVE_SPACK,
    async fn() {
      const base = await Deno.makeTempDir({ prefix: "sp-push-" });
      try {
        // round trip: spackle install (from the signed mirror when signing) -> spackle push
        const root = await installedTree(base, signed);
        const mirror = join(base, "mirror");
        const keyArgs = signed ? ["--key", fixture("keys", "oracle-test.sec.asc")] : ["--unsigned"];
        await spackle("push", "--root", root, "--update-index", ...keyArgs, mirror, "fooapp");
        const manifest = readFileSync(
          join(
            mirror,
            "v3/manifests/spec/libzz/libzz-1.2.3-irttwv2f4rzhheesshe6vsy3xw3ezk2h.spec.manifest.json",
          ),
          "utf8",
        );
        assert.equal(manifest.startsWith("-----BEGIN PGP SIGNED MESSAGE-----"), signed);
        const extra = signed
          ? ["--signed", "--key", fixture("keys", "oracle-test.pub.asc")]
          : ["--unsigned"];
        const tree = oracleInstall(mirror, join(base, "s"), extra);
        assertSameTrees(tree, "v3-install-tree.json");
      } finally {
        rmSync(base, { recursive: true, force: true });
      }
    },
  });
}

Deno.test({
  name: "Spack 1.2 installs what spackle pushed from prefix directories (no database)",
  ignore: !HAVE_SPACK,
  async fn() {
    const base = await Deno.makeTempDir({ prefix: "sp-push-" });
    try {
      const root = await installedTree(base);
      const mirror = join(base, "mirror");
      const app = join(root, "linux-x86_64", "fooapp-3.0-iicodpd5dtmh5ijlchcoay25frkfkyuv");
      await spackle("push", "--unsigned", mirror, app);
      await spackle("update-index", mirror);
      const tree = oracleInstall(mirror, join(base, "s"), ["--unsigned"]);
      assertSameTrees(tree, "v3-install-tree.json");
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  },
});

for (const kind of ["unsigned", "signed"] as const) {
  Deno.test({
    name: `Spack 1.2 installs what spackle migrate made of v2-${kind} and gets the expected trees`,
    ignore: !HAVE_SPACK,
    async fn() {
      const base = await Deno.makeTempDir({ prefix: "sp-migrate-" });
      try {
        const mirror = join(base, "mirror");
        const args = kind === "signed"
          ? [
            "--trust",
            fixture("keys", "oracle-test.pub.asc"),
            "--key",
            fixture("keys", "oracle-test.sec.asc"),
          ]
          : ["--unsigned"];
        await spackle("migrate", ...args, fixture(`v2-${kind}`), mirror);
        const extra = kind === "signed"
          ? ["--signed", "--layout", "v3", "--key", fixture("keys", "oracle-test.pub.asc")]
          : ["--unsigned", "--layout", "v3"];
        const tree = oracleInstall(mirror, join(base, "s"), extra);
        assertSameTrees(tree, "v2-install-tree-by-spack-v3.json");
      } finally {
        rmSync(base, { recursive: true, force: true });
      }
    },
  });
}

Deno.test({
  name: "spackle pushes from a real Spack store (its database) and Spack installs the result",
  ignore: !HAVE_SPACK,
  async fn() {
    const base = await Deno.makeTempDir({ prefix: "sp-push-" });
    try {
      // Spack installs the fixture packages into a store; spackle pushes from that store
      const store = join(base, "spack-store-" + "x".repeat(40));
      oracleInstall(fixture("v3-unsigned"), store, ["--unsigned"]);
      assert.ok(existsSync(join(store, ".spack-db", "index.json")));
      const mirror = join(base, "mirror");
      await spackle("push", "--unsigned", "--update-index", "--root", store, mirror, "fooapp");
      const tree = oracleInstall(mirror, join(base, "s"), ["--unsigned"]);
      assertSameTrees(tree, "v3-install-tree.json");
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  },
});
