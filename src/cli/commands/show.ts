/** `show`: one spec of the mirrors, its files, signature and dependency tree. */
import type { Register } from "../context.ts";
import type { MirrorCliOptions } from "../mirror_options.ts";
import type { Entry } from "../../../mod.ts";
import { formatBytes } from "../output.ts";
import { signatureText, treeLines } from "../present.ts";
import { addMirror, openReadMirrors } from "../read_options.ts";

/** The JSON shape of an entry (`show --json`). */
function entryJson(
  e: Entry,
  inCache: Map<string, boolean>,
  hashes: Map<string, { ok: boolean; computed?: string }>,
) {
  return {
    name: e.ref.name,
    version: e.ref.version,
    hash: e.ref.hash,
    arch: e.ref.arch ?? null,
    compiler: e.ref.compiler ?? null,
    mirror: e.ref.mirror ?? null,
    layout: e.ref.layout,
    signature: {
      status: e.signatureStatus ?? (e.signedBy ? "verified" : e.signed ? "untrusted" : "unsigned"),
      signed: e.signed,
      verified: !!e.signedBy,
      fingerprint: e.signedBy ?? null,
      keyIds: e.signerKeyIds ?? [],
      error: e.signatureError ?? null,
    },
    substitution: e.substitution ?? null,
    metadataPath: e.metadataPath,
    tarball: { path: e.tarballPath, ...e.tarball },
    specBlob: e.specBlob ? { path: e.specBlob.path, ...e.specBlob.descriptor } : null,
    legacy: e.legacy ?? null,
    spec: {
      formatVersion: e.spec.formatVersion,
      root: e.spec.root,
      nodes: [...e.spec.nodes.values()].map((n) => ({
        name: n.name,
        version: n.version,
        hash: n.hash,
        arch: n.arch ? `${n.arch.platform}-${n.arch.platformOs}-${n.arch.target}` : null,
        compiler: n.compiler ? `${n.compiler.name}@${n.compiler.version}` : null,
        namespace: n.namespace ?? null,
        external: n.external ?? null,
        inMirrors: inCache.get(n.hash) ?? false,
        dagHash: {
          ok: hashes.get(n.hash)?.ok ?? false,
          computed: hashes.get(n.hash)?.computed ?? null,
        },
        dependencies: n.dependencies,
      })),
    },
  };
}

function hashText(h: { ok: boolean; computed?: string } | undefined): string {
  if (!h) return "-";
  if (h.ok) return "matches the spec";
  if (!h.computed) return "not recomputed (spec from an era whose hash cannot be reproduced)";
  return `MISMATCH: the spec hashes to ${h.computed} (Spack uses the stored hash; reported only)`;
}

const register: Register = (program, act) => {
  addMirror(
    program
      .command("show")
      .description(
        "show one spec: metadata, dependency tree with dependency types, blob sizes and digests, signature status",
      )
      .argument("<spec>", "NAME, NAME@VERSION, /HASH or NAME/HASH"),
  )
    .addHelpText(
      "after",
      "\nExamples:\n  spackle show -m ./mirror fooapp\n  spackle show -m ./mirror --json libzz/irttwv2\n" +
        "  spackle show -m https://cache.example.org --allow-unsigned zlib@1.3.1",
    )
    .action(act(async (ctx, query: string, o: MirrorCliOptions) => {
      // Reading is not trusting: every entry is shown, with its signature status.
      const { mirrors } = await openReadMirrors(ctx, o);
      const ref = await mirrors.resolve(query, { signal: ctx.signal });
      const e = await mirrors.entry(ref.hash, { inspect: true, signal: ctx.signal });
      const inCache = new Map<string, boolean>();
      for (const h of e.spec.nodes.keys()) {
        inCache.set(h, (await mirrors.ref(h, { signal: ctx.signal }))?.inBuildcache ?? false);
      }
      const { checkDagHash } = await import("../../../mod.ts");
      const hashes = new Map(
        [...e.spec.nodes.values()].map((n) => [n.hash, checkDagHash(n, e.spec.formatVersion)]),
      );
      if (ctx.out.json) {
        ctx.out.data(entryJson(e, inCache, hashes));
        return;
      }
      const c = ctx.out.color;
      const out = (l: string) => ctx.out.out(l);
      out(c.bold(`${e.ref.name}@${e.ref.version}/${e.ref.hash}`));
      const rows: string[][] = [
        ["mirror", `${e.ref.mirror ?? ""} (layout v${e.ref.layout})`],
        ["arch", e.ref.arch ?? "-"],
        ["compiler", e.ref.compiler ?? "-"],
        ["spec format", String(e.spec.formatVersion)],
        ["dag hash", hashText(hashes.get(e.ref.hash))],
        ["signature", signatureText(e, c.red)],
        ...(e.substitution ? [["SUBSTITUTED", c.red(e.substitution)]] : []),
        ["metadata", e.metadataPath],
        [
          "tarball",
          `${e.tarballPath}\n${" ".repeat(14)}${
            formatBytes(e.tarball.size)
          } (${e.tarball.size} bytes) sha256:${e.tarball.checksum}`,
        ],
      ];
      if (e.specBlob) {
        const d = e.specBlob.descriptor;
        rows.push([
          "spec blob",
          `${e.specBlob.path}\n${" ".repeat(14)}${
            formatBytes(d.size)
          } (${d.size} bytes) sha256:${d.checksum}`,
        ]);
      }
      if (e.legacy) rows.push(["legacy", e.legacy]);
      for (const [k, v] of rows) {
        const [first, ...rest] = v.split("\n");
        out(`  ${(k + ":").padEnd(13)}${first}`);
        for (const r of rest) out(r);
      }
      out("");
      out(c.bold("dependencies:"));
      for (const l of treeLines(e.spec, inCache)) out("  " + l);
    }));
};
export default register;
