/**
 * tar read and write as streams, on tar-stream: PAX long names and link names, symlinks,
 * hardlinks, directories, modes. The reader rejects truncated archives and bad header
 * checksums with an IntegrityError.
 *
 * @module
 */
import tarStream from "tar-stream";
import { IntegrityError } from "../errors.ts";
import { toNodeStream, toWebStream } from "./streams.ts";

/** The member types spackle deals with; anything else is reported as `other`. */
export type TarEntryType =
  | "file"
  | "directory"
  | "symlink"
  | "link"
  | "character-device"
  | "block-device"
  | "fifo"
  | "other";

/** One tar member's header. */
export interface TarHeader {
  name: string;
  type: TarEntryType;
  mode: number;
  size: number;
  linkname?: string;
  uid?: number;
  gid?: number;
  uname?: string;
  gname?: string;
  mtime?: Date;
  pax?: Record<string, string>;
}

/** A tar member: its header and its body (must be consumed or skipped before the next). */
export interface TarEntry {
  header: TarHeader;
  body: AsyncIterable<Uint8Array>;
}

const KNOWN = new Set([
  "file",
  "directory",
  "symlink",
  "link",
  "character-device",
  "block-device",
  "fifo",
]);

function toHeader(h: tarStream.Header): TarHeader {
  const t = (h.type ?? "file") as string;
  const type = (t === "contiguous-file" ? "file" : KNOWN.has(t) ? t : "other") as TarEntryType;
  return {
    name: h.name.length > 1 && h.name.endsWith("/") ? h.name.replace(/\/+$/, "") : h.name,
    type,
    mode: h.mode ?? 0,
    size: h.size ?? 0,
    linkname: h.linkname ?? undefined,
    uid: h.uid,
    gid: h.gid,
    uname: h.uname,
    gname: h.gname,
    mtime: h.mtime,
    pax: (h.pax as Record<string, string> | null | undefined) ?? undefined,
  };
}

function wrapTarError(e: unknown, label: string): Error {
  if (e instanceof IntegrityError) return e;
  const msg = (e as Error)?.message ?? String(e);
  return new IntegrityError(`Cannot read tar archive ${label}: ${msg}`, { cause: e });
}

/**
 * Reads a tar stream member by member. Each member's body must be consumed (or left
 * unread, in which case it is skipped) before asking for the next member.
 */
export async function* readTar(
  src: ReadableStream<Uint8Array>,
  label = "",
): AsyncGenerator<TarEntry> {
  const extract = tarStream.extract();
  const input = toNodeStream(src);
  let inputError: unknown;
  input.on("error", (e) => {
    inputError = e;
    extract.destroy(e);
  });
  input.pipe(extract);
  try {
    for await (const entry of extract) {
      let consumed = false;
      const body = (async function* () {
        consumed = true;
        for await (const chunk of entry) {
          const b = chunk as Uint8Array;
          yield new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
        }
      })();
      yield { header: toHeader(entry.header), body };
      if (!consumed) entry.resume();
      else await body.return(undefined);
    }
  } catch (e) {
    if (inputError && !(inputError instanceof Error && /tar/i.test(inputError.message))) {
      throw inputError;
    }
    throw wrapTarError(e, label);
  } finally {
    input.unpipe(extract);
    if (!input.destroyed) input.destroy();
  }
}

/** A member to write: header plus body bytes (files), or nothing (dirs, links). */
export interface TarWriteEntry {
  header: Omit<TarHeader, "size"> & { size?: number };
  body?: Uint8Array | AsyncIterable<Uint8Array>;
}

function toStreamHeader(h: TarWriteEntry["header"], size: number): tarStream.Header {
  return {
    name: h.name,
    type: h.type === "other" ? "file" : h.type,
    mode: h.mode,
    size,
    linkname: h.linkname,
    uid: h.uid ?? 0,
    gid: h.gid ?? 0,
    uname: h.uname ?? "",
    gname: h.gname ?? "",
    mtime: h.mtime ?? new Date(0),
    pax: h.pax,
  } as tarStream.Header;
}

/**
 * Writes members to a tar stream. Bodies given as async iterables must declare `size`.
 * PAX headers are emitted for names and link names that do not fit ustar.
 */
export function writeTar(entries: AsyncIterable<TarWriteEntry> | Iterable<TarWriteEntry>) {
  const pack = tarStream.pack();
  (async () => {
    try {
      for await (const e of entries as AsyncIterable<TarWriteEntry>) {
        const body = e.body;
        if (body === undefined || body instanceof Uint8Array) {
          const bytes = body ?? new Uint8Array(0);
          await new Promise<void>((resolve, reject) => {
            pack.entry(toStreamHeader(e.header, bytes.byteLength), bytes, (err) => {
              if (err) reject(err);
              else resolve();
            });
          });
        } else {
          if (e.header.size === undefined) {
            throw new Error(`tar member "${e.header.name}" streams a body without a size`);
          }
          let done!: () => void;
          let fail!: (e: unknown) => void;
          const finished = new Promise<void>((res, rej) => {
            done = res;
            fail = rej;
          });
          const sink = pack.entry(toStreamHeader(e.header, e.header.size), (err) => {
            if (err) fail(err);
            else done();
          });
          for await (const chunk of body) {
            if (!sink.write(chunk)) await new Promise<void>((r) => sink.once("drain", () => r()));
          }
          sink.end(undefined);
          await finished;
        }
      }
      pack.finalize();
    } catch (err) {
      pack.destroy(err as Error);
    }
  })();
  return toWebStream(pack as unknown as AsyncIterable<Uint8Array>);
}
