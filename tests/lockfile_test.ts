/**
 * Spack environment lock files: parsing formats 3 to 6, the bad inputs, and `--lockfile`/`-e`
 * on install, bundle, download, sync, verify, prune and push (with Spack 1.2 reading the lock
 * and the installed tree when available).
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fixture, HAVE_FIXTURES, ORACLE } from "./_fixtures.ts";
import { compareWithExpected } from "./_install_fixtures.ts";
import { fixtureLock, HAVE_SPACK, run, spack, V3_HASHES, writeEnv } from "./_lockfile.ts";
import { lockfileClosure, parseLockfile } from "../src/index/lockfile.ts";
import { parseKeepFile } from "../src/mirror/prune.ts";

const SPACK_V3 = Deno.env.get("SPACKLE_ORACLE_SPACK_V3");
const tmp = (p: string) => mkdtempSync(join(tmpdir(), `spackle-lock-${p}-`));
const M = () => ["-m", fixture("v3-unsigned"), "--allow-unsigned"];

/** A node no mirror has (a root of its own). */
const GHOST = {
  name: "ghost",
  version: "1.0",
  arch: { platform: "linux", platform_os: "debian12", target: "x86_64" },
  namespace: "fixtures",
  parameters: { build_system: "generic" },
  hash: "a".repeat(32),
};

function installedHashes(root: string): Record<string, boolean> {
  const db = JSON.parse(readFileSync(join(root, ".spack-db", "index.json"), "utf8"));
  const out: Record<string, boolean> = {};
  for (
    const [h, r] of Object.entries(db.database.installs as Record<string, { explicit: boolean }>)
  ) {
    out[h] = r.explicit;
  }
  return out;
}

Deno.test({
  name: "parseLockfile reads formats 3 to 6: roots, every concrete spec, the runtime closure",
  ignore: !HAVE_FIXTURES,
  fn() {
    for (const v of [3, 4, 5, 6]) {
      const doc = fixtureLock();
      (doc._meta as Record<string, number>)["lockfile-version"] = v;
      const lock = parseLockfile(JSON.stringify(doc));
      assert.equal(lock.version, v);
      assert.deepEqual(lock.roots, [{ hash: V3_HASHES.fooapp, spec: "fooapp" }]);
      assert.deepEqual([...lock.dag.nodes.keys()].sort(), Object.values(V3_HASHES).sort());
      assert.deepEqual(
        lockfileClosure(lock).map((n) => n.name),
        ["foodata", "libzz", "libfoo", "fooapp"],
      );
      assert.equal(lockfileClosure(lock, { all: true }).length, 4); // the external is left out
    }
    // A lock file is a keep file of prune (every concrete spec).
    assert.equal(parseKeepFile(JSON.stringify(fixtureLock())).size, 5);
  },
});

