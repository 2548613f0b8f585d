/**
 * The single executable: the host binary runs, and the linux-arm64 one runs under qemu-user
 * where qemu-aarch64-static and the arm64 loader are installed.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readIndexDb } from "../src/index/db.ts";
import { sortRecords } from "../src/index/sort.ts";
import { fixture, HAVE_FIXTURES, REPO_ROOT } from "./_fixtures.ts";

const dist = join(REPO_ROOT, "dist");
const pkg = JSON.parse(Deno.readTextFileSync(join(REPO_ROOT, "package.json")));

function compile(...targets: string[]) {
  execFileSync("bash", [join(REPO_ROOT, "scripts/compile"), ...targets], { stdio: "ignore" });
}

Deno.test("the compiled executable prints its version, commit and target, and passes self-check", () => {
  if (!existsSync(join(dist, "spackle"))) compile();
  const version = execFileSync(join(dist, "spackle"), ["--version"], { encoding: "utf8" });
  assert.match(
    version,
    new RegExp(`^spackle ${pkg.version.replaceAll(".", "\\.")} \\(commit \\w+, linux-x64\\)`),
  );
  const check = JSON.parse(
    execFileSync(join(dist, "spackle"), ["self-check", "--json"], { encoding: "utf8" }),
  );
  assert.deepEqual(check.checks.map((c: { ok: boolean }) => c.ok), [true, true, true]);
});

/**
 * A v3 mirror of an index only, of `n` generated specs (past the size read ahead on a worker
 * thread), with some records the WebAssembly scanner leaves to the JS reader (an escape, a
 * non-ASCII string); and the table `list --json -a` must give of it, read here in one piece.
 */
async function bigIndexMirror(dir: string, n: number) {
  execFileSync(
    Deno.execPath(),
    ["run", "-A", join(REPO_ROOT, "scripts/gen_mirror.ts"), dir, String(n), "--index-only"],
    { stdio: "ignore" },
  );
  const mpath = join(dir, "v3/manifests/index/index.manifest.json");
  const m = JSON.parse(readFileSync(mpath, "utf8"));
  const d = m.data[0];
  const doc = JSON.parse(
    readFileSync(join(dir, "blobs/sha256", d.checksum.slice(0, 2), d.checksum), "utf8"),
  );
  Object.values(doc.database.installs as Record<string, { spec: Record<string, unknown> }>)
    .forEach((r, i) => {
      if (i % 97 === 3) r.spec.parameters = { cflags: ['-DX="1"'] };
      if (i % 131 === 5) r.spec.namespace = "büiltin";
    });
  const bytes = new TextEncoder().encode(JSON.stringify(doc));
  const sum = createHash("sha256").update(bytes).digest("hex");
  mkdirSync(join(dir, "blobs/sha256", sum.slice(0, 2)), { recursive: true });
  writeFileSync(join(dir, "blobs/sha256", sum.slice(0, 2), sum), bytes);
  Object.assign(d, { checksum: sum, contentLength: bytes.length });
  writeFileSync(mpath, JSON.stringify(m));
  assert.ok(bytes.length > 4 << 20, "read ahead on a worker");
  const db = await readIndexDb([bytes], "index");
  return sortRecords(db.records).map((r) => [r.name, r.version, r.hash, r.arch, r.compiler]);
}

