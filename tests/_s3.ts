/**
 * What the end-to-end tests on the S3 test server share: its settings (from the environment
 * scripts/services/s3.sh writes), fresh buckets and their removal, and the CLI run with the
 * S3 settings in the AWS variables.
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { HAVE_FIXTURES } from "./_fixtures.ts";
import { NotFoundError } from "../src/errors.ts";
import { openS3Store, type S3Store } from "../src/storage/s3.ts";
import { runCli } from "./_cli.ts";

export const ENDPOINT = Deno.env.get("SPACKLE_TEST_S3_ENDPOINT");
export const ACCESS = Deno.env.get("SPACKLE_TEST_S3_ACCESS_KEY") ?? "test:tester";
export const SECRET = Deno.env.get("SPACKLE_TEST_S3_SECRET_KEY") ?? "testing";
export const REGION = Deno.env.get("SPACKLE_TEST_S3_REGION") ?? "us-east-1";
/** True when the S3 server or the fixtures are missing. */
export const IGNORE = !ENDPOINT || !HAVE_FIXTURES;

/** Store options reaching the test server with the test credentials, nothing from the host. */
export const s3Opts = () => ({
  endpoint: ENDPOINT,
  region: REGION,
  accessPair: { id: ACCESS, secret: SECRET },
  env: {},
  home: "/nonexistent",
});

let n = 0;
/** A fresh bucket at `s3://<unique name>/<prefix>`, with requests through `f` when given. */
export async function bucket(
  what: string,
  opts: { prefix?: string; fetch?: typeof fetch } = {},
): Promise<S3Store> {
  const name = `spackle-${what}-${Date.now().toString(36)}-${(n++).toString(36)}`;
  const s = await openS3Store(`s3://${name}/${opts.prefix ?? "cache/"}`, s3Opts(), {
    fetch: opts.fetch,
  });
  await s.createBucket();
  return s;
}

/** Empties and deletes the buckets of the stores (already gone is fine). */
export async function drop(...stores: S3Store[]): Promise<void> {
  for (const s of stores) {
    const root = await openS3Store(`s3://${s.bucket}/`, s3Opts());
    try {
      for await (const k of root.list("")) await root.delete(k);
      await root.deleteBucket();
    } catch (e) {
      if (!(e instanceof NotFoundError)) throw e;
    }
  }
}

/** Runs the CLI in a subprocess with the S3 settings in the AWS variables (and `env`). */
export async function spackleS3(args: string[], env: Record<string, string> = {}) {
  const home = await Deno.makeTempDir({ prefix: "sp-s3home-" });
  try {
    return await runCli(args, {
      env: {
        HOME: home,
        SPACKLE_KEYRING: join(home, "keyring"),
        S3_ENDPOINT_URL: ENDPOINT ?? "",
        AWS_ACCESS_KEY_ID: ACCESS,
        AWS_SECRET_ACCESS_KEY: SECRET,
        AWS_REGION: REGION,
        ...env,
      },
    });
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

/** A test that needs the S3 server (ignored without it); its requests may outlive it. */
export function s3Test(name: string, fn: () => Promise<void>) {
  Deno.test({ name, ignore: IGNORE, sanitizeOps: false, sanitizeResources: false, fn });
}
