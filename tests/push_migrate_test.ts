/**
 * `migrate()` of the v2 fixture mirrors compared with what Spack 1.2's own migration wrote
 * (fixtures/v2-migrated-*): same tarball records, same spec documents, same index text; the
 * source is left untouched; a second run resumes (nothing rewritten); a dry run writes nothing.
 */
import assert from "node:assert/strict";
import { cpSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { fixture, HAVE_FIXTURES } from "./_fixtures.ts";
import { FileStore } from "../src/storage/file.ts";
import { migrate } from "../src/mirror/migrate.ts";
import { gunzipBytes } from "../src/core/gzip.ts";
import { sha256Hex } from "../src/core/digest.ts";
import { verifierFromKeys } from "../src/mirror/trusted_keys.ts";
import { pathToFileURL } from "node:url";
import { SignatureError } from "../src/errors.ts";

function files(dir: string, rel = ""): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...files(dir, r));
    else out.push(r);
  }
  return out.sort();
}

function store(dir: string) {
  return new FileStore(pathToFileURL(dir + "/"));
}

function manifest(dir: string, path: string) {
  let text = readFileSync(join(dir, path), "utf8");
  if (text.startsWith("-----BEGIN PGP SIGNED MESSAGE-----")) {
    text = text.slice(text.indexOf("\n\n") + 2, text.indexOf("\n-----BEGIN PGP SIGNATURE-----"));
  }
  return JSON.parse(text) as { data: { checksum: string; mediaType: string }[] };
}

function blob(dir: string, checksum: string): Uint8Array {
  return readFileSync(join(dir, "blobs/sha256", checksum.slice(0, 2), checksum));
}

for (const kind of ["unsigned", "signed"] as const) {
  Deno.test({
    name:
      `migrating v2-${kind} gives what Spack's migration wrote (tarball records, spec documents, index)`,
    ignore: !HAVE_FIXTURES,
    async fn() {
      const base = await Deno.makeTempDir({ prefix: "sp-migrate-" });
      try {
        const src = fixture(`v2-${kind}`);
        const before = files(src).map((f) => [f, statSync(join(src, f)).mtimeMs]);
        const want = fixture(`v2-migrated-${kind}`);
        const dst = join(base, "v3");
        const verifier = kind === "signed"
          ? await verifierFromKeys([readFileSync(fixture("keys", "oracle-test.pub.asc"), "utf8")])
          : undefined;
        const dry = await migrate(store(src), store(dst), {
          unsigned: kind === "unsigned",
          verifier,
          dryRun: true,
        });
        assert.deepEqual(dry.specs.map((s) => s.status), [
          "would-migrate",
          "would-migrate",
          "would-migrate",
          "would-migrate",
        ]);
        assert.throws(() => statSync(dst));
        const res = await migrate(store(src), store(dst), {
          unsigned: kind === "unsigned",
          verifier,
        });
        assert.deepEqual(res.specs.map((s) => s.status).sort(), [
          "migrated",
          "migrated",
          "migrated",
          "migrated",
        ]);
        const mine = files(dst).filter((f) => f.startsWith("v3/manifests/spec/"));
        const theirs = files(want).filter((f) => f.startsWith("v3/manifests/spec/"));
        assert.deepEqual(mine, theirs);
        for (const m of mine) {
          const a = manifest(dst, m);
          const b = manifest(want, m);
          assert.deepEqual(a.data[0], b.data[0], m); // the tarball record, bytes reused
          assert.equal(sha256Hex(blob(dst, a.data[0].checksum)), a.data[0].checksum);
          assert.equal(a.data[1].mediaType, b.data[1].mediaType);
          const sa = new TextDecoder().decode(gunzipBytes(blob(dst, a.data[1].checksum)));
          const sb = new TextDecoder().decode(gunzipBytes(blob(want, b.data[1].checksum)));
          assert.equal(sa, sb, m);
        }
        const ia = manifest(dst, "v3/manifests/index/index.manifest.json").data[0].checksum;
        const ib = manifest(want, "v3/manifests/index/index.manifest.json").data[0].checksum;
        assert.equal(
          new TextDecoder().decode(blob(dst, ia)),
          new TextDecoder().decode(blob(want, ib)),
        );
        assert.equal(ia, ib);
        // the source is untouched
        assert.deepEqual(files(src).map((f) => [f, statSync(join(src, f)).mtimeMs]), before);
        // a second run finds everything present
        const again = await migrate(store(src), store(dst), {
          unsigned: kind === "unsigned",
          verifier,
        });
        assert.deepEqual(again.specs.map((s) => s.status), [
          "present",
          "present",
          "present",
          "present",
        ]);
      } finally {
        rmSync(base, { recursive: true, force: true });
      }
    },
  });
}

Deno.test({
  name: "migrate leaves entries whose signature cannot be verified, and says why",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const base = await Deno.makeTempDir({ prefix: "sp-migrate-" });
    try {
      const res = await migrate(store(fixture("v2-signed")), store(join(base, "v3")), {
        verifier: {
          verify: () => Promise.reject(new SignatureError("signed by an untrusted key")),
        },
      });
      assert.equal(res.specs.length, 4);
      for (const s of res.specs) {
        assert.equal(s.status, "left");
        assert.match(s.reason ?? "", /untrusted key/);
      }
      assert.equal(res.index, undefined);
      assert.throws(() => statSync(join(base, "v3", "v3")));
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "migrate in place of a copy keeps build_cache and adds v3",
  ignore: !HAVE_FIXTURES,
  async fn() {
    const base = await Deno.makeTempDir({ prefix: "sp-migrate-" });
    try {
      const m = join(base, "m");
      cpSync(fixture("v2-unsigned"), m, { recursive: true });
      const v2files = files(m);
      const res = await migrate(store(m), store(m), { unsigned: true });
      assert.equal(res.specs.filter((s) => s.status === "migrated").length, 4);
      const after = files(m);
      for (const f of v2files) assert.ok(after.includes(f), f);
      assert.ok(after.includes("v3/layout.json"));
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  },
});