Deno.test({
  name: "parseLockfile reads Spack's own format-3 lock (build-hash keys) and refuses formats 1-2",
  ignore: !SPACK_V3 || !existsSync(join(SPACK_V3 ?? "", "lib/spack/spack/test/data/legacy_env")),
  fn() {
    const dir = join(SPACK_V3!, "lib/spack/spack/test/data/legacy_env");
    const lock = parseLockfile(readFileSync(join(dir, "v3.lock"), "utf8"));
    // Two roots with the same DAG hash are one, as Spack's first_seen makes them.
    assert.deepEqual(lock.roots.map((r) => r.hash), ["m5m2tbnyh2xnjd4nzwiuobvpk2wn4wix"]);
    const names = lockfileClosure(lock).map((n) => n.name).sort();
    assert.deepEqual(names, [
      "dtlink1",
      "dtlink3",
      "dtlink4",
      "dtlink5",
      "dtrun1",
      "dtrun3",
      "dttop",
    ]);
    for (const v of ["v1", "v2"]) {
      assert.throws(
        () => parseLockfile(readFileSync(join(dir, `${v}.lock`), "utf8"), "L"),
        /Cannot read L: lock file format [12] is not supported \(formats 3 to 6/,
      );
    }
  },
});

Deno.test({
  name: "parseLockfile refuses bad lock files with clear errors",
  ignore: !HAVE_FIXTURES,
  fn() {
    assert.throws(() => parseLockfile("{not json", "L"), /Cannot parse L: not JSON/);
    assert.throws(() => parseLockfile("[]", "L"), /Cannot read L: not a JSON object/);
    assert.throws(() => parseLockfile("{}", "L"), /no "_meta.lockfile-version"/);
    const v7 = fixtureLock();
    (v7._meta as Record<string, number>)["lockfile-version"] = 7;
    assert.throws(
      () => parseLockfile(JSON.stringify(v7), "L"),
      /lock file format 7 is not supported \(formats 3 to 6 are; it was written by a newer Spack\)/,
    );
    const noRoot = fixtureLock(["fooapp"], { roots: [{ hash: "b".repeat(32), spec: "lost" }] });
    assert.throws(
      () => parseLockfile(JSON.stringify(noRoot), "L"),
      /1 root\(s\) missing from "concrete_specs": lost \(bbbbbbbb/,
    );
    const dangling = fixtureLock();
    delete (dangling.concrete_specs as Record<string, unknown>)[V3_HASHES.libzz];
    assert.throws(
      () => parseLockfile(JSON.stringify(dangling), "L"),
      /depends on "libzz" \(irttwv2f4rzhheesshe6vsy3xw3ezk2h\), which is not in "concrete_specs"/,
    );
  },
});

Deno.test({
  name: "install --lockfile / -e installs the roots' closure as Spack does, roots explicit",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const d = tmp("install");
    try {
      const env = writeEnv(join(d, "env"), fixtureLock());
      const root = join(d, "tree-" + "x".repeat(40));
      const r = await run("install", ...M(), "--root", root, "--lockfile", join(env, "spack.lock"));
      assert.equal(r.code, 0, r.stderr);
      const got = installedHashes(root);
      assert.deepEqual(got, {
        [V3_HASHES.foodata]: false,
        [V3_HASHES.libzz]: false,
        [V3_HASHES.libfoo]: false,
        [V3_HASHES.buildtool]: false,
        [V3_HASHES.fooapp]: true,
      });
      const specs = ["foodata", "libzz", "libfoo", "fooapp"].map((name) => {
        const h = V3_HASHES[name as keyof typeof V3_HASHES];
        return {
          name,
          prefix: join(
            root,
            "linux-x86_64",
            `${name}-${
              name === "libzz"
                ? "1.2.3"
                : name === "libfoo"
                ? "2.0"
                : name === "fooapp"
                ? "3.0"
                : "1.0"
            }-${h}`,
          ),
        };
      });
      assert.deepEqual(compareWithExpected(3, root, specs), []);
      // -e DIR with --all: every concrete spec installed, only the roots explicit.
      const root2 = join(d, "tree2");
      const r2 = await run("install", ...M(), "--root", root2, "-e", env, "--all");
      assert.equal(r2.code, 0, r2.stderr);
      assert.deepEqual(installedHashes(root2), got);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "install --lockfile lists every spec no mirror has before installing anything",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const d = tmp("missing");
    try {
      const other = { ...GHOST, name: "phantom", hash: "c".repeat(32) };
      const lock = fixtureLock(["fooapp"], {
        nodes: [GHOST, other],
        roots: [{ hash: GHOST.hash, spec: "ghost" }, { hash: other.hash, spec: "phantom" }],
      });
      const file = join(d, "spack.lock");
      writeFileSync(file, JSON.stringify(lock));
      const root = join(d, "tree");
      const r = await run("install", ...M(), "--root", root, "--lockfile", file);
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        /Cannot find 2 spec\(s\) of the lock file ".*" in any mirror: ghost@1.0\/a{32}, phantom@1.0\/c{32}/,
      );
      assert.ok(!existsSync(join(root, "linux-x86_64")), "nothing installed");
      // Bad inputs: not JSON, an unknown version, both --lockfile and -e, -e on a file.
      writeFileSync(file, "not json");
      let e = await run("install", ...M(), "--root", root, "--lockfile", file);
      assert.equal(e.code, 1);
      assert.match(e.stderr, /Cannot parse the lock file ".*spack.lock": not JSON/);
      e = await run("install", ...M(), "--root", root, "-e", file);
      assert.equal(e.code, 2);
      assert.match(e.stderr, /Cannot read the environment ".*": not a directory/);
      e = await run("install", ...M(), "--root", root, "-e", d, "--lockfile", file);
      assert.equal(e.code, 2);
      assert.match(e.stderr, /Give --lockfile or -e\/--env, not both/);
      e = await run("install", ...M(), "--root", root);
      assert.equal(e.code, 2);
      assert.match(e.stderr, /give specs, --lockfile or -e/);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "bundle, download, sync, verify and prune take --lockfile",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const d = tmp("mirror");
    try {
      const lock = fixtureLock(["libfoo"]);
      const file = join(writeEnv(join(d, "env"), lock), "spack.lock");
      // bundle: libfoo's closure (libfoo, libzz), no more.
      const bundle = join(d, "env.bundle");
      let r = await run(
        "--json",
        "bundle",
        "--allow-unsigned",
        "--lockfile",
        file,
        "-m",
        fixture("v3-unsigned"),
        "-o",
        bundle,
      );
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).specs, 2);
      // install from the bundle (air-gapped side).
      r = await run(
        "install",
        "-m",
        bundle,
        "--allow-unsigned",
        "--root",
        join(d, "t"),
        "-e",
        join(d, "env"),
      );
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(
        Object.keys(installedHashes(join(d, "t"))).sort(),
        [V3_HASHES.libfoo, V3_HASHES.libzz, V3_HASHES.buildtool].sort(),
      );
      // download --deps: the same two specs.
      r = await run(
        "--json",
        "download",
        ...M(),
        "--lockfile",
        file,
        "--deps",
        "--to",
        join(d, "dl"),
      );
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout).specs.map((s: { name: string }) => s.name).sort(), [
        "libfoo",
        "libzz",
      ]);
      // sync: the closure only.
      const synced = join(d, "synced");
      r = await run(
        "--json",
        "sync",
        "--allow-unsigned",
        fixture("v3-unsigned"),
        synced,
        "--lockfile",
        file,
      );
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(readdirSync(join(synced, "v3/manifests/spec")).sort(), ["libfoo", "libzz"]);
      // verify: the synced mirror lacks fooapp and foodata of a lock rooted at fooapp.
      const full = join(d, "full.lock");
      writeFileSync(full, JSON.stringify(fixtureLock()));
      r = await run("--json", "verify", synced, "--lockfile", file);
      assert.equal(r.code, 0, r.stderr);
      r = await run("--json", "verify", synced, "--lockfile", full);
      assert.equal(r.code, 4);
      const missing = JSON.parse(r.stdout).findings.filter((f: { code: string }) =>
        f.code === "lock_spec_missing"
      );
      assert.deepEqual(missing.map((f: { spec: string }) => f.spec.split("/")[0]).sort(), [
        "fooapp@3.0",
        "foodata@1.0",
      ]);
      // sync and bundle refuse a lock the source lacks, naming every missing spec.
      r = await run("sync", "--allow-unsigned", synced, join(d, "s2"), "--lockfile", full);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /Cannot find 2 spec\(s\)/);
      assert.ok(!existsSync(join(d, "s2", "v3")));
      // prune --lockfile keeps libfoo's closure, lists fooapp and foodata.
      r = await run("--json", "prune", fixture("v3-unsigned"), "--lockfile", file);
      assert.equal(r.code, 0, r.stderr);
      const notKept = JSON.parse(r.stdout).items.filter((i: { reason: string }) =>
        i.reason === "not-kept"
      );
      assert.deepEqual(notKept.map((i: { path: string }) => i.path.split("/")[3]).sort(), [
        "fooapp",
        "foodata",
      ]);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "push --lockfile pushes the installed roots' closure; missing ones are named first",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const d = tmp("push");
    try {
      const file = join(writeEnv(join(d, "env"), fixtureLock()), "spack.lock");
      const root = join(d, "tree");
      let r = await run("install", ...M(), "--root", root, "--lockfile", file);
      assert.equal(r.code, 0, r.stderr);
      const mirror = join(d, "m");
      r = await run("--json", "push", "--root", root, "--lockfile", file, "--unsigned", mirror);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).specs.length, 4);
      const ghost = join(d, "ghost.lock");
      writeFileSync(
        ghost,
        JSON.stringify(
          fixtureLock(["fooapp"], { nodes: [GHOST], roots: [{ hash: GHOST.hash, spec: "ghost" }] }),
        ),
      );
      r = await run("push", "--root", root, "--lockfile", ghost, "--unsigned", join(d, "m2"));
      assert.equal(r.code, 1);
      assert.match(r.stderr, /1 of its spec\(s\) are not installed in .*: ghost@1.0\/a{32}/);
      assert.ok(!existsSync(join(d, "m2", "v3")));
      r = await run("push", "--lockfile", file, "--unsigned", join(d, "m3"));
      assert.equal(r.code, 2);
      assert.match(r.stderr, /needs --root/);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "Spack 1.2 reads the lock written from the fixtures and sees spackle's explicit roots",
  ignore: !HAVE_SPACK,
  async fn() {
    const d = tmp("spack");
    try {
      const env = writeEnv(join(d, "env"), fixtureLock());
      const root = join(d, "tree-" + "x".repeat(40));
      const inst = join(d, "inst");
      const c = spack(inst, root, "-e", env, "find", "-c", "--format", "{name}/{hash}");
      assert.equal(c.code, 0, c.err);
      // Lines are "[e]  NAME/HASH" (external) or " -   NAME/HASH" (not installed).
      const listed = c.out.split("\n").map((l) => /([a-z-]+\/[a-z2-7]{32})$/.exec(l)?.[1])
        .filter((l) => l !== undefined);
      assert.deepEqual(
        listed.sort(),
        Object.entries({ foodata: 0, libzz: 0, libfoo: 0, fooapp: 0, "foo-buildtool": 0 }).map((
          [n],
        ) => `${n}/${V3_HASHES[n === "foo-buildtool" ? "buildtool" : n as keyof typeof V3_HASHES]}`)
          .sort(),
      );
      const r = await run("install", ...M(), "--root", root, "-e", env);
      assert.equal(r.code, 0, r.stderr);
      const x = spack(inst, root, "find", "-x", "--format", "{name}/{hash}");
      assert.equal(x.code, 0, x.err);
      assert.deepEqual(x.out.trim().split("\n"), [`fooapp/${V3_HASHES.fooapp}`]);
      const all = spack(inst, root, "find", "--format", "{name}/{hash}");
      assert.equal(all.code, 0, all.err);
      assert.deepEqual(
        all.out.trim().split("\n").sort(),
        [
          `foo-buildtool/${V3_HASHES.buildtool}`, // the external, recorded as Spack does
          ...["fooapp", "foodata", "libfoo", "libzz"].map((n) =>
            `${n}/${V3_HASHES[n as keyof typeof V3_HASHES]}`
          ),
        ].sort(),
      );
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  },
});

