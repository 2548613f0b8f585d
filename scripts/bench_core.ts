/**
 * One streaming-core operation over a file, for scripts/bench. Prints a JSON line with the
 * bytes processed and the wall time; peak RSS is measured from outside (/usr/bin/time).
 *
 *   deno run -A scripts/bench_core.ts OP INPUT
 *
 * OP: sha256 | sha256-file | gunzip | gzip | tar-read | tar-write (INPUT is a directory for tar-write).
 */
import { createReadStream } from "node:fs";
import { lstatSync, readdirSync } from "node:fs";
import { join, relative } from "node:path";
import process from "node:process";
import {
  digestFile,
  digestStream,
  drain,
  gunzipStream,
  gzipStream,
  readTar,
  type TarWriteEntry,
  toWebStream,
  writeTar,
} from "../mod.ts";

const [op, input] = process.argv.slice(2);
const file = (p: string) => toWebStream(createReadStream(p, { highWaterMark: 1 << 20 }));

// Files are given by path: the writer reads them into its output chunks itself.
function* walk(dir: string, root: string): Generator<TarWriteEntry> {
  const names = readdirSync(dir).sort();
  for (const n of names) {
    const p = join(dir, n);
    const st = lstatSync(p);
    const name = relative(root, p);
    if (st.isDirectory()) {
      yield { header: { name, type: "directory", mode: 0o755 } };
      yield* walk(p, root);
    } else if (st.isFile()) {
      yield { header: { name, type: "file", mode: st.mode & 0o777, size: st.size }, path: p };
    }
  }
}

const t0 = performance.now();
let bytes = 0;
switch (op) {
  case "sha256-file":
    bytes = (await digestFile(input)).size;
    break;
  case "sha256": {
    const { stream, result } = digestStream();
    await drain(file(input).pipeThrough(stream));
    bytes = (await result).size;
    break;
  }
  case "gunzip":
    bytes = await drain(file(input).pipeThrough(gunzipStream()));
    break;
  case "gzip":
    await drain(
      file(input).pipeThrough(
        new TransformStream({
          transform(c, ctl) {
            bytes += c.byteLength;
            ctl.enqueue(c);
          },
        }),
      ).pipeThrough(gzipStream(6)),
    );
    break;
  case "tar-read":
    for await (const e of readTar(createReadStream(input, { highWaterMark: 1 << 20 }))) {
      for await (const c of e.body) bytes += c.byteLength;
    }
    break;
  case "tar-write":
    bytes = await drain(writeTar(walk(input, input)));
    break;
  default:
    throw new Error(`unknown op ${op}`);
}
const seconds = (performance.now() - t0) / 1000;
console.log(JSON.stringify({ op, bytes, seconds }));
