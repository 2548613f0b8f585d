/**
 * The install tree as a managed thing and its use: `find`, `uninstall`, `gc`, `load`, `view`
 * on spackle-made and Spack-made trees of the fixture DAG, checked against real Spack 1.2
 * (its `find`, `load` and `view`) when it is available.
 */
import assert from "node:assert/strict";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fixture, HAVE_FIXTURES, ORACLE, REPO_ROOT } from "./_fixtures.ts";
import { HAVE_SPACK, run, spack, V3_HASHES } from "./_lockfile.ts";
import { applyModifications, shellCode } from "../src/tree/load.ts";
import { openInstallTree } from "../src/tree/db_access.ts";
import { addToView } from "../src/tree/view.ts";

const tmp = (p: string) => mkdtempSync(join(tmpdir(), `spackle-tree-${p}-`));
const M = () => ["-m", fixture("v3-unsigned"), "--allow-unsigned"];
const PREFIX = (root: string, name: string, version: string) =>
  join(root, "linux-x86_64", `${name}-${version}-${V3_HASHES[name as keyof typeof V3_HASHES]}`);

async function installFooapp(root: string) {
  const r = await run("install", ...M(), "--root", root, "fooapp");
  assert.equal(r.code, 0, r.stderr);
}

/** Every path under `dir` with its type, mode and link target (`.spack/<name>` included). */
function listing(dir: string, subst: [string, string][] = []): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const n of readdirSync(d).sort()) {
      const p = join(d, n);
      const st = lstatSync(p);
      let line = `${relative(dir, p)} ${st.isDirectory() ? "d" : st.isSymbolicLink() ? "l" : "f"}`;
      if (st.isSymbolicLink()) {
        let t = readlinkSync(p);
        for (const [a, b] of subst) t = t.replaceAll(a, b);
        line += ` -> ${t}`;
      } else line += ` ${(st.mode & 0o777).toString(8)}`;
      out.push(line);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

/** Runs a script with bash in a clean environment. */
function cleanShell(script: string): { code: number; out: string; err: string } {
  const r = new Deno.Command("bash", {
    args: ["-c", script],
    clearEnv: true,
    env: { PATH: "/usr/bin:/bin", HOME: tmpdir(), LANG: "C.UTF-8" },
  }).outputSync();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
}

const SPACKLE = `'${Deno.execPath()}' run -A --quiet '${join(REPO_ROOT, "cli.ts")}'`;

Deno.test({
  name: "find lists installed specs with prefixes; uninstall refuses needed specs; gc finds unused",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const d = tmp("manage");
    try {
      const root = join(d, "tree");
      await installFooapp(root);
      let r = await run("--json", "find", "--root", root);
      assert.equal(r.code, 0, r.stderr);
      const specs = JSON.parse(r.stdout).specs as {
        name: string;
        prefix: string;
        explicit: boolean;
        external: boolean;
      }[];
      assert.deepEqual(specs.map((s) => [s.name, s.explicit, s.external]), [
        ["foo-buildtool", false, true],
        ["fooapp", true, false],
        ["foodata", false, false],
        ["libfoo", false, false],
        ["libzz", false, false],
      ]);
      assert.equal(specs[1].prefix, PREFIX(root, "fooapp", "3.0"));
      r = await run("--json", "find", "--root", root, "-x");
      assert.deepEqual(JSON.parse(r.stdout).specs.map((s: { name: string }) => s.name), ["fooapp"]);
      r = await run("--json", "find", "--root", root, "libzz@1.2:", "foodata");
      assert.deepEqual(JSON.parse(r.stdout).specs.map((s: { name: string }) => s.name), [
        "foodata",
        "libzz",
      ]);
      // libzz is needed by libfoo and fooapp: refused, nothing removed.
      r = await run("uninstall", "--root", root, "libzz");
      assert.equal(r.code, 2);
      assert.match(r.stderr, /libzz@1.2.3\/irttwv2 is needed by libfoo@2.0\/qxhycnk/);
      assert.ok(existsSync(PREFIX(root, "libzz", "1.2.3")));
      // gc: only the external build tool is unused (nothing is deleted without --yes).
      r = await run("--json", "gc", "--root", root);
      assert.deepEqual(JSON.parse(r.stdout).unused.map((s: { name: string }) => s.name), [
        "foo-buildtool",
      ]);
      // uninstall fooapp: its prefix goes; then gc removes what nothing explicit needs.
      r = await run("uninstall", "--root", root, "fooapp");
      assert.equal(r.code, 0, r.stderr);
      assert.ok(!existsSync(PREFIX(root, "fooapp", "3.0")));
      r = await run("--json", "gc", "--root", root, "--yes");
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(
        JSON.parse(r.stdout).unused.map((s: { name: string }) => s.name).sort(),
        ["foo-buildtool", "foodata", "libfoo", "libzz"],
      );
      assert.ok(existsSync("/usr/bin"), "an external's prefix is never removed");
      assert.deepEqual(readdirSync(root).filter((n) => !n.startsWith(".")).sort(), ["bin"]);
      r = await run("--json", "find", "--root", root);
      assert.deepEqual(JSON.parse(r.stdout).specs, []);
      // --dependents takes the dependents along.
      await installFooapp(root);
      r = await run("--json", "uninstall", "--root", root, "--dependents", "libzz");
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout).removed.map((s: { name: string }) => s.name), [
        "fooapp",
        "libfoo",
        "libzz",
      ]);
      r = await run("find", "--root", join(d, "none"));
      assert.equal(r.code, 1);
      assert.match(r.stderr, /Cannot read the install tree ".*none": it has no/);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "Spack 1.2 agrees: find and uninstall on spackle's tree and on a tree Spack made",
  ignore: !HAVE_SPACK,
  async fn() {
    const d = tmp("spack");
    try {
      // spackle's tree: Spack sees the uninstall.
      const root = join(d, "tree");
      await installFooapp(root);
      let r = await run("uninstall", "--root", root, "fooapp");
      assert.equal(r.code, 0, r.stderr);
      const inst = join(d, "inst");
      let f = spack(inst, root, "find", "--format", "{name}");
      assert.equal(f.code, 0, f.err);
      assert.deepEqual(f.out.trim().split("\n").sort(), [
        "foo-buildtool",
        "foodata",
        "libfoo",
        "libzz",
      ]);
      // A tree Spack installed: spackle finds Spack's prefixes, its uninstall is Spack's.
      const store = join(d, "spack-store");
      const o = new Deno.Command("bash", {
        args: [join(ORACLE, "oracle-install.sh"), fixture("v3-unsigned"), store],
        env: { SPACK_V3: Deno.env.get("SPACKLE_ORACLE_SPACK_V3")! },
      }).outputSync();
      assert.equal(o.code, 0, new TextDecoder().decode(o.stderr).slice(-2000));
      const inst2 = join(d, "inst2");
      const sp = spack(inst2, store, "find", "--format", "{name} {prefix}");
      assert.equal(sp.code, 0, sp.err);
      r = await run("--json", "find", "--root", store);
      assert.equal(r.code, 0, r.stderr);
      const mine = (JSON.parse(r.stdout).specs as { name: string; prefix: string }[])
        .map((s) => `${s.name} ${s.prefix}`);
      assert.deepEqual(mine.sort(), sp.out.trim().split("\n").sort());
      r = await run("uninstall", "--root", store, "libzz");
      assert.equal(r.code, 2, "every spec is explicit there, but libzz is still needed");
      r = await run("uninstall", "--root", store, "--dependents", "libfoo");
      assert.equal(r.code, 0, r.stderr);
      f = spack(inst2, store, "find", "--format", "{name}");
      assert.deepEqual(f.out.trim().split("\n").sort(), ["foo-buildtool", "foodata", "libzz"]);
      const s2 = spack(inst2, store, "uninstall", "-y", "libzz");
      assert.equal(s2.code, 0, s2.err + s2.out);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "load --sh puts the run closure on PATH in a clean shell; twice is once; --unload undoes",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const d = tmp("load");
    try {
      const root = join(d, "tree");
      await installFooapp(root);
      const load = `${SPACKLE} load --sh --root '${root}'`;
      const r = cleanShell(
        `set -e; eval "$(${load} fooapp)"; fooapp; foo-config --prefix; fooapp-run > /dev/null;` +
          `echo "P=$PATH"; echo "C=$CMAKE_PREFIX_PATH"; echo "K=$PKG_CONFIG_PATH";` +
          `A="$PATH|$CMAKE_PREFIX_PATH|$PKG_CONFIG_PATH|$SPACK_LOADED_HASHES";` +
          `again="$(${load} fooapp)"; eval "$again";` +
          `[ "$A" = "$PATH|$CMAKE_PREFIX_PATH|$PKG_CONFIG_PATH|$SPACK_LOADED_HASHES" ];` +
          `echo "again=[$again]"; eval "$(${load} --unload)"; echo "U=$PATH|\${CMAKE_PREFIX_PATH-unset}|\${SPACK_LOADED_HASHES-unset}"`,
      );
      assert.equal(r.code, 0, r.err + r.out);
      const fooapp = PREFIX(root, "fooapp", "3.0");
      const libfoo = PREFIX(root, "libfoo", "2.0");
      const foodata = PREFIX(root, "foodata", "1.0");
      const libzz = PREFIX(root, "libzz", "1.2.3");
      assert.match(r.out, /bound=2026/);
      assert.ok(r.out.includes(`\n${libfoo}\n`), "foo-config --prefix from PATH");
      assert.ok(r.out.includes(`P=${fooapp}/bin:${foodata}/bin:${libfoo}/bin:/usr/bin:/bin\n`));
      assert.ok(r.out.includes(`C=${fooapp}:${foodata}:${libfoo}:${libzz}\n`));
      assert.ok(r.out.includes(`K=${libfoo}/lib/pkgconfig:${libzz}/lib/pkgconfig\n`));
      assert.ok(r.out.includes("again=[]"), "a second load changes nothing");
      assert.ok(r.out.includes("U=/usr/bin:/bin|unset|unset"), r.out);
      // JSON and the other shells.
      const j = await run("--json", "load", "--root", root, "libfoo");
      assert.equal(j.code, 0, j.stderr);
      const data = JSON.parse(j.stdout);
      assert.deepEqual(data.specs.map((s: { name: string }) => s.name), ["libfoo"]);
      assert.ok(
        data.modifications.some((m: { name: string; path: string }) =>
          m.name === "PKG_CONFIG_PATH" && m.path === `${libzz}/lib/pkgconfig`
        ),
      );
      const ch = applyModifications([{ name: "MANPATH", path: "/x/man" }, {
        name: "PATH",
        path: "/x y/bin",
      }], { PATH: "/usr/bin" });
      assert.equal(
        shellCode(ch, "sh"),
        "export MANPATH=/x/man:;\nexport PATH='/x y/bin:/usr/bin';\n",
      );
      assert.equal(
        shellCode(ch, "csh"),
        "setenv MANPATH /x/man:;\nsetenv PATH '/x y/bin:/usr/bin';\n",
      );
      assert.equal(
        shellCode(ch, "fish"),
        "set -gx MANPATH /x/man:;\nset -gx PATH '/x y/bin:/usr/bin';\n",
      );
      const bad = await run("load", "--root", root, "fooapp");
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /Give a shell \(--sh, --csh, --fish\) or --json/);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "load --fish and --sh in fish and zsh: the programs run, a second load is empty",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const d = tmp("shells");
    try {
      const root = join(d, "tree");
      await installFooapp(root);
      const have = (sh: string) => existsSync(`/usr/bin/${sh}`);
      const shells: [string, string, string][] = [];
      if (have("fish")) {
        shells.push([
          "fish",
          "fish",
          `${SPACKLE} load --fish --root '${root}' fooapp | source; and fooapp | tail -1; and ` +
          `set again (${SPACKLE} load --fish --root '${root}' fooapp); and echo "again=[$again]"; and ` +
          `${SPACKLE} load --fish --unload --root '${root}' | source; and echo "U=$PATH"`,
        ]);
      }
      if (have("zsh")) {
        shells.push([
          "zsh",
          "sh",
          `eval "$(${SPACKLE} load --sh --root '${root}' fooapp)" && fooapp | tail -1 && ` +
          `echo "again=[$(${SPACKLE} load --sh --root '${root}' fooapp)]" && ` +
          `eval "$(${SPACKLE} load --sh --unload --root '${root}')" && echo "U=$PATH"`,
        ]);
      }
      for (const [sh, , script] of shells) {
        const r = new Deno.Command(sh, {
          args: ["-c", script],
          clearEnv: true,
          env: { PATH: "/usr/bin:/bin", HOME: d, LANG: "C.UTF-8" },
        }).outputSync();
        const out = new TextDecoder().decode(r.stdout);
        assert.equal(r.code, 0, `${sh}: ${new TextDecoder().decode(r.stderr)}${out}`);
        assert.ok(out.startsWith("bound=2026\n"), `${sh}: ${out}`);
        assert.ok(out.includes("again=[]"), `${sh}: ${out}`);
        // fish joins path variables with ":" when quoted, as the environment does.
        assert.match(out, /U=\/usr\/bin:\/bin\n/);
      }
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "load --sh sets what Spack 1.2's load sets",
  ignore: !HAVE_SPACK,
  async fn() {
    const d = tmp("load-spack");
    try {
      const root = join(d, "tree");
      await installFooapp(root);
      const s = spack(join(d, "inst"), root, "load", "--sh", "fooapp");
      assert.equal(s.code, 0, s.err);
      const vars = (text: string) => {
        const out: Record<string, string> = {};
        for (const m of text.matchAll(/^export (\w+)=(.*);$/gm)) {
          // Spack repeats directories its package hooks add again: the first place counts.
          const seen = new Set<string>();
          out[m[1]] = m[2].replace(/^'|'$/g, "").split(":").filter((p) =>
            !seen.has(p) && seen.add(p)
          ).join(":");
        }
        return out;
      };
      const r = cleanShell(
        `PATH=/usr/sbin:/usr/bin:/sbin:/bin ${SPACKLE} load --sh --root '${root}' fooapp`,
      );
      assert.equal(r.code, 0, r.err);
      assert.deepEqual(vars(r.out), vars(s.out));
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "view: conflicts, foreign files and a file as view are refused whole; concurrent adds",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const d = tmp("view");
    try {
      const root = join(d, "tree");
      await installFooapp(root);
      const file = join(d, "a-file");
      writeFileSync(file, "x");
      let r = await run("view", "symlink", file, "--root", root, "libzz");
      assert.equal(r.code, 2);
      assert.match(r.stderr, /Cannot use ".*a-file" as a view: it is a file/);
      const foreign = join(d, "foreign");
      mkdirSync(foreign);
      writeFileSync(join(foreign, "notes.txt"), "mine");
      r = await run("view", "symlink", foreign, "--root", root, "libzz");
      assert.equal(r.code, 2);
      assert.match(r.stderr, /holds files that are not a view's \("notes.txt"\)/);
      assert.deepEqual(readdirSync(foreign), ["notes.txt"]);
      // A view with projections (made by Spack with a projection file) is not one spackle makes.
      const projected = join(d, "projected");
      mkdirSync(join(projected, ".spack"), { recursive: true });
      writeFileSync(
        join(projected, ".spack", "projections.yaml"),
        "projections:\n  all: '{name}'\n",
      );
      r = await run("view", "symlink", projected, "--root", root, "libzz");
      assert.equal(r.code, 2);
      assert.match(r.stderr, /it has projections/);
      // A view of libzz, then a stray file where fooapp's binary goes: nothing of fooapp made.
      const view = join(d, "view");
      r = await run("view", "symlink", view, "--root", root, "libzz");
      assert.equal(r.code, 0, r.stderr);
      mkdirSync(join(view, "bin"));
      writeFileSync(join(view, "bin", "fooapp"), "stray");
      const before = listing(view);
      r = await run("view", "symlink", view, "--root", root, "fooapp");
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        /1 conflict\(s\):\n\s+file conflict: bin\/fooapp of fooapp is already in the view/,
      );
      assert.deepEqual(listing(view), before, "nothing half-made");
      // -i keeps the stray file and adds the rest.
      r = await run("view", "symlink", view, "--root", root, "fooapp", "-i");
      assert.equal(r.code, 0, r.stderr);
      assert.equal(readFileSync(join(view, "bin", "fooapp"), "utf8"), "stray");
      assert.ok(existsSync(join(view, ".spack", "fooapp", "spec.json")));
      // Concurrent adds to a new view (each under the view's lock) both land.
      const tree = openInstallTree(root);
      const both = join(d, "both");
      const rec = (n: string) => tree.records.find((x) => x.name === n)!;
      await Promise.all([
        addToView(tree, both, [rec("libzz")]),
        addToView(tree, both, [rec("foodata")]),
      ]);
      assert.deepEqual(readdirSync(join(both, ".spack")).sort(), ["foodata", "libzz"]);
      // remove: libzz takes its dependents in the view along; removing the rest deletes it.
      r = await run("view", "symlink", both, "--root", root, "libfoo");
      assert.equal(r.code, 0, r.stderr);
      r = await run("--json", "view", "remove", both, "libzz");
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(
        JSON.parse(r.stdout).removed.map((s: { name: string }) => s.name).sort(),
        ["libfoo", "libzz"],
      );
      assert.ok(!existsSync(join(both, "lib")), "lib/ emptied and removed");
      assert.ok(existsSync(join(both, "share", "foodata", "data.txt")));
      r = await run("view", "remove", both);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(!existsSync(both));
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "views made by spackle are the views Spack 1.2 makes, and Spack recognises them",
  ignore: !HAVE_SPACK,
  async fn() {
    const d = tmp("view-spack");
    try {
      const root = join(d, "tree");
      await installFooapp(root);
      const inst = join(d, "inst");
      for (const kind of ["symlink", "hardlink", "copy"]) {
        const mine = join(d, `${kind}-a`);
        const theirs = join(d, `${kind}-b`);
        const r = await run("view", kind, mine, "--root", root, "fooapp");
        assert.equal(r.code, 0, r.stderr);
        const s = spack(inst, root, "view", kind, theirs, "fooapp");
        assert.equal(s.code, 0, s.err);
        assert.deepEqual(listing(mine), listing(theirs, [[theirs, mine]]), kind);
        if (kind === "copy") {
          for (const l of listing(mine)) {
            const [rel, type] = l.split(" ");
            if (type !== "f" || rel.startsWith(".spack")) continue;
            const a = readFileSync(join(mine, rel));
            const b = Buffer.from(
              readFileSync(join(theirs, rel)).toString("latin1").replaceAll(theirs, mine),
              "latin1",
            );
            assert.ok(a.equals(b), `copy: ${rel} differs`);
          }
          // The relocated copy runs from the view.
          const run2 = cleanShell(`'${mine}/bin/fooapp'`);
          assert.equal(run2.code, 0, run2.err);
          assert.match(run2.out, new RegExp(`libfoo=/*${mine.slice(1)}\n`));
        }
        const st = spack(inst, root, "view", "status", mine);
        assert.equal(st.code, 0, st.err);
        for (const n of ["fooapp@3.0", "foodata@1.0", "libfoo@2.0", "libzz@1.2.3"]) {
          assert.ok(st.out.includes(n), `${kind}: Spack sees ${n} in the view:\n${st.out}`);
        }
      }
      // Spack removes a spec from spackle's view.
      const rm = spack(inst, root, "view", "remove", join(d, "symlink-a"), "fooapp");
      assert.equal(rm.code, 0, rm.err);
      assert.ok(!existsSync(join(d, "symlink-a", "bin", "fooapp")));
      // load --view: the view's bin on PATH runs the programs.
      const r = cleanShell(
        `eval "$(${SPACKLE} load --sh --view '${join(d, "copy-a")}')"; fooapp | tail -1`,
      );
      assert.equal(r.code, 0, r.err);
      assert.equal(r.out, "bound=2026\n");
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  },
});
