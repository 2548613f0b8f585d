import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { UsageError } from "../errors.ts";
import { loadSpackMirrors, spackScopes, urlOrPathToUrl } from "./mirrors_yaml.ts";
import { tmpdir } from "node:os";
import {
  addMirror,
  configPath,
  configuredMirrors,
  loadSettings,
  removeMirror,
} from "./settings.ts";

async function tmp(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "spackle-config-" });
}

Deno.test("mirrors.yaml: every field is read, fetch/push split resolved per direction", async () => {
  const d = await tmp();
  const f = join(d, "mirrors.yaml");
  writeFileSync(
    f,
    `mirrors:
  plain: /srv/plain
  rel: ./relative/mirror
  split:
    url: s3://bucket/all
    signed: false
    binary: true
    profile: top
    endpoint_url: https://minio.example.org
    fetch:
      url: https://cache.example.org/spack
      view: gpu
    push:
      url: s3://bucket/push
      access_pair:
        id_variable: AWS_ID
        secret_variable: AWS_SECRET
      access_token_variable: AWS_TOKEN
      profile: pusher
  sources-only:
    url: https://src.example.org
    binary: false
`,
  );
  const ms = await loadSpackMirrors([{ name: "command_line", path: f }]);
  assert.deepEqual(ms.map((m) => m.name), ["plain", "rel", "split"]);
  assert.equal(ms[0].fetch.url, "file:///srv/plain");
  assert.equal(ms[0].signed, true);
  assert.equal(ms[1].fetch.url, `file://${d}/relative/mirror`);
  const s = ms[2];
  assert.equal(s.signed, false);
  assert.equal(s.fetch.url, "https://cache.example.org/spack");
  assert.equal(s.fetch.view, "gpu");
  assert.equal(s.fetch.profile, "top");
  assert.equal(s.fetch.endpoint_url, "https://minio.example.org");
  assert.equal(s.push.url, "s3://bucket/push");
  assert.equal(s.push.profile, "pusher");
  assert.deepEqual(s.push.access_pair, { id_variable: "AWS_ID", secret_variable: "AWS_SECRET" });
  assert.equal(s.push.access_token_variable, "AWS_TOKEN");
  const all = await loadSpackMirrors([{ name: "command_line", path: f }], { all: true });
  assert.equal(all.length, 4);
});

Deno.test("mirrors.yaml: higher scopes win key by key, mirrors:: replaces lower scopes", async () => {
  const d = await tmp();
  mkdirSync(join(d, "home/.spack"), { recursive: true });
  mkdirSync(join(d, "root/etc/spack"), { recursive: true });
  writeFileSync(join(d, "home/.spack/mirrors.yaml"), "mirrors:\n  a: {signed: false}\n  u: /u\n");
  writeFileSync(
    join(d, "root/etc/spack/mirrors.yaml"),
    "mirrors:\n  a: {url: /site/a}\n  s: /s\n",
  );
  const scopes = spackScopes({ home: join(d, "home"), env: { SPACK_ROOT: join(d, "root") } });
  assert.deepEqual(scopes.map((s) => s.name), ["user", "site", "system"]);
  const ms = await loadSpackMirrors(scopes.filter((s) => s.name !== "system"));
  const a = ms.find((m) => m.name === "a")!;
  assert.equal(a.fetch.url, "file:///site/a");
  assert.equal(a.signed, false);
  assert.deepEqual(ms.map((m) => m.name).sort(), ["a", "s", "u"]);
  writeFileSync(join(d, "home/.spack/mirrors.yaml"), "mirrors::\n  u: /u\n");
  const only = await loadSpackMirrors(scopes.filter((s) => s.name !== "system"));
  assert.deepEqual(only.map((m) => m.name), ["u"]);
});

Deno.test("mirrors.yaml: a mirror without a URL is an error naming it", async () => {
  const d = await tmp();
  writeFileSync(join(d, "m.yaml"), "mirrors:\n  broken: {signed: true}\n");
  await assert.rejects(
    () => loadSpackMirrors([{ name: "command_line", path: join(d, "m.yaml") }]),
    /Mirror "broken".*no URL/,
  );
});

