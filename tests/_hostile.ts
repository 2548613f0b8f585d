/**
 * The parsers of hostile input, each as a function from bytes or text to a result, and a
 * judge: every input gets a typed error (a SpackleError subclass, whose message is one line
 * of text, not a stack trace) or a result. Shared by the hostile corpus and the fuzzing.
 *
 * @module
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { SpackleError } from "../src/errors.ts";
import { readTar } from "../src/core/tar.ts";
import { gunzipBytes, gunzipStream } from "../src/core/gzip.ts";
import { streamOf } from "../src/core/streams.ts";
import { parseManifest } from "../src/layout/manifest.ts";
import { clearsignedBody } from "../src/layout/signed_metadata.ts";
import { splitClearsigned } from "../src/sign/clearsign.ts";
import { KeyringVerifier } from "../src/sign/verify.ts";
import { parseIndexDb } from "../src/index/db.ts";
import { parseIndex } from "../src/layout/_index.ts";
import { parseSpecJson } from "../src/spec/parse.ts";
import { parseSpecDoc } from "../src/layout/_spec.ts";
import { mirrorsSection, parseYaml, resolveMirror } from "../src/config/mirrors_yaml.ts";
import { loadSettings } from "../src/config/settings.ts";
import { parseKeepFile } from "../src/mirror/prune.ts";
import { extractTarball } from "../src/install/extract.ts";
import { BundleStore } from "../src/storage/bundle.ts";
import { parseQuery, parseSpecQuery } from "../src/index/query.ts";
import { parseBuildinfo, relocatePrefix } from "../src/install/relocate.ts";
import { parseOciManifest, parseSpecTag } from "../src/layout/oci/reader.ts";
import { parseLockfile } from "../src/index/lockfile.ts";
import { parseInstallDb } from "../src/index/install_db.ts";
import { parseListPage, parseS3Error } from "../src/storage/_s3_xml.ts";
import { parseChallenge } from "../src/storage/registry/client.ts";
import { parseImageRef, parseOciUrl } from "../src/storage/registry/reference.ts";
import { keyInfo, readArmoredKeys } from "../src/sign/keyring.ts";

const dec = new TextDecoder("utf-8", { fatal: false });

/** How one input fared. */
export type Verdict = "refused" | "accepted";

/** Runs `fn`; a SpackleError is a refusal, any other throw fails the assertion. */
export async function judge(what: string, fn: () => unknown): Promise<Verdict> {
  try {
    await fn();
    return "accepted";
  } catch (e) {
    assert.ok(
      e instanceof SpackleError,
      `${what}: untyped ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}\n` +
        (e as Error)?.stack,
    );
    assert.doesNotMatch(e.message, /\n\s+at /, `${what}: a stack trace in the message`);
    assert.ok(e.message.length > 0 && e.message.length < 4000, `${what}: message length`);
    return "refused";
  }
}

