/**
 * Spliced specs with real Spack: Spack 1.2 splices the fixtures' libzz built by Spack 0.23
 * into libfoo (`Spec.splice` through `spack python`) and installs the spliced spec from the
 * build spec's tarball; spackle installs the same spliced spec (its spec file carrying
 * `build_spec`, its own tarball absent, so only the build spec's tarball can serve) and the
 * prefix equals Spack's, file for file. The spliced spec as Spack pushes it (Spack writes it
 * without `build_spec`) installs the same too.
 *
 * Runs only when `SPACKLE_ORACLE_SPACK_V3` names a Spack 1.2 work tree and the fixtures and
 * oracle scripts are present.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  existsSync,
  lstatSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join, relative } from "node:path";
import { fixture, HAVE_FIXTURES, ORACLE } from "./_fixtures.ts";
import { main } from "../src/cli/app.ts";

const SPACK_V3 = Deno.env.get("SPACKLE_ORACLE_SPACK_V3");
const HAVE_SPACK = HAVE_FIXTURES && !!SPACK_V3 && existsSync(join(SPACK_V3, "bin", "spack")) &&
  existsSync(join(ORACLE, "common.sh"));

const LIBFOO = "qxhycnksfks5oi3io5ajg3tr2xzvfrso"; // v3 fixtures, built against v3 libzz
const LIBZZ_V2 = "wpn7enmyybr42zre26cp2uw6drmtmqqv"; // v2 fixtures (migrated to layout v3)

const SPLICE_PY = `
import json, sys
import spack.binary_distribution as bd
import spack.installer
nodes = {}
for s in bd.update_cache_and_get_specs():
    for n in s.traverse():
        nodes.setdefault(n.dag_hash(), n)
spliced = nodes["${LIBFOO}"].splice(nodes["${LIBZZ_V2}"], transitive=True)
assert spliced.spliced and spliced.build_spec.dag_hash() == "${LIBFOO}"
spack.installer.PackageInstaller(
    [spliced.package], explicit=True, root_policy="cache_only",
    dependencies_policy="cache_only", fail_fast=True, unsigned=True).install()
open(sys.argv[1], "w").write(json.dumps({"hash": spliced.dag_hash(), "prefix": spliced.prefix}))
`;

/** Puts the spliced spec file (with build_spec) into the mirror and drops its own tarball. */
const REWRITE_PY = `
import gzip, hashlib, json, os, sys
mirror, specfile, h = sys.argv[1:4]
path = [os.path.join(d, f) for d, _, fs in os.walk(os.path.join(mirror, "v3/manifests/spec"))
        for f in fs if h in f][0]
m = json.load(open(path))
blob = lambda c: os.path.join(mirror, "blobs/sha256", c[:2], c)
meta = [d for d in m["data"] if d["mediaType"].startswith("application/vnd.spack.spec")][0]
tar = [d for d in m["data"] if "tar" in d["mediaType"]][0]
doc = json.loads(gzip.decompress(open(blob(meta["checksum"]), "rb").read()))
doc["spec"] = json.load(open(specfile))["spec"]
data = gzip.compress(json.dumps(doc).encode(), mtime=0)
meta["checksum"] = hashlib.sha256(data).hexdigest()
meta["contentLength"] = len(data)
os.makedirs(os.path.dirname(blob(meta["checksum"])), exist_ok=True)
open(blob(meta["checksum"]), "wb").write(data)
os.unlink(blob(tar["checksum"]))
json.dump(m, open(path, "w"))
`;

function bash(script: string, env: Record<string, string> = {}) {
  const out = new Deno.Command("bash", {
    args: ["-c", script],
    env: { SPACK_V3: SPACK_V3!, ...env },
  }).outputSync();
  const log = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, log.slice(-4000));
  return log;
}

/** Every entry of a prefix: type, mode, and content with the root replaced. */
function describe(prefix: string, root: string, skip: string[] = []): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      const rel = relative(prefix, p);
      if (skip.includes(n)) continue;
      const st = lstatSync(p);
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isSymbolicLink()) out.set(rel, `l ${readlinkSync(p).replaceAll(root, "<root>")}`);
      else if (st.isDirectory()) {
        out.set(rel, `d ${mode}`);
        walk(p);
      } else {
        const data = readFileSync(p).toString("latin1").replaceAll(root, "<root>");
        out.set(rel, `f ${mode} ${createHash("sha256").update(data, "latin1").digest("hex")}`);
      }
    }
  };
  walk(prefix);
  return out;
}