Deno.test("push follows Spack 1.2 on build dependencies: pushed unless --without-build-dependencies", async () => {
  const { specsToPush } = await import("../src/push/push.ts");
  const node = (name: string, hash: string, deps: [string, string[]][] = []) => ({
    name,
    version: "1",
    hash,
    dependencies: deps.map(([h, t]) => ({ name: h, hash: h, depTypes: t as never, virtuals: [] })),
    raw: {},
  });
  const nodes = new Map([
    ["app", node("app", "app", [["tool", ["build"]], ["lib", ["build", "link"]]])],
    ["tool", node("tool", "tool")],
    ["lib", node("lib", "lib")],
  ]);
  const dag = { root: "app", nodes, formatVersion: 5, raw: {} };
  const item = (h: string) => ({
    dag: { ...dag, root: h },
    hash: h,
    prefix: `/p/${h}`,
    root: "/p",
  });
  const src = { find: item, query: () => [] };
  const names = (o?: { buildDeps?: boolean }) =>
    specsToPush([item("app")], src, "both", o).items.map((i) => i.hash);
  assert.deepEqual(names(), ["lib", "tool", "app"]);
  assert.deepEqual(names({ buildDeps: false }), ["lib", "app"]);
  const r = await run(
    "push",
    "--with-build-dependencies",
    "--without-build-dependencies",
    "--unsigned",
    "x",
    "y",
  );
  assert.equal(r.code, 2);
  assert.match(r.stderr, /cannot be used with/);
});