Deno.test("the compiled executable lists a big index (read ahead on a worker) as it is read in one piece", async () => {
  if (!existsSync(join(dist, "spackle"))) compile();
  const dir = await Deno.makeTempDir({ prefix: "spackle-big-index-" });
  try {
    const want = await bigIndexMirror(dir, 8000);
    const got = JSON.parse(
      execFileSync(join(dist, "spackle"), ["list", "--json", "-a", "-m", dir], {
        encoding: "utf8",
        maxBuffer: 64 << 20,
      }),
    );
    const row = (r: Record<string, unknown>) => [r.name, r.version, r.hash, r.arch, r.compiler];
    assert.equal(got.specs.length, 8000);
    assert.deepEqual(got.specs.map(row), want);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const qemu = "/usr/bin/qemu-aarch64-static";
const armLoader = "/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1";

Deno.test({
  name: "the linux-arm64 executable runs under qemu-user",
  ignore: !existsSync(qemu) || !existsSync(armLoader),
  async fn() {
    compile("linux-arm64");
    const out = execFileSync(qemu, [
      "-L",
      "/usr/aarch64-linux-gnu",
      join(dist, "spackle-linux-arm64"),
      "--version",
    ], {
      encoding: "utf8",
    });
    assert.match(out, /\(commit \w+, linux-arm64\)/);
    const sums = Deno.readTextFileSync(join(dist, "SHA256SUMS"));
    assert.match(sums, /[0-9a-f]{64} {2}spackle-linux-arm64\n/);
    // Its engine runs the index scanner (WebAssembly SIMD) on a worker thread too.
    const dir = Deno.makeTempDirSync({ prefix: "spackle-arm64-index-" });
    try {
      const want = await bigIndexMirror(dir, 6500);
      const listed = JSON.parse(execFileSync(qemu, [
        "-L",
        "/usr/aarch64-linux-gnu",
        join(dist, "spackle-linux-arm64"),
        "list",
        "--json",
        "-a",
        "-m",
        dir,
      ], { encoding: "utf8", maxBuffer: 64 << 20 }));
      const row = (r: Record<string, unknown>) => [r.name, r.version, r.hash, r.arch, r.compiler];
      assert.deepEqual(listed.specs.map(row), want);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test("the executable stops quietly with status 141 when its reader goes away (| head -1)", async () => {
  if (!existsSync(join(dist, "spackle"))) compile();
  const dir = await Deno.makeTempDir({ prefix: "spackle-pipe-" });
  try {
    execFileSync(
      Deno.execPath(),
      ["run", "-A", join(REPO_ROOT, "scripts/gen_mirror.ts"), dir, "5000", "--index-only"],
      { stdio: "ignore" },
    );
    for (const run of [[join(dist, "spackle")], [Deno.execPath(), "run", "-A", "cli.ts"]]) {
      const cmd = `${run.map((a) => `'${a}'`).join(" ")} list -m '${dir}' 2>"$0" | head -1; ` +
        `echo "status=\${PIPESTATUS[0]}"`;
      const err = join(dir, "stderr");
      const out = execFileSync("bash", ["-c", cmd, err], { encoding: "utf8", cwd: REPO_ROOT });
      assert.match(out, /^pkg00000 .*\nstatus=141\n$/, out);
      const stderr = Deno.readTextFileSync(err);
      assert.doesNotMatch(stderr, /EPIPE|broken pipe|at /, stderr);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "the compiled executable takes Spack's POSIX database lock through bun:ffi",
  ignore: !HAVE_FIXTURES,
  async fn() {
    if (!existsSync(join(dist, "spackle"))) compile();
    const root = Deno.makeTempDirSync({ prefix: "sp-exe-lock-" });
    try {
      Deno.mkdirSync(join(root, ".spack-db"));
      // Another process (Python's fcntl.lockf, as Spack) holds the write lock for 1.5 s.
      const holder = new Deno.Command("python3", {
        args: [
          "-c",
          `import fcntl,os,time
fd=os.open(${JSON.stringify(join(root, ".spack-db/lock"))},os.O_RDWR|os.O_CREAT)
fcntl.lockf(fd,fcntl.LOCK_EX,0,0,0)
print("locked",flush=True)
time.sleep(1.5)`,
        ],
        stdout: "piped",
      }).spawn();
      const reader = holder.stdout.getReader();
      await reader.read(); // "locked"
      const t0 = performance.now();
      const out = new Deno.Command(join(dist, "spackle"), {
        args: [
          "install",
          "-m",
          fixture("v3-unsigned"),
          "--root",
          root,
          "--allow-unsigned",
          "fooapp",
        ],
        stderr: "piped",
      }).outputSync();
      const secs = (performance.now() - t0) / 1000;
      reader.releaseLock();
      await holder.status;
      const err = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, err);
      assert.ok(secs > 1, `the executable did not wait (${secs} s)`);
      assert.match(err, /waiting for the install database lock, held by process \d+ \(python3/);
      assert.ok(existsSync(join(root, ".spack-db/index_verifier")));
    } finally {
      Deno.removeSync(root, { recursive: true });
    }
  },
});

Deno.test("the compiled executable ignores a bunfig.toml and a .env in the directory it runs in", async () => {
  if (!existsSync(join(dist, "spackle"))) compile();
  const dir = await Deno.makeTempDir({ prefix: "spackle-cwd-" });
  try {
    // A bunfig preload would run code; a .env would choose the trusted keyring.
    const marker = join(dir, "preloaded");
    writeFileSync(join(dir, "bunfig.toml"), 'preload = ["./evil.js"]\n');
    writeFileSync(
      join(dir, "evil.js"),
      `require("fs").writeFileSync(${JSON.stringify(marker)}, "ran");\n`,
    );
    writeFileSync(join(dir, ".env"), `SPACKLE_KEYRING=${join(dir, "planted-keyring")}\n`);
    const keyringOf = (env: Record<string, string>) =>
      JSON.parse(
        execFileSync(join(dist, "spackle"), ["keys", "list", "--json"], {
          cwd: dir,
          encoding: "utf8",
          env: { PATH: "/usr/bin:/bin", HOME: dir, ...env },
        }),
      ).keyring;
    // The environment's own keyring, else the user's: never the one the .env names.
    const own = join(dir, "own-keyring");
    assert.equal(keyringOf({ SPACKLE_KEYRING: own }), own);
    assert.equal(keyringOf({}), join(dir, ".config", "spackle", "keyring"));
    assert.equal(existsSync(marker), false, "the bunfig.toml preload ran");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const HAVE_STRACE = spawnSync("sh", ["-c", "command -v strace"]).status === 0;

Deno.test({
  name:
    "the compiled executable starts itself again with the top JIT tier off for bulk commands only",
  ignore: !HAVE_STRACE || !HAVE_FIXTURES,
  async fn() {
    if (!existsSync(join(dist, "spackle"))) compile();
    const dir = await Deno.makeTempDir({ prefix: "spackle-jit-" });
    try {
      /** The exit code and the environments of the executable's starts of a run. */
      const starts = (args: string[], env: Record<string, string> = {}) => {
        const log = join(dir, "strace.log");
        const r = spawnSync("strace", [
          "-f",
          "-v",
          "-s",
          "4096",
          "-e",
          "trace=execve",
          "-o",
          log,
          join(dist, "spackle"),
          ...args,
        ], { env: { PATH: "/usr/bin:/bin", HOME: dir, ...env }, encoding: "utf8" });
        const execs = readFileSync(log, "utf8").split("\n")
          .filter((l) => l.includes(`execve("${join(dist, "spackle")}"`) && / = 0$/.test(l));
        return {
          code: r.status,
          output: r.stdout + r.stderr,
          envs: execs.map((l) => l.slice(l.indexOf("], ["))),
        };
      };
      const mirror = fixture("v3-unsigned");
      const bulk = starts(["verify", mirror]);
      assert.equal(bulk.code, 0, bulk.output);
      assert.match(bulk.output, /no problems found/);
      assert.equal(bulk.envs.length, 2);
      assert.doesNotMatch(bulk.envs[0], /BUN_JSC_useFTLJIT/);
      assert.match(bulk.envs[1], /"BUN_JSC_useFTLJIT=0"/);
      // The restarted command's own exit code is the run's.
      const bad = starts(["verify", join(dir, "no-such-mirror")]);
      assert.equal(bad.code, 1);
      assert.equal(bad.envs.length, 2);
      // Another command, or the variable already set: one start.
      assert.equal(starts(["list", "-m", mirror]).envs.length, 1);
      const own = starts(["verify", mirror], { BUN_JSC_useFTLJIT: "1" });
      assert.equal(own.code, 0);
      assert.equal(own.envs.length, 1);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
