/**
 * Does a spec fit this machine? Its `arch.platform` must be this platform (linux, darwin) and
 * its target of this machine's family (x86_64, aarch64, ppc64le, ...): a binary for another
 * one cannot run here, so installing it is refused. A target whose CPU features (the spec's
 * `arch.target.features`) the host lacks is only a warning by default, since installing from
 * a login node for compute nodes is normal.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import process from "node:process";
import type { SpecNode } from "../spec/types.ts";

/** How strictly targets are checked: `warn` (default), `host` (features too), `none`. */
export type TargetCheck = "warn" | "host" | "none";

/** This machine, as the checks see it. */
export interface HostTarget {
  /** Spack's platform name: linux, darwin, windows, freebsd. */
  platform: string;
  /** The architecture family: x86_64, aarch64, ppc64le, ppc64, riscv64, s390x. */
  family: string;
  /** CPU feature flags (from /proc/cpuinfo on Linux; empty when unknown). */
  features: Set<string>;
}

const FAMILY_OF_ARCH: Record<string, string> = {
  x64: "x86_64",
  arm64: "aarch64",
  ppc64: "ppc64le", // Node reports little-endian POWER as ppc64
  riscv64: "riscv64",
  s390x: "s390x",
};

let host: HostTarget | undefined;

/** The host's platform, family and features (read once). */
export function hostTarget(): HostTarget {
  if (host) return host;
  const platform = process.platform === "win32" ? "windows" : process.platform;
  const family = FAMILY_OF_ARCH[process.arch] ?? process.arch;
  const features = new Set<string>();
  try {
    const text = readFileSync("/proc/cpuinfo", "utf8");
    // x86: "flags : fpu vme ..."; arm: "Features : fp asimd ..."
    const m = /^(?:flags|Features)\s*:\s*(.*)$/m.exec(text);
    for (const f of m?.[1].split(/\s+/) ?? []) if (f) features.add(f);
  } catch { /* not Linux: features unknown */ }
  return host = { platform, family, features };
}

const FAMILIES = ["x86_64", "aarch64", "ppc64le", "ppc64", "riscv64", "s390x", "sparc64"];
const X86_FEATURES = ["mmx", "sse", "sse2", "ssse3", "sse4_1", "sse4_2", "avx", "avx2", "avx512f"];
const ARM_FEATURES = ["asimd", "fp", "neon", "sve", "atomics", "fphp", "asimdhp"];
const FAMILY_BY_VENDOR: Record<string, string> = {
  GenuineIntel: "x86_64",
  AuthenticAMD: "x86_64",
  Hygon: "x86_64",
  Apple: "aarch64",
  ARM: "aarch64",
  Cavium: "aarch64",
  Fujitsu: "aarch64",
  Ampere: "aarch64",
  HiSilicon: "aarch64",
  IBM: "ppc64le",
};
const FAMILY_BY_NAME: [RegExp, string][] = [
  [
    /^(x86_64_v\d|i686|core2|nocona|prescott|nehalem|westmere|sandybridge|ivybridge|haswell|broadwell|skylake|skylake_avx512|mic_knl|cascadelake|cannonlake|icelake|sapphirerapids|zen\d?|k10|bulldozer|piledriver|steamroller|excavator)$/,
    "x86_64",
  ],
  [
    /^(armv8\.\da?|armv9\.\da?|neoverse_\w+|thunderx2|a64fx|m\d|graviton\d?|cortex_\w+)$/,
    "aarch64",
  ],
  [/^power\d+le$/, "ppc64le"],
  [/^power\d+$/, "ppc64"],
  [/^(u74mc|sifive_\w+)$/, "riscv64"],
];

/** The raw target of a spec node: a name, or Spack's dict with features and parents. */
function rawTarget(
  node: SpecNode,
): { name: string; vendor?: string; features: string[]; parents: string[] } | undefined {
  const t = (node.raw as { arch?: { target?: unknown } }).arch?.target;
  if (typeof t === "string") return { name: t, features: [], parents: [] };
  if (!t || typeof t !== "object") return undefined;
  const o = t as { name?: unknown; vendor?: unknown; features?: unknown; parents?: unknown };
  const strings = (v: unknown) =>
    Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
  return {
    name: typeof o.name === "string" ? o.name : "",
    vendor: typeof o.vendor === "string" ? o.vendor : undefined,
    features: strings(o.features),
    parents: strings(o.parents),
  };
}

/** The architecture family of a target (undefined when it cannot be told). */
export function targetFamily(
  t: { name: string; vendor?: string; features: string[]; parents: string[] },
): string | undefined {
  for (const n of [t.name, ...t.parents]) {
    if (FAMILIES.includes(n)) return n;
    for (const [re, fam] of FAMILY_BY_NAME) if (re.test(n)) return fam;
  }
  if (t.vendor && FAMILY_BY_VENDOR[t.vendor]) return FAMILY_BY_VENDOR[t.vendor];
  if (t.features.some((f) => X86_FEATURES.includes(f))) return "x86_64";
  if (t.features.some((f) => ARM_FEATURES.includes(f))) return "aarch64";
  return undefined;
}

/** What {@link checkTarget} found. */
export interface TargetProblem {
  /** `refuse`: cannot run here; `features`: the host lacks CPU features. */
  kind: "refuse" | "features";
  message: string;
  missing?: string[];
}

/** Checks one spec against the host; undefined when it fits. */
export function checkTarget(
  node: SpecNode,
  h: HostTarget = hostTarget(),
): TargetProblem | undefined {
  const label = `${node.name}@${node.version}/${node.hash.slice(0, 7)}`;
  const arch = node.arch;
  if (!arch) return undefined;
  if (arch.platform && arch.platform !== h.platform) {
    return {
      kind: "refuse",
      message:
        `${label} is built for the platform "${arch.platform}" (${arch.platformOs}-${arch.target}), ` +
        `not this "${h.platform}" machine; install a spec built for ${h.platform}, ` +
        `or pass --check-target none to install it anyway`,
    };
  }
  const t = rawTarget(node);
  if (!t) return undefined;
  const fam = targetFamily(t);
  if (fam && fam !== h.family) {
    return {
      kind: "refuse",
      message: `${label} is built for ${fam} (target "${t.name}"), not this ${h.family} machine; ` +
        `install a spec built for ${h.family}, or pass --check-target none to install it anyway`,
    };
  }
  if (h.features.size && t.features.length) {
    const missing = t.features.filter((f) => !h.features.has(f));
    if (missing.length) {
      return {
        kind: "features",
        missing,
        message: `${label} is built for the target "${t.name}", whose CPU features ` +
          `${missing.join(", ")} this machine lacks: its programs may fail here with ` +
          `"illegal instruction" (fine when installing for other nodes)`,
      };
    }
  }
  return undefined;
}
