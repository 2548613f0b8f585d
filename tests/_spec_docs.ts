/**
 * Every spec document in the fixtures, read in place: v3 spec blobs, v2 `.spec.json` and
 * `.spec.json.sig` files, `.spack/spec.json` inside `.spack` tarballs, and the legacy
 * `.spec.yaml`.
 *
 * @module
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { parse as parseYaml } from "yaml";
import { gunzipBytes, isGzip } from "../src/core/gzip.ts";
import { readTar } from "../src/core/tar.ts";
import { FIXTURES } from "./_fixtures.ts";

/** One spec document found in the fixtures. */
export interface FixtureSpecDoc {
  /** Path relative to the fixtures directory (plus `!member` inside a tarball). */
  label: string;
  /** The document (JSON-parsed, or YAML-parsed for `.spec.yaml`). */
  doc: unknown;
  kind: "v3-blob" | "spec.json" | "spec.json.sig" | "tarball" | "spec.yaml";
}

/** The payload of a clear-signed message (dash-escaping undone). */
export function clearsignPayload(text: string): string {
  const start = text.indexOf("\n\n");
  const end = text.indexOf("\n-----BEGIN PGP SIGNATURE-----");
  return text.slice(start + 2, end).split("\n").map((l) => l.startsWith("- ") ? l.slice(2) : l)
    .join("\n");
}

function walk(dir: string, out: string[]): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else out.push(p);
  }
  return out;
}

/** Finds and reads every spec document under the fixture mirrors (not `expected/`). */
export async function fixtureSpecDocs(): Promise<FixtureSpecDoc[]> {
  const files = walk(FIXTURES, []).filter((p) => {
    const r = relative(FIXTURES, p);
    return !r.startsWith("expected/") && !r.startsWith("keys/");
  }).sort();
  const docs: FixtureSpecDoc[] = [];
  const dec = new TextDecoder();
  for (const p of files) {
    const label = relative(FIXTURES, p);
    if (p.endsWith(".spec.json")) {
      docs.push({ label, doc: JSON.parse(readFileSync(p, "utf8")), kind: "spec.json" });
    } else if (p.endsWith(".spec.json.sig")) {
      const doc = JSON.parse(clearsignPayload(readFileSync(p, "utf8")));
      docs.push({ label, doc, kind: "spec.json.sig" });
    } else if (p.endsWith(".spec.yaml")) {
      docs.push({ label, doc: parseYaml(readFileSync(p, "utf8")), kind: "spec.yaml" });
    } else if (label.includes("blobs/sha256/")) {
      let b: Uint8Array = readFileSync(p);
      if (!isGzip(b)) continue;
      b = gunzipBytes(b, label);
      if (b[0] !== 0x7b) continue; // a tarball, not JSON
      const doc = JSON.parse(dec.decode(b));
      if (doc && typeof doc === "object" && "spec" in doc) {
        docs.push({ label, doc, kind: "v3-blob" });
      }
    } else if (p.endsWith(".spack")) {
      const b: Uint8Array = readFileSync(p);
      const tarBytes = isGzip(b) ? gunzipBytes(b, label) : b;
      for await (
        const { header, body } of readTar(
          (async function* () {
            yield tarBytes;
          })(),
          label,
        )
      ) {
        const chunks: Uint8Array[] = [];
        for await (const c of body) chunks.push(c);
        if (/(^|\/)\.spack\/spec\.json$/.test(header.name)) {
          const text = dec.decode(concat(chunks));
          docs.push({
            label: `${label}!${header.name.split("/").slice(-2).join("/")}`,
            doc: JSON.parse(text),
            kind: "tarball",
          });
        }
      }
    }
  }
  return docs;
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.byteLength;
  }
  return out;
}
