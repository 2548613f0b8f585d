import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resolveRegistryCredentials } from "./credentials.ts";

Deno.test("registry credentials: flags, then access_pair, access_token, docker config, environment", () => {
  const home = mkdtempSync(join(tmpdir(), "sp-cred-"));
  try {
    const env: Record<string, string> = { PW: "s3cret", SPACKLE_OCI_TOKEN: "envtok" };
    // Nothing but the environment.
    assert.deepEqual(resolveRegistryCredentials("r.example", { env, home }), {
      token: "envtok",
      source: "the environment (SPACKLE_OCI_TOKEN)",
    });
    // Docker config beats the environment.
    mkdirSync(join(home, ".docker"));
    writeFileSync(
      join(home, ".docker", "config.json"),
      JSON.stringify({ auths: { "r.example": { auth: btoa("dock:pw:with:colons") } } }),
    );
    const d = resolveRegistryCredentials("r.example", { env, home })!;
    assert.equal(d.username, "dock");
    assert.equal(d.password, "pw:with:colons");
    assert.match(d.source, /config\.json \(auths "r\.example"\)/);
    // Docker Hub is keyed by its index URL.
    writeFileSync(
      join(home, ".docker", "config.json"),
      JSON.stringify({ auths: { "https://index.docker.io/v1/": { auth: btoa("hub:pw") } } }),
    );
    assert.equal(resolveRegistryCredentials("index.docker.io", { env, home })!.username, "hub");
    // access_token, then access_pair, then flags win.
    const mirror: Record<string, unknown> = { access_token_variable: "PW" };
    assert.equal(resolveRegistryCredentials("r.example", { env, home, mirror })!.token, "s3cret");
    mirror.access_pair = { id: "me", secret_variable: "PW" };
    const p = resolveRegistryCredentials("r.example", { env, home, mirror, mirrorName: "site" })!;
    assert.deepEqual([p.username, p.password, p.source], [
      "me",
      "s3cret",
      'the access_pair of mirror "site"',
    ]);
    const f = resolveRegistryCredentials("r.example", {
      env,
      home,
      mirror,
      username: "cli",
      passwordVariable: "PW",
    })!;
    assert.equal(f.username, "cli");
    assert.match(f.source, /command line/);
    assert.ok(!f.source.includes("s3cret"));
    // Half a pair or an unset variable is an error naming what is missing.
    assert.throws(
      () =>
        resolveRegistryCredentials("r.example", {
          env,
          home,
          mirror: { access_pair: { id: "x" } },
        }),
      /gives a user but no secret/,
    );
    assert.throws(
      () =>
        resolveRegistryCredentials("r.example", {
          env,
          home,
          username: "u",
          passwordVariable: "NOPE",
        }),
      /"NOPE" named for the registry password is not set/,
    );
    assert.throws(
      () => resolveRegistryCredentials("r.example", { env, home, username: "u" }),
      /--oci-password-variable/,
    );
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});