Deno.test({
  name: "parseLockfile: roots of included concrete environments are roots too",
  ignore: !HAVE_FIXTURES,
  fn() {
    const inner = fixtureLock(["fooapp"]);
    const outer = fixtureLock(["libzz"]);
    const cs = outer.concrete_specs as Record<string, unknown>;
    for (const h of [V3_HASHES.fooapp, V3_HASHES.foodata]) delete cs[h];
    outer.include_concrete = {
      "/envs/inner": { roots: inner.roots, concrete_specs: inner.concrete_specs },
    };
    const lock = parseLockfile(JSON.stringify(outer));
    assert.deepEqual(lock.roots.map((r) => r.spec), ["libzz", "fooapp"]);
    assert.equal(lockfileClosure(lock).length, 4);
    outer.include_concrete = { "/envs/inner": { concrete_specs: {} } };
    assert.throws(
      () => parseLockfile(JSON.stringify(outer), "L"),
      /"include_concrete.\/envs\/inner" has no "roots" list/,
    );
  },
});

const SPACK_V2 = Deno.env.get("SPACKLE_ORACLE_SPACK_V2");

/** A format-5 lock (Spack 0.2x) for the v2 fixture fooapp, from its spec file (format 4). */
function v2Lock(): Record<string, unknown> {
  const dir = fixture("v2-unsigned", "build_cache");
  const f = readdirSync(dir).find((n) => n.includes("-fooapp-") && n.endsWith(".spec.json"))!;
  const nodes = JSON.parse(readFileSync(join(dir, f), "utf8")).spec.nodes as {
    hash: string;
  }[];
  return {
    _meta: { "file-type": "spack-lockfile", "lockfile-version": 5, "specfile-version": 4 },
    spack: { version: "0.23.0.dev0", type: "release" },
    roots: [{ hash: nodes[0].hash, spec: "fooapp" }],
    concrete_specs: Object.fromEntries(nodes.map((n) => [n.hash, n])),
  };
}

