/**
 * Progress bars from the real CLI: under a pseudo-terminal (util-linux `script`) `download` and
 * `install` draw and erase bars on stderr; piped, or with --quiet, they print no bars at all;
 * NO_COLOR turns the colours off.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { fixture, HAVE_FIXTURES, REPO_ROOT } from "./_fixtures.ts";

const SCRIPT = ["/usr/bin/script", "/bin/script"].find((p) => existsSync(p));
const DENO = join(REPO_ROOT, "node_modules/.bin/deno");
const CLI = join(REPO_ROOT, "cli.ts");
const ERASE = "\x1b[1A\x1b[2K";

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Runs the CLI with stdout and stderr on a pseudo-terminal; everything it wrote. */
function onTerminal(args: string[], env: Record<string, string> = {}): string {
  const cmd = [DENO, "run", "-A", CLI, ...args].map(quote).join(" ");
  return execFileSync(SCRIPT!, ["-qec", cmd, "/dev/null"], {
    encoding: "utf8",
    env: { ...process.env, ...env, COLUMNS: "120" },
  });
}

Deno.test({
  name: "download on a terminal draws per-item and overall bars, then erases them",
  ignore: !SCRIPT || !HAVE_FIXTURES,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "spackle-progress-" });
    const screen = onTerminal([
      "download",
      "-m",
      fixture("v3-unsigned"),
      "--allow-unsigned",
      "--deps",
      "fooapp",
      "--to",
      join(dir, "dl"),
    ], { NO_COLOR: "1" });
    // Item bars are redrawn at most 10 times a second, so which ones show depends on timing;
    // every one shows its name, a bar and bytes against the tarball size.
    for (const m of screen.matchAll(/(\w+@[\d.]+\/\w{7}) +([█░]*) ?([\d.]+ k?B)\/([\d.]+ kB)/g)) {
      assert.ok(m[2].length > 0, `an item line without a bar: ${m[0]}`);
    }
    assert.match(screen, /total 4\/4 +28 kB [\d.]+ [kM]?B\/s/);
    assert.ok(screen.includes(ERASE), "bars are erased");
    assert.match(screen, /downloaded fooapp@3\.0\/iicodpd \(3 files\)/);
    assert.match(screen, /4 specs, [\d.]+ kB into /);
    // NO_COLOR: no colour codes at all (only cursor movement).
    // deno-lint-ignore no-control-regex
    assert.doesNotMatch(screen, /\x1b\[\d+m/);
    // The last thing on stderr before the result is an erase, not a bar.
    const last = screen.lastIndexOf("total 4/4");
    assert.ok(screen.indexOf(ERASE, last) > last);
  },
});

Deno.test({
  name: "install and push on a terminal show bars; --quiet and a pipe show none",
  ignore: !SCRIPT || !HAVE_FIXTURES,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "spackle-progress-" });
    const args = (root: string) => [
      "install",
      "-m",
      fixture("v3-unsigned"),
      "--allow-unsigned",
      "--root",
      join(dir, root),
      "fooapp",
    ];
    const tty = onTerminal(args("a"));
    assert.match(
      tty,
      /(libzz@1\.2\.3\/irttwv2|libfoo@2\.0\/qxhycnk|fooapp@3\.0\/iicodpd).* k?B\/\d+\.\d kB/,
    );
    // Totals are known once the closure is resolved: 4 packages, 28 kB of tarballs.
    assert.match(tty, /total 0\/4 .*0 B\/28 kB/);
    assert.match(tty, /total 4\/4 .*28 kB\/28 kB [\d.]+ [kM]?B\/s ETA 0:00/);
    assert.match(tty, /installed fooapp\/iicodpd/);
    assert.ok(tty.includes(ERASE));
    const quiet = onTerminal([...args("b"), "--quiet"]);
    assert.ok(!quiet.includes(ERASE), `--quiet drew bars:\n${quiet}`);
    assert.doesNotMatch(quiet, /total \d/);
    assert.match(quiet, /fooapp@3\.0\/iicodpd /);
    const piped = execFileSync(DENO, ["run", "-A", CLI, ...args("c")], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
    assert.ok(!piped.includes("\x1b"), "no escape codes off a terminal");
    assert.match(piped, /fooapp@3\.0\/iicodpd /);
    // push from that tree: the packages pushed out of the total, above which each line prints.
    const pushed = onTerminal([
      "push",
      "--unsigned",
      "--root",
      join(dir, "a"),
      join(dir, "mirror"),
      "fooapp",
    ], { NO_COLOR: "1" });
    assert.match(pushed, /total 0\/4/);
    assert.match(pushed, /total 4\/4 +ETA 0:00/);
    assert.match(pushed, /pushed fooapp@3\.0\/iicodpd \([\d.]+ kB\)/);
    assert.ok(pushed.includes(ERASE));
    assert.match(pushed, /4 pushed, 0 already present, 0 failed/);
  },
});