/** `fn` given a new temporary directory, removed once `fn` (or its promise) is done. */
async function inTempDir<T>(fn: (dir: string) => T | Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "sp-hostile-"));
  try {
    return await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Every parser of untrusted bytes, by the kind of input it reads. */
export const PARSERS: Record<string, (b: Uint8Array) => unknown> = {
  async tar(b) {
    for await (const e of readTar(streamOf(b), "hostile.tar")) {
      for await (const _ of e.body) { /* drained */ }
    }
  },
  extract(b) {
    return inTempDir((staging) => extractTarball(streamOf(b), staging, { label: "hostile.tar" }));
  },
  gzip(b) {
    return gunzipBytes(b, "hostile.gz");
  },
  async gzipStream(b) {
    const s = streamOf(b).pipeThrough(gunzipStream("hostile.gz"));
    for await (const _ of s) { /* drained */ }
  },
  manifest(b) {
    return parseManifest(dec.decode(b), "hostile manifest");
  },
  clearsign(b) {
    const t = dec.decode(b);
    splitClearsigned(t, "hostile signed manifest");
    return clearsignedBody(t, "hostile signed manifest");
  },
  index(b) {
    parseIndexDb(b, "hostile index");
    return parseIndex(dec.decode(b), 3, "hostile index");
  },
  spec(b) {
    return parseSpecJson(dec.decode(b), "hostile spec");
  },
  specDoc(b) {
    let doc: unknown;
    try {
      doc = JSON.parse(dec.decode(b));
    } catch {
      return; // not JSON: parseSpecDoc is only ever given parsed JSON
    }
    return parseSpecDoc(doc, "hostile spec");
  },
  async mirrorsYaml(b) {
    const doc = await parseYaml(dec.decode(b), "hostile mirrors.yaml");
    const { mirrors } = mirrorsSection(doc, "hostile mirrors.yaml");
    for (const [name, entry] of Object.entries(mirrors)) {
      resolveMirror(name, entry, "site", "/base");
    }
  },
  config(b) {
    return inTempDir((dir) => {
      const path = join(dir, "config.yaml");
      writeFileSync(path, b);
      return loadSettings(path, {});
    });
  },
  keep(b) {
    return parseKeepFile(dec.decode(b), "hostile keep file");
  },
  bundle(b) {
    return inTempDir((dir) => {
      const path = join(dir, "x.bundle");
      writeFileSync(path, b);
      return BundleStore.open(path);
    });
  },
  query(b) {
    const t = dec.decode(b);
    parseSpecQuery(t);
    return parseQuery(t);
  },
  buildinfo(b) {
    return parseBuildinfo(dec.decode(b));
  },
  binary(b) {
    // An ELF or Mach-O file of a package, relocated from BINARY_OLD to a longer and to a
    // shorter prefix (growing and shrinking strings), as an install does.
    const info = parseBuildinfo(
      `{buildpath: ${BINARY_OLD}, hash_to_prefix: {}, relocate_binaries: [lib/x.so]}`,
    );
    const entries = new Map([["lib", "directory"], ["lib/x.so", "file"]] as const);
    return inTempDir((dir) => {
      for (const to of ["/o", BINARY_OLD + "-longer/and/longer"]) {
        const prefix = join(dir, "p");
        rmSync(prefix, { recursive: true, force: true });
        mkdirSync(join(prefix, "lib"), { recursive: true });
        writeFileSync(join(prefix, "lib/x.so"), b);
        try {
          relocatePrefix(prefix, info, [[BINARY_OLD, to]], new Map(entries));
        } catch (e) {
          // Growing strings is refused for files without room; shrinking them never is.
          if (to === "/o" || !(e instanceof SpackleError)) throw e;
        }
      }
    });
  },
  ociManifest(b) {
    return parseOciManifest(b, "hostile OCI manifest");
  },
  ociTag(b) {
    return parseSpecTag(dec.decode(b));
  },
  lockfile(b) {
    return parseLockfile(dec.decode(b), "hostile spack.lock");
  },
  installDb(b) {
    return parseInstallDb(dec.decode(b), "hostile index.json");
  },
  s3Xml(b) {
    const t = dec.decode(b);
    parseS3Error(t);
    return parseListPage(t);
  },
  challenge(b) {
    return parseChallenge(dec.decode(b));
  },
  imageRef(b) {
    return parseImageRef(dec.decode(b));
  },
  ociUrl(b) {
    return parseOciUrl(dec.decode(b));
  },
  async keys(b) {
    for (const k of await readArmoredKeys(dec.decode(b), "hostile key")) await keyInfo(k);
  },
};

/** The build prefix the `binary` parser's seeds name in their load paths. */
export const BINARY_OLD = join(tmpdir(), `spackle-fuzz-build-${process.pid}`, "pkg");

/** Verifies a clear-signed text with `armoredKey` trusted. */
export function verifier(armoredKey: string): (b: Uint8Array) => unknown {
  const v = new KeyringVerifier([armoredKey]);
  return (b) => v.verify(dec.decode(b), "hostile signed manifest");
}
