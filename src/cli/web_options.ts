/**
 * What `graph`, `report` and `serve` share: loading the mirrors' data for the pages and
 * verifying them, flag parsers.
 *
 * @module
 */
import { InvalidArgumentError } from "commander";
import type { Ctx } from "./context.ts";
import { Progress } from "./progress.ts";
import { type MirrorCliOptions, openCliMirrors } from "./mirror_options.ts";

/** Parses `--jobs`: a whole number above 0. */
export function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) {
    throw new InvalidArgumentError(`takes a whole number above 0, not "${v}"`);
  }
  return n;
}

/** A link to a mirror object, when the mirror's URL is one a browser can follow. */
export function hrefBase(url: string, path: string): string | undefined {
  if (!/^(https?|file):/.test(url)) return undefined;
  return new URL(path.split("/").map(encodeURIComponent).join("/"), url.replace(/\/?$/, "/"))
    .href;
}

/** Opens the mirrors (never refusing unsigned entries) and reads everything the pages show. */
export async function loadSite(ctx: Ctx, o: MirrorCliOptions, jobs: number) {
  const { mirrors, verifier } = await openCliMirrors(
    { ...o, allowUnsigned: true },
    ctx.globals,
    ctx.signal,
    ctx.out,
  );
  for (const n of mirrors.notes()) ctx.out.info(`note: ${n}`);
  const { collectSite } = await import("../../mod.ts");
  const progress = Progress.for(ctx.out);
  let started = false;
  const { readFile } = await import("node:fs/promises");
  const trustedKeys = await Promise.all((o.key ?? []).map((f) => readFile(f, "utf8")));
  const data = await collectSite(mirrors, {
    signal: ctx.signal,
    jobs,
    trustedKeys,
    onProgress: (done, total) => {
      if (!started) {
        progress.phase("read", total);
        started = true;
      }
      progress.finish();
      void done;
    },
  }).finally(() => progress.stop());
  return { mirrors, verifier, data, hrefBase };
}
