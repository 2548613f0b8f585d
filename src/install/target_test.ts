import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { nodeFromDict } from "../spec/node.ts";
import { checkTarget, type HostTarget, targetFamily } from "./target.ts";
import { fixture, HAVE_FIXTURES } from "../../tests/_fixtures.ts";

const X86: HostTarget = {
  platform: "linux",
  family: "x86_64",
  features: new Set(["mmx", "sse", "sse2", "ssse3", "sse4_1", "sse4_2", "avx", "avx2"]),
};

const node = (arch: unknown) =>
  nodeFromDict({ name: "zlib", version: "1.3", arch, hash: "abcdefgabcdefgabcdefgabcdefgabcd" });

Deno.test("a spec for this platform and family with the host's features fits", () => {
  assert.equal(
    checkTarget(node({ platform: "linux", platform_os: "debian12", target: "x86_64" }), X86),
    undefined,
  );
  const haswellish = {
    name: "haswell",
    vendor: "GenuineIntel",
    features: ["avx2", "sse4_2"],
    parents: ["ivybridge"],
  };
  assert.equal(
    checkTarget(node({ platform: "linux", platform_os: "rhel8", target: haswellish }), X86),
    undefined,
  );
});

Deno.test("another platform or CPU family is refused, naming both and the way out", () => {
  const mac = checkTarget(node({ platform: "darwin", platform_os: "sonoma", target: "m1" }), X86)!;
  assert.equal(mac.kind, "refuse");
  assert.match(
    mac.message,
    /zlib@1\.3\/abcdefg is built for the platform "darwin".*not this "linux" machine/,
  );
  assert.match(mac.message, /--check-target none/);
  const arm = checkTarget(
    node({
      platform: "linux",
      platform_os: "debian12",
      target: {
        name: "neoverse_v1",
        vendor: "ARM",
        features: ["asimd", "sve"],
        parents: ["neoverse_n1"],
      },
    }),
    X86,
  )!;
  assert.equal(arm.kind, "refuse");
  assert.match(arm.message, /built for aarch64 \(target "neoverse_v1"\), not this x86_64 machine/);
});

Deno.test("missing CPU features are named", () => {
  const p = checkTarget(
    node({
      platform: "linux",
      platform_os: "debian12",
      target: {
        name: "skylake_avx512",
        vendor: "GenuineIntel",
        features: ["avx2", "avx512f", "avx512bw"],
        parents: ["skylake"],
      },
    }),
    X86,
  )!;
  assert.equal(p.kind, "features");
  assert.deepEqual(p.missing, ["avx512f", "avx512bw"]);
  assert.match(p.message, /CPU features avx512f, avx512bw this machine lacks/);
});

Deno.test("target families from names, parents, vendors and features", () => {
  const t = (name: string, o: { vendor?: string; features?: string[]; parents?: string[] } = {}) =>
    targetFamily({ name, features: o.features ?? [], parents: o.parents ?? [], vendor: o.vendor });
  assert.equal(t("x86_64_v3"), "x86_64");
  assert.equal(t("zen3"), "x86_64");
  assert.equal(t("a64fx"), "aarch64");
  assert.equal(t("power9le"), "ppc64le");
  assert.equal(t("weird", { parents: ["aarch64"] }), "aarch64");
  assert.equal(t("weird", { vendor: "AuthenticAMD" }), "x86_64");
  assert.equal(t("weird", { features: ["asimd"] }), "aarch64");
  assert.equal(t("weird"), undefined);
});

Deno.test({
  name: 'Spack\'s own test specs (platform "test", core2 and m1 targets) are refused here',
  ignore: !HAVE_FIXTURES,
  fn() {
    const dir = fixture("spack-testdata/v2_layout/unsigned/build_cache");
    for (
      const f of [
        "test-debian6-core2-gcc-10.2.1-libelf-0.8.13-rqh2vuf6fqwkmipzgi2wjx352mq7y7ez.spec.json",
        "test-debian6-m1-gcc-10.2.1-libdwarf-20130729-u5uz3dcch5if4eve4sef67o2rf2lbfgh.spec.json",
      ]
    ) {
      const doc = JSON.parse(readFileSync(`${dir}/${f}`, "utf8"));
      const raw = doc.spec.nodes[0];
      assert.equal(checkTarget(nodeFromDict(raw), X86)?.kind, "refuse");
      raw.arch.platform = "linux";
      const p = checkTarget(nodeFromDict(raw), X86);
      if (f.includes("core2")) assert.equal(p, undefined);
      else assert.match(p!.message, /built for aarch64 \(target "m1"\)/);
    }
  },
});
