/**
 * Attacks by a mirror on what gets installed, each tried as an attacker would, on copies of
 * the signed fixture mirrors: a tampered signed manifest (with and without --allow-unsigned,
 * and through a mirror configured `signed: false`), a lying index (v2 and v3), a manifest
 * moved to another version's path. Inspection (`show`, the REPL's `cat`) displays them with
 * their status and exits 0; install refuses them.
 */
import assert from "node:assert/strict";
import {
  cpSync,
  existsSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { fixture, HAVE_FIXTURES, REPO_ROOT } from "./_fixtures.ts";
import { ReplSession } from "../src/repl/repl.ts";
import { buildProgram } from "../src/cli/app.ts";

const KEY = () => fixture("keys/oracle-test.pub.asc");

async function withTmp(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "spackle-trust-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function spackle(dir: string, ...args: string[]) {
  const p = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(REPO_ROOT, "cli.ts"), ...args],
    env: {
      NO_COLOR: "1",
      SPACKLE_KEYRING: join(dir, "keyring"),
      SPACKLE_CONFIG: join(dir, "config.yaml"),
      XDG_CONFIG_HOME: join(dir, "xdg"),
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: p.code, stdout: dec.decode(p.stdout), stderr: dec.decode(p.stderr) };
}

const t = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, ignore: !HAVE_FIXTURES, fn });

const sha256 = (b: Uint8Array | string) => createHash("sha256").update(b).digest("hex");

function v3Manifest(mirror: string, name: string): string {
  const d = join(mirror, "v3", "manifests", "spec", name);
  return join(d, readdirSync(d)[0]);
}

/** The tarball record (checksum, size) of a v3 manifest. */
function tarballRecord(path: string): { checksum: string; contentLength: number } {
  const text = readFileSync(path, "utf8");
  const body = text.slice(text.indexOf("{"), text.indexOf("-----BEGIN PGP SIGNATURE"));
  const doc = JSON.parse(body) as {
    data: { mediaType: string; checksum: string; contentLength: number }[];
  };
  return doc.data.find((r) => r.mediaType.includes("install"))!;
}

/** libzz's signed manifest edited to name foodata's tarball, with its correct digest and size. */
function tamperV3(mirror: string) {
  const libzz = v3Manifest(mirror, "libzz");
  const own = tarballRecord(libzz);
  const other = tarballRecord(v3Manifest(mirror, "foodata"));
  const text = readFileSync(libzz, "utf8");
  const edited = text.replace(own.checksum, other.checksum)
    .replace(`"contentLength":${own.contentLength}`, `"contentLength":${other.contentLength}`);
  assert.notEqual(edited, text);
  writeFileSync(libzz, edited);
}

/** libzz's signed v2 spec file edited to foodata's tarball checksum, and foodata's tarball put in its place. */
function tamperV2(mirror: string) {
  const bc = join(mirror, "build_cache");
  const sig = readdirSync(bc).find((n) => n.includes("-libzz-") && n.endsWith(".sig"))!;
  const fsig = readdirSync(bc).find((n) => n.includes("-foodata-") && n.endsWith(".sig"))!;
  const sum = (n: string) =>
    /"hash":\s*"([0-9a-f]{64})"/.exec(readFileSync(join(bc, n), "utf8"))![1];
  const text = readFileSync(join(bc, sig), "utf8");
  writeFileSync(join(bc, sig), text.replace(sum(sig), sum(fsig)));
  const tarDir = (n: string) => join(bc, "linux-debian12-x86_64", "gcc-12.2.0", n);
  const zz = tarDir("libzz-1.2.3");
  const zzTar = join(zz, readdirSync(zz)[0]);
  const fd = tarDir("foodata-1.0");
  cpSync(join(fd, readdirSync(fd)[0]), zzTar);
}

for (
  const [layout, fix, tamper] of [["v3", "v3-signed", tamperV3], [
    "v2",
    "v2-signed",
    tamperV2,
  ]] as const
) {
  t(
    `${layout}: a tampered signed entry is refused, with --allow-unsigned and signed: false too`,
    async () => {
      await withTmp(async (dir) => {
        const m = join(dir, "mirror");
        cpSync(fixture(fix), m, { recursive: true });
        tamper(m);
        const root = join(dir, "root");
        const strict = await spackle(dir, "install", "-m", m, "--root", root, "-k", KEY(), "libzz");
        assert.equal(strict.code, 1, strict.stderr);
        assert.match(strict.stderr, /Bad signature/);
        const loose = await spackle(
          dir,
          "--json",
          "install",
          "-m",
          m,
          "--root",
          root,
          "-k",
          KEY(),
          "--allow-unsigned",
          "libzz",
        );
        assert.equal(loose.code, 1, loose.stdout);
        assert.match(loose.stdout, /Bad signature/);
        // A configured mirror marked signed: false is --allow-unsigned: still refused.
        writeFileSync(
          join(dir, "config.yaml"),
          `mirrors:\n  evil:\n    url: ${m}\n    signed: false\n`,
        );
        const t1 = await spackle(dir, "keys", "trust", KEY());
        assert.equal(t1.code, 0, t1.stderr);
        const conf = await spackle(dir, "install", "-m", "evil", "--root", root, "libzz");
        assert.equal(conf.code, 1, conf.stderr);
        assert.match(conf.stderr, /Bad signature/);
        assert.ok(!existsSync(join(root, "linux-x86_64")), "nothing installed");
        // Inspection shows it, flagged, and exits 0.
        const show = await spackle(dir, "show", "-m", m, "libzz");
        assert.equal(show.code, 0, show.stderr);
        assert.match(show.stdout, /signature:\s+BAD SIGNATURE/);
        const j = JSON.parse((await spackle(dir, "--json", "show", "-m", m, "libzz")).stdout);
        assert.equal(j.signature.status, "bad");
      });
    },
  );
}

