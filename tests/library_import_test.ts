/**
 * The library from outside the repo: a project in a temporary directory imports it by path and
 * runs the examples of the documentation (`@example` of `installSpecs` and `openMirror`); and
 * `deno publish --dry-run` accepts the package without asking any registry.
 * Under Deno the project links the library's directory (`"links"`), so what resolves is the
 * library's own deno.json: its name, `exports` and the npm dependencies it declares (fetched
 * from the npm registry into Deno's cache). Under Bun a tsconfig path names mod.ts.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT } from "./_fixtures.ts";

/** The code of the `@example` block titled `title` in `file`. */
function example(file: string, title: string): string {
  const text = readFileSync(join(REPO_ROOT, file), "utf8");
  const at = text.indexOf(` * @example ${title}`);
  assert.ok(at >= 0, `no example "${title}" in ${file}`);
  const start = text.indexOf(" * ```ts\n", at) + " * ```ts\n".length;
  const end = text.indexOf(" * ```", start);
  return text.slice(start, end).split("\n").map((l) => l.replace(/^ \* ?/, "")).join("\n");
}

const EXAMPLES = [
  {
    file: "src/install/install.ts",
    title: "Install a package",
    expect: /installed hello into .*hello-1\.0-a{32}/,
  },
  { file: "src/layout/open.ts", title: "List a build cache", expect: /hello@1\.0: \d+ bytes/ },
];

async function run(cmd: string, args: string[], cwd: string, env: Record<string, string> = {}) {
  const out = await new Deno.Command(cmd, { args, cwd, env, stdout: "piped", stderr: "piped" })
    .output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

function project(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "spackle-consumer-"));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

Deno.test("a Deno project outside the repo links the library and runs its examples", async () => {
  const dir = project({
    "deno.json": JSON.stringify({
      links: [REPO_ROOT],
      imports: { "@spackle/spackle": "jsr:@spackle/spackle@^0.1.0" },
    }),
  });
  try {
    for (const ex of EXAMPLES) {
      writeFileSync(join(dir, "main.ts"), example(ex.file, ex.title));
      const r = await run(
        join(REPO_ROOT, "node_modules/.bin/deno"),
        ["run", "-A", "main.ts"],
        dir,
        { NO_COLOR: "1" }, // Deno's usual cache: npm packages come from the registry once
      );
      assert.equal(r.code, 0, `${ex.title}: ${r.stderr}`);
      assert.match(r.stdout, ex.expect);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

Deno.test("a Bun project outside the repo imports mod.ts by path and runs its examples", async () => {
  const dir = project({
    "tsconfig.json": JSON.stringify({
      compilerOptions: { paths: { "@spackle/spackle": [join(REPO_ROOT, "mod.ts")] } },
    }),
  });
  try {
    for (const ex of EXAMPLES) {
      writeFileSync(join(dir, "main.ts"), example(ex.file, ex.title));
      const r = await run(join(REPO_ROOT, "node_modules/.bin/bun"), ["run", "main.ts"], dir);
      assert.equal(r.code, 0, `${ex.title}: ${r.stderr}`);
      assert.match(r.stdout, ex.expect);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

Deno.test("deno publish --dry-run accepts the package, offline (no registry is asked)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "spackle-publish-"));
  try {
    const r = await run(
      join(REPO_ROOT, "node_modules/.bin/deno"),
      ["publish", "--dry-run", "--allow-dirty"],
      REPO_ROOT,
      {
        DENO_DIR: join(dir, "deno"), // an empty cache: nothing comes from an earlier run
        HTTPS_PROXY: "http://127.0.0.1:9", // a port nothing listens on: any request would fail
        HTTP_PROXY: "http://127.0.0.1:9",
        NO_PROXY: "",
        NO_COLOR: "1",
      },
    );
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout + r.stderr, /Simulating publish of @spackle\/spackle@\d+\.\d+\.\d+/);
    // Dynamic imports of the runtime's own modules by a computed name (node:crypto and node:zlib
    // probed by core/backend.ts, so that a browser bundle has none; bun:ffi or Deno's FFI in
    // core/posix_lock.ts) cannot be analysed and need no rewriting: those warnings, and only
    // those, are accepted.
    const text = (r.stdout + r.stderr).replace(
      /^warning\[unanalyzable-dynamic-import\][^\n]*\n\s*--> [^\n]*src\/core\/(?:backend|posix_lock)\.ts:\d+:\d+$/gm,
      "(runtime module)",
    );
    assert.doesNotMatch(text, /^error|warning\[/m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

Deno.test("under Deno without permissions the library parses spec JSON", () => {
  // The modules loaded on first use under Bun are imported with their importers elsewhere: a
  // synchronous require would need read access to the library's files (and a node_modules).
  const dir = mkdtempSync(join(tmpdir(), "sp-noperm-"));
  try {
    const script = join(dir, "main.ts");
    writeFileSync(
      script,
      `import { parseSpecJson } from ${JSON.stringify(new URL("../mod.ts", import.meta.url).href)};
const node = { name: "zz", version: "1.0", hash: "${"a".repeat(32)}", namespace: "builtin",
  arch: { platform: "linux", platform_os: "debian12", target: "x86_64" }, parameters: {} };
const dag = parseSpecJson(JSON.stringify({ spec: { _meta: { version: 5 }, nodes: [node] } }), "x");
console.log(dag.nodes.get(dag.root)?.name);
`,
    );
    const p = new Deno.Command(join(REPO_ROOT, "node_modules/.bin/deno"), {
      args: ["run", "--no-prompt", `--config=${join(REPO_ROOT, "deno.json")}`, script],
      stdout: "piped",
      stderr: "piped",
    }).outputSync();
    const err = new TextDecoder().decode(p.stderr);
    assert.equal(p.code, 0, err);
    assert.equal(new TextDecoder().decode(p.stdout).trim(), "zz");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