Deno.test("settings: file values, environment on top, config path order", async () => {
  const d = await tmp();
  const f = join(d, "config.yaml");
  writeFileSync(f, "install_root: ./tree\njobs: 6\nkeyring: /k\nmirrors:\n  m: /mm\n");
  const s = await loadSettings(f, {});
  assert.equal(s.installRoot, join(d, "tree"));
  assert.equal(s.jobs, 6);
  assert.equal(s.keyring, "/k");
  assert.equal(s.mirrors[0].fetch.url, "file:///mm");
  const e = await loadSettings(f, { SPACKLE_ROOT: "/env/root", SPACKLE_JOBS: "2" });
  assert.equal(e.installRoot, "/env/root");
  assert.equal(e.jobs, 2);
  await assert.rejects(() => loadSettings(f, { SPACKLE_JOBS: "zero" }), /jobs must be/);
  // A bad variable is a usage error naming it; an empty or blank one counts as unset.
  await assert.rejects(
    () => loadSettings(f, { SPACKLE_JOBS: "zero" }),
    (e: Error) => e instanceof UsageError && /SPACKLE_JOBS/.test(e.message),
  );
  for (const blank of ["", "  "]) {
    const u = await loadSettings(f, {
      SPACKLE_JOBS: blank,
      SPACKLE_ROOT: blank,
      SPACKLE_KEYRING: blank,
      SPACKLE_READ_TIMEOUT: blank,
    });
    assert.equal(u.jobs, 6);
    assert.equal(u.installRoot, join(d, "tree"));
    assert.equal(u.keyring, "/k");
  }
  assert.notEqual(configPath(undefined, { SPACKLE_CONFIG: " " }), resolve(" "));
  assert.equal(configPath("/x.yaml", { SPACKLE_CONFIG: "/y.yaml" }), "/x.yaml");
  assert.equal(configPath(undefined, { SPACKLE_CONFIG: "/y.yaml" }), "/y.yaml");
  assert.equal(configPath(undefined, { XDG_CONFIG_HOME: "/xdg" }), "/xdg/spackle/config.yaml");
});

Deno.test("settings: spackle's mirrors hide Spack's of the same name", async () => {
  const d = await tmp();
  writeFileSync(join(d, "config.yaml"), "mirrors:\n  same: /mine\nspack_mirrors: false\n");
  writeFileSync(join(d, "spack.yaml"), "mirrors:\n  same: /spack\n  other: /other\n");
  const s = await loadSettings(join(d, "config.yaml"), {});
  const ms = await configuredMirrors(s, { spackFile: join(d, "spack.yaml"), home: d, env: {} });
  assert.deepEqual(ms.map((m) => [m.name, m.fetch.url]), [
    ["same", "file:///mine"],
    ["other", "file:///other"],
  ]);
});

Deno.test("mirror add/remove keep the file's comments", async () => {
  const d = await tmp();
  const f = join(d, "config.yaml");
  writeFileSync(f, "# my settings\njobs: 3 # three\nmirrors:\n  # the old one\n  old: /old\n");
  await addMirror(f, "new", "https://cache.example.org", {});
  await addMirror(f, "loose", "/srv/l", { signed: false });
  let text = readFileSync(f, "utf8");
  assert.match(text, /# my settings/);
  assert.match(text, /jobs: 3 # three/);
  assert.match(text, /# the old one/);
  assert.match(text, /new: https:\/\/cache\.example\.org/);
  const s = await loadSettings(f, {});
  assert.deepEqual(s.mirrors.map((m) => m.name), ["old", "new", "loose"]);
  assert.equal(s.mirrors[2].signed, false);
  await assert.rejects(() => addMirror(f, "new", "/x"), /already configured/);
  await addMirror(f, "new", "/x", {}, { replace: true });
  assert.equal((await loadSettings(f, {})).mirrors[1].fetch.url, "file:///x");
  await removeMirror(f, "old");
  text = readFileSync(f, "utf8");
  assert.doesNotMatch(text, /old: \/old/);
  assert.match(text, /# my settings/);
  await assert.rejects(() => removeMirror(f, "old"), /No mirror named "old"/);
  await assert.rejects(() => addMirror(f, "a/b", "/x"), /Invalid mirror name/);
});

Deno.test("mirror add creates a missing config file", async () => {
  const d = await tmp();
  const f = join(d, "sub/dir/config.yaml");
  await addMirror(f, "m", "/srv/m");
  assert.equal((await loadSettings(f, {})).mirrors[0].fetch.url, "file:///srv/m");
});

Deno.test("mirror paths expand Spack's config variables ($spack, $tempdir, any case) and then environment variables", () => {
  const env = { SPACK_ROOT: "/opt/spack", SITE: "/srv/site", USER: "alice" };
  assert.equal(urlOrPathToUrl("$spack/var/mirror", "/x", env), "file:///opt/spack/var/mirror");
  assert.equal(urlOrPathToUrl("${SPACK}/m", "/x", env), "file:///opt/spack/m");
  assert.equal(urlOrPathToUrl("$tempdir/m", "/x", env), `file://${tmpdir()}/m`);
  assert.equal(urlOrPathToUrl("$SITE/mirror/$user", "/x", env), "file:///srv/site/mirror/alice");
  assert.equal(urlOrPathToUrl("rel/$UNSET_VAR", "/base", env), "file:///base/rel/$UNSET_VAR");
  assert.equal(urlOrPathToUrl("s3://bucket/$SITE", "/x", env), "s3://bucket/$SITE");
});