Deno.test({
  name: "a format-5 lock (Spack 0.23) of the v2 fixtures installs as Spack 1.2 installs them",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const d = tmp("v5");
    try {
      const env = writeEnv(join(d, "env"), v2Lock());
      const lock = parseLockfile(readFileSync(join(env, "spack.lock"), "utf8"));
      assert.equal(lock.version, 5);
      const root = join(d, "tree-" + "x".repeat(40));
      const r = await run(
        "install",
        "-m",
        fixture("v2-unsigned"),
        "--allow-unsigned",
        "--root",
        root,
        "-e",
        env,
      );
      assert.equal(r.code, 0, r.stderr);
      const specs = lockfileClosure(lock).map((n) => ({
        name: n.name,
        prefix: join(root, "linux-x86_64", `${n.name}-${n.version}-${n.hash}`),
      }));
      assert.equal(specs.length, 4);
      assert.deepEqual(compareWithExpected(2, root, specs), []);
      if (SPACK_V2 && existsSync(join(SPACK_V2, "bin", "spack")) && HAVE_SPACK) {
        // Spack 0.23 reads the same lock and lists the same concrete specs.
        const script = `source '${join(ORACLE, "common.sh")}'; make_instance v2 '${
          join(d, "inst")
        }' >/dev/null; sp '${join(d, "inst")}' -e '${env}' find -c -d -L`;
        const o = new Deno.Command("bash", {
          args: ["-c", script],
          env: { SPACK_V2 },
        }).outputSync();
        const out = new TextDecoder().decode(o.stdout);
        assert.equal(o.code, 0, new TextDecoder().decode(o.stderr));
        const listed = [...out.matchAll(/^([a-z2-7]{32})\s+\S+@/gm)].map((m) => m[1]).sort();
        assert.deepEqual(listed, [...lock.dag.nodes.keys()].sort());
      }
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  },
});