t(
  "--allow-unsigned admits unsigned and untrusted-key entries with one warning each, kept in --json",
  async () => {
    await withTmp(async (dir) => {
      const root = join(dir, "root");
      const r = await spackle(
        dir,
        "--json",
        "install",
        "-m",
        fixture("v3-unsigned"),
        "--root",
        root,
        "--allow-unsigned",
        "fooapp",
      );
      assert.equal(r.code, 0, r.stderr);
      const doc = JSON.parse(r.stdout);
      const installed = doc.specs.map((s: { name: string }) => s.name).sort();
      assert.equal(doc.warnings.length, installed.length, doc.warnings.join("\n"));
      for (const w of doc.warnings) assert.match(w, /unsigned, admitted by --allow-unsigned/);
      // Signed by a key that is not trusted (empty keyring): admitted with a warning naming the key.
      const root2 = join(dir, "root2");
      const s = await spackle(
        dir,
        "install",
        "-m",
        fixture("v3-signed"),
        "--root",
        root2,
        "--allow-unsigned",
        "libzz",
      );
      assert.equal(s.code, 0, s.stderr);
      const lines = s.stderr.split("\n").filter((l) => l.startsWith("warning:"));
      assert.equal(lines.length, 1, s.stderr);
      assert.match(
        lines[0],
        /libzz\/irttwv2: signed by key 6EE87675E657CA38, which is not trusted/,
      );
    });
  },
);

/** The index with foodata's record renamed to libzz (v3: a new index blob and manifest). */
function lieInIndex(mirror: string, layout: "v2" | "v3") {
  const rename = (text: string) => {
    const doc = JSON.parse(text) as {
      database: { installs: Record<string, { spec: { name: string } }> };
    };
    let n = 0;
    for (const r of Object.values(doc.database.installs)) {
      if (r.spec.name === "foodata") {
        r.spec.name = "libzz";
        n++;
      }
    }
    assert.equal(n, 1);
    return JSON.stringify(doc);
  };
  if (layout === "v2") {
    const p = join(mirror, "build_cache", "index.json");
    writeFileSync(p, rename(readFileSync(p, "utf8")));
    return;
  }
  const mpath = join(mirror, "v3", "manifests", "index", "index.manifest.json");
  const man = JSON.parse(readFileSync(mpath, "utf8"));
  const rec = man.data[0];
  const old = join(mirror, "blobs", "sha256", rec.checksum.slice(0, 2), rec.checksum);
  const text = rename(readFileSync(old, "utf8"));
  const sum = sha256(text);
  Deno.mkdirSync(join(mirror, "blobs", "sha256", sum.slice(0, 2)), { recursive: true });
  writeFileSync(join(mirror, "blobs", "sha256", sum.slice(0, 2), sum), text);
  rec.checksum = sum;
  rec.contentLength = new TextEncoder().encode(text).byteLength;
  writeFileSync(mpath, JSON.stringify(man));
  // ... and foodata's signed manifest copied to the path the lie points at.
  const fd = v3Manifest(mirror, "foodata");
  cpSync(fd, fd.replaceAll("foodata", "libzz"));
}

