/**
 * Reading helpers both layout readers share: text, verified blobs, signature checks.
 *
 * @module
 */
import { errorMessage, IntegrityError, NotFoundError, SignatureError } from "../errors.ts";
import { verifyStream } from "../core/digest.ts";
import { gunzipBytes, isGzip } from "../core/gzip.ts";
import { collect } from "../core/streams.ts";
import type { Verifier } from "../sign/types.ts";
import type { ReadStore } from "../storage/store.ts";
import { clearsignedBody, isClearsigned } from "./clearsign.ts";
import type { Descriptor, ReadOptions } from "./types.ts";

const decoder = new TextDecoder();

/** The bytes at `path`, or undefined when absent. */
export async function readBytesIfExists(
  store: ReadStore,
  path: string,
  signal?: AbortSignal,
): Promise<Uint8Array | undefined> {
  try {
    return await collect(await store.read(path, { signal }));
  } catch (e) {
    if (e instanceof NotFoundError) return undefined;
    throw e;
  }
}

/** The UTF-8 text at `path` (NotFoundError when absent). */
export async function readText(
  store: ReadStore,
  path: string,
  signal?: AbortSignal,
): Promise<string> {
  return decoder.decode(await collect(await store.read(path, { signal })));
}

/**
 * The bytes of a blob, checked against the descriptor's size and sha256 while they stream
 * (IntegrityError on any difference).
 */
export async function readBlob(
  store: ReadStore,
  path: string,
  d: Descriptor,
  label: string,
  signal?: AbortSignal,
): Promise<Uint8Array> {
  const body = await store.read(path, { signal });
  return await collect(
    body.pipeThrough(verifyStream({ digest: d.checksum, size: d.size }, label)),
    d.size,
  );
}

/** Text of possibly gzip-compressed bytes (sniffed by magic, as Spack does). */
export function maybeGunzipText(bytes: Uint8Array, label: string): string {
  return decoder.decode(isGzip(bytes) ? gunzipBytes(bytes, label) : bytes);
}

/** What a signature check found. */
export interface SignatureCheck {
  body: string;
  signed: boolean;
  signedBy?: string;
  signatureError?: string;
}

/**
 * Checks signed metadata. Required (the default): the text must be clear-signed and verify
 * with `verifier`, else SignatureError naming `what` (the spec) and the reason. Not
 * required: a clear-signed text is unwrapped, and verified when a verifier is given (the
 * outcome is reported, never fatal).
 */
export async function checkSignature(
  text: string,
  what: string,
  opts: ReadOptions,
  verifier: Verifier | undefined,
): Promise<SignatureCheck> {
  const required = opts.requireSignature ?? true;
  const signed = isClearsigned(text);
  if (!signed) {
    if (required) {
      throw new SignatureError(
        `Cannot use ${what}: its metadata is not signed and signatures are required (use --allow-unsigned to read it anyway)`,
      );
    }
    return { body: text, signed };
  }
  if (!verifier) {
    if (required) {
      throw new SignatureError(
        `Cannot verify the signature of ${what}: no trusted keys are available (trust the signing key with "spackle keys trust FILE" or "spackle keys fetch -m MIRROR --trust", ` +
          `give it with --key FILE, or read unsigned with --allow-unsigned)`,
      );
    }
    return {
      body: clearsignedBody(text, what),
      signed,
      signatureError: "no trusted keys to check it with",
    };
  }
  try {
    const r = await verifier.verify(text, what);
    return { body: r.body, signed, signedBy: r.fingerprint };
  } catch (e) {
    if (required) {
      if (e instanceof SignatureError) throw e;
      throw new SignatureError(`Cannot verify the signature of ${what}: ${errorMessage(e)}`, {
        cause: e,
      });
    }
    return { body: clearsignedBody(text, what), signed, signatureError: errorMessage(e) };
  }
}

/** Wraps a tarball body so that it is verified against `d` while it streams. */
export function verifiedTarball(
  body: ReadableStream<Uint8Array>,
  d: { checksum: string; size?: number },
  label: string,
): ReadableStream<Uint8Array> {
  return body.pipeThrough(verifyStream({ digest: d.checksum, size: d.size }, label));
}

/** Throws IntegrityError unless the spec's root hash is `hash`. */
export function checkRootHash(root: string, hash: string, label: string): void {
  if (root !== hash) {
    throw new IntegrityError(
      `Cannot use ${label}: its spec is "${root}", the metadata was fetched for "${hash}"`,
    );
  }
}
