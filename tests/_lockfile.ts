/**
 * Test helpers for environments: a format-6 `spack.lock` (with its `spack.yaml`) written from
 * the fixtures' concrete specs, and real Spack run in an isolated instance (the oracle's
 * `common.sh`) on an install tree.
 *
 * @module
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fixture, HAVE_FIXTURES, ORACLE } from "./_fixtures.ts";
import process from "node:process";
import { gunzipBytes } from "../src/core/mod.ts";

/** The v3 fixture DAG hashes. */
export const V3_HASHES = {
  fooapp: "iicodpd5dtmh5ijlchcoay25frkfkyuv",
  libfoo: "qxhycnksfks5oi3io5ajg3tr2xzvfrso",
  libzz: "irttwv2f4rzhheesshe6vsy3xw3ezk2h",
  foodata: "ddk74w2rurmyrizbswgi6fj4tk2losox",
  buildtool: "f57lmd4dmdanikdfw3efel7doqszvgro",
} as const;

/** The node dicts of the fixture fooapp's spec (fooapp first), read from the v3 mirror. */
export function fixtureNodes(): Record<string, unknown>[] {
  const dir = fixture("v3-unsigned", "v3/manifests/spec/fooapp");
  const m = JSON.parse(
    readFileSync(join(dir, `fooapp-3.0-${V3_HASHES.fooapp}.spec.manifest.json`), "utf8"),
  ) as { data: { mediaType: string; checksum: string }[] };
  const sum = m.data.find((d) => d.mediaType.includes("spec"))!.checksum;
  const blob = fixture("v3-unsigned", "blobs/sha256", sum.slice(0, 2), sum);
  const doc = JSON.parse(new TextDecoder().decode(gunzipBytes(readFileSync(blob))));
  return doc.spec.nodes;
}

/**
 * A Spack 1.2 lock document (format 6) for `roots` (names of fixture packages) with every
 * concrete spec of the fixture DAG, plus `extra` nodes and roots.
 */
export function fixtureLock(
  roots: string[] = ["fooapp"],
  extra: { nodes?: Record<string, unknown>[]; roots?: { hash: string; spec: string }[] } = {},
): Record<string, unknown> {
  const nodes = [...fixtureNodes(), ...(extra.nodes ?? [])];
  const byName = new Map(nodes.map((n) => [n.name as string, n]));
  return {
    _meta: { "file-type": "spack-lockfile", "lockfile-version": 6, "specfile-version": 5 },
    spack: { version: "1.2.0.dev0", type: "release" },
    roots: [
      ...roots.map((r) => ({ hash: byName.get(r)!.hash as string, spec: r })),
      ...(extra.roots ?? []),
    ],
    concrete_specs: Object.fromEntries(nodes.map((n) => [n.hash as string, n])),
  };
}

/** Writes an environment directory (spack.yaml + spack.lock) and returns it. */
export function writeEnv(dir: string, lock: Record<string, unknown>): string {
  mkdirSync(dir, { recursive: true });
  const specs = (lock.roots as { spec: string }[]).map((r) => `  - ${r.spec}`).join("\n");
  writeFileSync(join(dir, "spack.yaml"), `spack:\n  specs:\n${specs}\n  view: false\n`);
  writeFileSync(join(dir, "spack.lock"), JSON.stringify(lock, null, 2));
  return dir;
}

const SPACK_V3 = Deno.env.get("SPACKLE_ORACLE_SPACK_V3");

/** True when real Spack 1.2 and the oracle scripts are available. */
export const HAVE_SPACK: boolean = HAVE_FIXTURES && !!SPACK_V3 &&
  existsSync(join(SPACK_V3, "bin", "spack")) && existsSync(join(ORACLE, "common.sh"));

/**
 * Runs `spack ARGS...` of Spack 1.2 in a fresh isolated instance `inst` whose install tree is
 * `store` (created on first use); returns exit code and output.
 */
export function spack(
  inst: string,
  store: string,
  ...args: string[]
): { code: number; out: string; err: string } {
  const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  const script = `set -e; source ${q(join(ORACLE, "common.sh"))}; ` +
    `[ -f ${q(join(inst, "kind"))} ] || make_instance v3 ${q(inst)} ${q(store)}; ` +
    `sp ${q(inst)} ${args.map(q).join(" ")}`;
  const r = new Deno.Command("bash", {
    args: ["-c", script],
    env: { SPACK_V3: SPACK_V3! },
  }).outputSync();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
}

/** Runs the CLI in this process; returns its exit code and what it wrote. */
export async function run(
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  const { main } = await import("../src/cli/app.ts");
  const out: string[] = [];
  const err: string[] = [];
  const so = process.stdout.write;
  const se = process.stderr.write;
  // deno-lint-ignore no-explicit-any
  (process.stdout as any).write = (s: string | Uint8Array) => {
    out.push(typeof s === "string" ? s : new TextDecoder().decode(s));
    return true;
  };
  // deno-lint-ignore no-explicit-any
  (process.stderr as any).write = (s: string | Uint8Array) => {
    err.push(typeof s === "string" ? s : new TextDecoder().decode(s));
    return true;
  };
  try {
    const code = await main(["--no-color", ...args]);
    return { code, stdout: out.join(""), stderr: err.join("") };
  } finally {
    process.stdout.write = so;
    process.stderr.write = se;
  }
}