for (const [layout, fix] of [["v3", "v3-signed"], ["v2", "v2-signed"]] as const) {
  t(
    `${layout}: a lying index cannot substitute foodata for "install libzz@1.0"; show prints the signed name`,
    async () => {
      await withTmp(async (dir) => {
        const m = join(dir, "mirror");
        cpSync(fixture(fix), m, { recursive: true });
        lieInIndex(m, layout);
        const list = await spackle(dir, "list", "-m", m, "libzz@1.0");
        assert.match(list.stdout, /^libzz\s+1\.0/m, "the index lies");
        const root = join(dir, "root");
        const r = await spackle(dir, "install", "-m", m, "--root", root, "-k", KEY(), "libzz@1.0");
        assert.equal(r.code, 1, r.stderr);
        assert.match(r.stderr, /substitution/);
        assert.match(r.stderr, /foodata@1\.0/);
        assert.ok(!existsSync(join(root, "linux-x86_64")), "nothing installed");
        const show = await spackle(dir, "show", "-m", m, "-k", KEY(), "libzz@1.0");
        assert.equal(show.code, 0, show.stderr);
        assert.match(show.stdout, /^foodata@1\.0\//m);
        assert.doesNotMatch(show.stdout, /^libzz/m);
        assert.match(show.stdout, /SUBSTITUTED:.*"libzz@1\.0/);
      });
    },
  );
}

t("v3: a manifest moved to libzz-9.9.9-<hash> does not install 1.2.3 for libzz@9.9.9", async () => {
  await withTmp(async (dir) => {
    const m = join(dir, "mirror");
    cpSync(fixture("v3-signed"), m, { recursive: true });
    rmSync(join(m, "v3", "manifests", "index"), { recursive: true });
    const p = v3Manifest(m, "libzz");
    renameSync(p, p.replace("libzz-1.2.3-", "libzz-9.9.9-"));
    const root = join(dir, "root");
    const r = await spackle(dir, "install", "-m", m, "--root", root, "-k", KEY(), "libzz@9.9.9");
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /substitution.*libzz@1\.2\.3/);
    const show = await spackle(dir, "show", "-m", m, "-k", KEY(), "libzz@9.9.9");
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /^libzz@1\.2\.3\/irttwv2/m);
    assert.match(show.stdout, /signature:\s+verified by 4D78/);
    assert.doesNotMatch(show.stdout, /9\.9\.9.*verified/);
  });
});

t(
  "the REPL on a fresh machine (no trusted key) shows signed and unsigned entries with their status",
  async () => {
    const printed: string[] = [];
    const s = new ReplSession(
      { program: buildProgram, mirror: [fixture("v3-signed")] },
      (l) => printed.push(l),
    );
    await withTmp(async (dir) => {
      const before = Deno.env.get("SPACKLE_KEYRING");
      Deno.env.set("SPACKLE_KEYRING", join(dir, "empty-keyring"));
      try {
        assert.equal(await s.line("cat libzz"), 0, printed.join("\n"));
        assert.match(
          printed.join("\n"),
          /libzz@1\.2\.3\/irttwv2\S*: signed by 6EE87675E657CA38, not trusted/,
        );
        assert.match(
          printed.join("\n"),
          /"mediaType": "application\/vnd\.spack\.install\.v2\.tar\+gzip"/,
        );
        printed.length = 0;
        assert.equal(await s.line("deps fooapp"), 0, printed.join("\n"));
        assert.match(printed.join("\n"), /\[run\] foodata@1\.0\/ddk74w2/);
      } finally {
        if (before === undefined) Deno.env.delete("SPACKLE_KEYRING");
        else Deno.env.set("SPACKLE_KEYRING", before);
      }
    });
    const u: string[] = [];
    const s2 = new ReplSession(
      { program: buildProgram, mirror: [fixture("v2-unsigned")] },
      (l) => u.push(l),
    );
    assert.equal(await s2.line("cat libzz"), 0, u.join("\n"));
    assert.match(u.join("\n"), /: unsigned$/m);
  },
);

t(
  "v2: an index lying about the compiler or the target cannot satisfy %clang or target=aarch64",
  async () => {
    await withTmp(async (dir) => {
      const m = join(dir, "mirror");
      cpSync(fixture("v2-signed"), m, { recursive: true });
      const p = join(m, "build_cache", "index.json");
      const doc = JSON.parse(readFileSync(p, "utf8"));
      for (const r of Object.values(doc.database.installs) as { spec: Record<string, unknown> }[]) {
        if (r.spec.name !== "libzz") continue;
        r.spec.compiler = { name: "clang", version: "17.0.0" };
      }
      writeFileSync(p, JSON.stringify(doc));
      const root = join(dir, "root");
      const r = await spackle(dir, "install", "-m", m, "--root", root, "-k", KEY(), "libzz%clang");
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /substitution: its signed spec is "libzz@1\.2\.3 %gcc@12\.2\.0/);
      // The arch is part of the signed identity: a lie about it is a substitution at once.
      for (
        const rec of Object.values(doc.database.installs) as { spec: Record<string, unknown> }[]
      ) {
        if (rec.spec.name !== "libzz") continue;
        rec.spec.arch = { platform: "linux", platform_os: "debian12", target: "aarch64" };
      }
      writeFileSync(p, JSON.stringify(doc));
      const a = await spackle(
        dir,
        "install",
        "-m",
        m,
        "--root",
        root,
        "-k",
        KEY(),
        "libzz target=aarch64",
      );
      assert.equal(a.code, 1, a.stderr);
      assert.match(a.stderr, /substitution/);
      assert.ok(!existsSync(join(root, "linux-x86_64")), "nothing installed");
    });
  },
);
