/**
 * The static report: the web view's pages written as files, to a new directory or into a
 * mirror's root (beside `v3/` and `build_cache/`), readable from `file://` and from any static
 * web server.
 *
 * @module
 */
import { mkdir, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import process from "node:process";
import { UsageError } from "../errors.ts";
import type { Store } from "../storage/store.ts";
import { contentTypeOf, type RenderOptions, type SiteData, sitePages } from "./site.ts";

/** What a report wrote. */
export interface ReportResult {
  files: number;
  bytes: number;
}

/**
 * Writes the report into the directory `dir`, which must be absent or empty, or hold an
 * earlier report (then it is replaced). The pages are written into a temporary directory
 * beside it first, renamed into place at the end: nothing is half-written.
 */
export async function writeReportDir(
  data: SiteData,
  dir: string,
  opts: RenderOptions & { browserJs?: string } = {},
): Promise<ReportResult> {
  const existing = await readdir(dir).catch((e) => {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    if ((e as NodeJS.ErrnoException).code === "ENOTDIR") {
      throw new UsageError(`Cannot write the report to "${dir}": it is a file`);
    }
    throw e;
  });
  if (existing?.length) {
    const earlier = await stat(join(dir, "assets", "app.js")).then(() => true, () => false);
    if (!earlier) {
      throw new UsageError(
        `Cannot write the report to "${dir}": the directory is not empty and holds no earlier report`,
      );
    }
  }
  const tmp = `${dir.replace(/\/+$/, "")}.part-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  let files = 0, bytes = 0;
  try {
    for (const [path, text] of sitePages(data, opts)) {
      const p = join(tmp, ...path.split("/"));
      await mkdir(dirname(p), { recursive: true });
      const body = new TextEncoder().encode(text);
      await writeFile(p, body);
      files++;
      bytes += body.byteLength;
    }
    if (existing) await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
  return { files, bytes };
}

/**
 * Writes the report into a store (a mirror's root): each page atomically, `index.html` last,
 * so a reader never finds the entry page before the pages it links to.
 */
export async function writeReportStore(
  data: SiteData,
  store: Store,
  opts: RenderOptions & { signal?: AbortSignal; browserJs?: string } = {},
): Promise<ReportResult> {
  let files = 0, bytes = 0;
  let index: Uint8Array | undefined;
  for (const [path, text] of sitePages(data, opts)) {
    const body = new TextEncoder().encode(text);
    files++;
    bytes += body.byteLength;
    if (path === "index.html") {
      index = body;
      continue;
    }
    await store.write(path, body, { signal: opts.signal, contentType: contentTypeOf(path) });
  }
  if (index) {
    await store.write("index.html", index, {
      signal: opts.signal,
      contentType: contentTypeOf("index.html"),
    });
  }
  return { files, bytes };
}
