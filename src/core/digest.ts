/**
 * sha256 as pass-through streams: hash and count while bytes flow, or verify them against
 * the digest and size a manifest promised.
 *
 * @module
 */
import { closeSync, openSync, readSync } from "node:fs";
import { IntegrityError } from "../errors.ts";
import { newSha256 } from "./backend.ts";

/** A content digest. Spack only uses sha256, lowercase hex. */
export interface Digest {
  algorithm: "sha256";
  hex: string;
}

/** What a stream of bytes turned out to be. */
export interface DigestResult {
  digest: Digest;
  size: number;
}

/** Formats a digest as `sha256:<hex>`. */
export function formatDigest(d: Digest): string {
  return `${d.algorithm}:${d.hex}`;
}

/** sha256 of a byte array or string, as lowercase hex. */
export function sha256Hex(data: Uint8Array | string): string {
  return newSha256().update(data).digestHex();
}

/**
 * A pass-through stream that hashes and counts what flows through it.
 *
 * @example
 * ```ts
 * import { digestStream } from "@spackle/spackle";
 * const { stream, result } = digestStream();
 * await new Response(new Blob(["abc"]).stream().pipeThrough(stream)).arrayBuffer();
 * (await result).digest.hex; // "ba7816bf..."
 * ```
 */
export function digestStream(): {
  stream: TransformStream<Uint8Array, Uint8Array>;
  result: Promise<DigestResult>;
} {
  const hash = newSha256();
  let size = 0;
  let resolve!: (r: DigestResult) => void;
  const result = new Promise<DigestResult>((res) => {
    resolve = res;
  });
  const stream = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      hash.update(chunk);
      size += chunk.byteLength;
      controller.enqueue(chunk);
    },
    flush() {
      resolve({ digest: { algorithm: "sha256", hex: hash.digestHex() }, size });
    },
  });
  return { stream, result };
}

/**
 * A pass-through stream that fails when the bytes are not the expected ones: on a digest
 * mismatch and a short body at the end, and as soon as the body runs past `size`.
 * `label` names the thing in error messages (a blob path, a spec).
 */
export function verifyStream(
  expected: { digest: Digest | string; size?: number },
  label: string,
): TransformStream<Uint8Array, Uint8Array> {
  const check = digestChecker(expected, label);
  return new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      check.update(chunk);
      controller.enqueue(chunk);
    },
    flush() {
      check.end();
    },
  });
}

/**
 * `verifyStream`'s checks without a stream: `update` with each chunk in order (an
 * `IntegrityError` as soon as the body is longer than declared), `end` at the end (shorter,
 * or another digest).
 */
export function digestChecker(
  expected: { digest: Digest | string; size?: number },
  label: string,
): { update(chunk: Uint8Array): void; end(): void } {
  const want = typeof expected.digest === "string" ? expected.digest : expected.digest.hex;
  const hash = newSha256();
  let size = 0;
  return {
    update(chunk) {
      size += chunk.byteLength;
      if (expected.size !== undefined && size > expected.size) {
        throw new IntegrityError(
          `Cannot verify ${label}: body is longer than the declared ${expected.size} bytes`,
        );
      }
      hash.update(chunk);
    },
    end() {
      if (expected.size !== undefined && size < expected.size) {
        throw new IntegrityError(
          `Cannot verify ${label}: body is ${size} bytes, ${expected.size} were declared`,
        );
      }
      const got = hash.digestHex();
      if (got !== want) {
        throw new IntegrityError(
          `Cannot verify ${label}: digest is "sha256:${got}", expected "sha256:${want}"`,
        );
      }
    },
  };
}

/**
 * sha256 and size of a local file, read in place with one reused buffer: the fastest way to
 * hash a file that is already on disk (no stream, no per-chunk allocation).
 *
 * @example
 * ```ts
 * import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * import { digestFile } from "@spackle/spackle";
 * const dir = mkdtempSync(join(tmpdir(), "spackle-example-"));
 * writeFileSync(join(dir, "blob"), "abc");
 * const { digest, size } = await digestFile(join(dir, "blob"));
 * console.log(digest.hex, size); // "ba7816bf..." 3
 * rmSync(dir, { recursive: true });
 * ```
 */
export function digestFile(path: string): Promise<DigestResult> {
  // Synchronous 1 MiB reads: for a local file they cost less than the promise round trips of
  // asynchronous ones, and the event loop is held for well under a millisecond at a time.
  return new Promise((resolve, reject) => {
    let fd = -1;
    try {
      fd = openSync(path, "r");
      const hash = newSha256();
      const buf = new Uint8Array(1 << 20);
      let size = 0;
      for (;;) {
        const n = readSync(fd, buf, 0, buf.byteLength, null);
        if (n === 0) break;
        hash.update(buf.subarray(0, n));
        size += n;
      }
      resolve({ digest: { algorithm: "sha256", hex: hash.digestHex() }, size });
    } catch (e) {
      reject(e);
    } finally {
      if (fd >= 0) closeSync(fd);
    }
  });
}
