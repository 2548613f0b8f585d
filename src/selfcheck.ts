/**
 * A quick check that the streaming core works in this runtime (used by `spackle self-check`
 * and the quick start).
 *
 * @module
 */
import { sha256Hex } from "./core/digest.ts";
import { gunzipStream, gzipStream } from "./core/gzip.ts";
import { collect, streamOf } from "./core/streams.ts";
import { readTar, writeTar } from "./core/tar.ts";

/** One check's outcome. */
export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
}

/** Runs the core checks. */
export async function selfCheck(): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const check = async (name: string, fn: () => Promise<string>) => {
    try {
      results.push({ name, ok: true, detail: await fn() });
    } catch (e) {
      results.push({ name, ok: false, detail: (e as Error).message });
    }
  };
  await check("sha256", () => {
    const hex = sha256Hex("abc");
    if (hex !== "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") {
      throw new Error(`sha256("abc") is ${hex}`);
    }
    return Promise.resolve("known answer matches");
  });
  const data = new TextEncoder().encode("spackle ".repeat(10000));
  await check("gzip", async () => {
    const gz = await collect(streamOf(data).pipeThrough(gzipStream()));
    const back = await collect(streamOf(gz).pipeThrough(gunzipStream()));
    if (sha256Hex(back) !== sha256Hex(data)) throw new Error("round trip differs");
    if (gz[9] !== 0xff) throw new Error("header OS byte is not 255");
    return `${data.length} -> ${gz.length} bytes and back`;
  });
  await check("tar", async () => {
    const name = "opt/" + "long-name/".repeat(20) + "file.txt";
    const tar = await collect(
      writeTar([{ header: { name, type: "file", mode: 0o644 }, body: data }]),
    );
    for await (const e of readTar(streamOf(tar))) {
      const body = await collect(ReadableStream.from(e.body));
      if (e.header.name !== name || sha256Hex(body) !== sha256Hex(data)) {
        throw new Error(`member "${e.header.name}" differs`);
      }
    }
    return "PAX long name round trip";
  });
  return results;
}