async function spackle(...args: string[]) {
  const code = await main(["--quiet", ...args]);
  assert.equal(code, 0, `spackle ${args.join(" ")} exited ${code}`);
}

Deno.test({
  name: "a spliced spec made by Spack installs as Spack installs it (build spec's tarball)",
  ignore: !HAVE_SPACK,
  async fn() {
    const base = await Deno.makeTempDir({ prefix: "sp-splice-" });
    try {
      // Spack: splice, install from the build spec's tarball, push (Spack flattens the splice).
      const spackRoot = join(base, "A", "store-spack");
      writeFileSync(join(base, "splice.py"), SPLICE_PY);
      writeFileSync(join(base, "rewrite.py"), REWRITE_PY);
      bash(`set -e
        source "${ORACLE}/common.sh"
        make_instance v3 "${base}/A" "${spackRoot}"
        add_mirror "${base}/A" v3 "${fixture("v3-unsigned")}"
        add_mirror "${base}/A" v2 "${fixture("v2-migrated-unsigned")}"
        sp "${base}/A" python "${base}/splice.py" "${base}/spliced.json"
        h=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["hash"])' \\
          "${base}/spliced.json")
        sp "${base}/A" buildcache push --unsigned --update-index "${base}/pushed" "/$h"
        cp -r "${base}/pushed" "${base}/spliced-mirror"
        prefix=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["prefix"])' \\
          "${base}/spliced.json")
        python3 "${base}/rewrite.py" "${base}/spliced-mirror" "$prefix/.spack/spec.json" "$h"
        make_instance v3 "${base}/U"
        sp "${base}/U" buildcache update-index "${base}/spliced-mirror"
      `);
      const { hash, prefix } = JSON.parse(readFileSync(join(base, "spliced.json"), "utf8"));
      assert.ok(hash.endsWith(LIBFOO.slice(-7)));
      const theirs = describe(prefix, spackRoot);
      // The spliced libfoo's RPATH names the spliced-in libzz.
      assert.match(
        readFileSync(join(prefix, "lib/libfoo.so.2.0")).toString("latin1"),
        new RegExp(`libzz-1\\.2\\.3-${LIBZZ_V2}/lib`),
      );

      // Without the mirror of the build spec, the install is refused, saying so.
      const code = await main([
        "--quiet",
        "install",
        "-m",
        join(base, "spliced-mirror"),
        "--allow-unsigned",
        "--root",
        join(base, "none"),
        `/${hash}`,
      ]);
      assert.notEqual(code, 0);
      assert.ok(!existsSync(join(base, "none", relative(spackRoot, prefix))));

      // spackle, from the spliced spec file: only the build spec's tarball exists.
      const ours = join(base, "B", "store-spckl"); // as long as Spack's root
      assert.equal(ours.length, spackRoot.length);
      await spackle(
        "install",
        "-m",
        join(base, "spliced-mirror"),
        "-m",
        fixture("v3-unsigned"),
        "--allow-unsigned",
        "--root",
        ours,
        `/${hash}`,
      );
      const mine = join(ours, relative(spackRoot, prefix));
      assert.deepEqual(describe(mine, ours), theirs);
      assert.ok(!existsSync(join(mine, ".spack/install_manifest.json")));

      // spackle, from what Spack pushed (a plain spec with its own tarball).
      const flat = join(base, "C", "store-flatt");
      assert.equal(flat.length, spackRoot.length);
      await spackle(
        "install",
        "-m",
        join(base, "pushed"),
        "--allow-unsigned",
        "--root",
        flat,
        `/${hash}`,
      );
      // The buildinfo records where the pushed prefix was built: the store Spack pushed from.
      const skip = ["install_manifest.json", "binary_distribution"];
      const flatPrefix = join(flat, relative(spackRoot, prefix));
      const a = describe(flatPrefix, flat, skip);
      const b = describe(prefix, spackRoot, skip);
      // Directory modes: Spack's post-install hook runs for the plain spec, not the splice.
      const files = (m: Map<string, string>) => [...m].filter(([, v]) => !v.startsWith("d "));
      assert.deepEqual(files(a), files(b));
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  },
});