Deno.test({
  name: "sync, bundle, prune and verify on a terminal show bars; --quiet, --json and a pipe none",
  ignore: !SCRIPT || !HAVE_FIXTURES,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "spackle-progress-" });
    const src = fixture("v3-signed");
    const KEY = fixture("keys/oracle-test.pub.asc");
    const dst = join(dir, "dst");
    const sync = onTerminal(["sync", src, dst, "-k", KEY], { NO_COLOR: "1" });
    assert.match(sync, /reading manifests 0\/5/);
    // Manifests done out of all, blob bytes against the total, a rate and an ETA.
    assert.match(sync, /total 0\/5 +[█░]+ [\d.]+ k?B\/32 kB [\d.]+ [kM]?B\/s/);
    assert.match(sync, /total 5\/5 +█+ 32 kB\/32 kB [\d.]+ [kM]?B\/s ETA 0:00/);
    assert.match(
      sync,
      /(libzz@1\.2\.3\/irttwv2|libfoo@2\.0\/qxhycnk|fooapp@3\.0\/iicodpd) +█*░* ?[\d.]+ k?B\/[\d.]+ k?B/,
    );
    assert.match(sync, /rebuilding the index/);
    assert.ok(sync.includes(ERASE));
    assert.match(sync, /5 manifests from a v3 source: 5 copied.*9 blobs copied \(32 kB\)/);
    // Again: every blob is present, so nothing is left to copy.
    const again = onTerminal(["sync", src, dst, "-k", KEY], { NO_COLOR: "1" });
    assert.match(again, /total 5\/5 +█+ 0 B\/0 B/);
    assert.match(again, /0 blobs copied \(0 B\), 9 already present/);

    const bundle = onTerminal(
      ["bundle", "fooapp", "-m", src, "-o", join(dir, "f.bundle"), "-k", KEY],
      { NO_COLOR: "1" },
    );
    assert.match(bundle, /total 5\/5/); // 4 specs and a key
    assert.match(bundle, /writing the bundle \d+\/\d+ .*[\d.]+ kB\/[\d.]+ kB/);
    assert.ok(bundle.includes(ERASE));
    assert.match(bundle, /wrote .*f\.bundle: 4 specs/);

    const prune = onTerminal(["prune", dst], { NO_COLOR: "1" });
    assert.match(prune, /sizing blobs \d+\/\d+/);
    assert.match(prune, /reading manifests 7\/7/); // specs, key, key index, index
    assert.ok(prune.includes(ERASE));
    assert.match(prune, /0 object\(s\) would be deleted/);

    const verify = onTerminal(["verify", dst], { NO_COLOR: "1" });
    assert.match(verify, /checked 4\/4 +[\d.]+ kB [\d.]+ [kM]?B\/s ETA 0:00/);
    assert.ok(verify.includes(ERASE));
    assert.match(verify, /no problems found/);

    for (const args of [["sync", src, dst, "-k", KEY], ["verify", dst], ["prune", dst]]) {
      for (const flag of ["--quiet", "--json"]) {
        const screen = onTerminal([flag, ...args]);
        assert.ok(!screen.includes(ERASE), `${flag} ${args[0]} drew bars:\n${screen}`);
        assert.doesNotMatch(screen, /total \d|reading manifests|checked \d/);
      }
      const piped = execFileSync(DENO, ["run", "-A", CLI, ...args], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
      });
      assert.ok(!piped.includes("\x1b"), `${args[0]}: escape codes off a terminal`);
    }
    await Deno.remove(dir, { recursive: true });
  },
});
