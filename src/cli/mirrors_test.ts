import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cliVerifier, mirrorSources, setMirrorNameResolver } from "./mirrors.ts";
import { UsageError } from "../errors.ts";

Deno.test("mirrorSources keeps paths and URLs and asks the resolver for names", async () => {
  try {
    setMirrorNameResolver({
      resolve: (n) =>
        n === "site" ? { url: "https://cache.example.org/spack", view: "dev" } : undefined,
      defaults: () => ["site"],
    });
    assert.deepEqual(await mirrorSources({ mirror: ["./m", "s3://b/p", "site"] }), [
      { source: "./m" },
      { source: "s3://b/p" },
      { source: "https://cache.example.org/spack", name: "site", view: "dev" },
    ]);
    assert.deepEqual(await mirrorSources({}), [
      { source: "https://cache.example.org/spack", name: "site", view: "dev" },
    ]);
    await assert.rejects(
      mirrorSources({ mirror: ["nosuch"] }),
      (e: unknown) =>
        e instanceof UsageError && /no configured mirror has that name/.test(e.message),
    );
  } finally {
    setMirrorNameResolver(undefined);
  }
  await assert.rejects(mirrorSources({}), /No mirror was given/);
  await assert.rejects(mirrorSources({ mirror: ["nosuch"] }), /Unknown mirror "nosuch"/);
});

Deno.test("cliVerifier is undefined without keys and refuses unreadable key files", async () => {
  const dir = await mkdtemp(join(tmpdir(), "spackle-keyring-"));
  try {
    assert.equal(cliVerifier({ keyring: dir }), undefined);
    assert.throws(() => cliVerifier({ keyring: dir, key: [join(dir, "missing.asc")] }), UsageError);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

Deno.test("a bare word names a configured mirror before a directory of that name, else the directory", async () => {
  const dir = await mkdtemp(join(tmpdir(), "spackle-names-"));
  const cwd = Deno.cwd();
  try {
    Deno.chdir(dir);
    await Deno.mkdir(join(dir, "site"));
    await Deno.mkdir(join(dir, "local"));
    setMirrorNameResolver({
      resolve: (n) => n === "site" ? { url: "https://cache.example.org/spack" } : undefined,
    });
    assert.deepEqual(await mirrorSources({ mirror: ["site", "local", "./site"] }), [
      { source: "https://cache.example.org/spack", name: "site", view: undefined },
      { source: "local" },
      { source: "./site" },
    ]);
  } finally {
    setMirrorNameResolver(undefined);
    Deno.chdir(cwd);
    await rm(dir, { recursive: true });
  }
});
