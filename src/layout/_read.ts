/**
 * Reading helpers both layout readers share: text, verified blobs, signature checks.
 *
 * @module
 */
import { errorMessage, IntegrityError, NotFoundError, SignatureError } from "../errors.ts";
import { digestChecker, verifyStream } from "../core/digest.ts";
import { gunzipBytes, isGzip } from "../core/gzip.ts";
import { collect } from "../core/streams.ts";
import { flatString } from "../core/memory_pacer.ts";
import type { Verifier } from "../sign/types.ts";
import type { ReadStore } from "../storage/store.ts";
import { clearsignedBody, isClearsigned } from "./signed_metadata.ts";
import { archString, namingCompiler } from "../spec/node.ts";
import type { SpecDag } from "../spec/types.ts";
import type { Descriptor, Entry, EntryRef, ReadOptions, SignatureStatus } from "./types.ts";

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
  status: SignatureStatus;
  signedBy?: string;
  signatureError?: string;
  signerKeyIds?: string[];
}

/**
 * Checks signed metadata. A signature that fails (bad, revoked or expired key, unreadable) is
 * refused with a SignatureError naming `what` (the spec), whatever the options. Required (the
 * default): the text must be clear-signed and verify with `verifier`. Not required
 * (`--allow-unsigned`): unsigned text and signatures by keys that are not trusted are
 * admitted, reported in `status`. `opts.inspect` never throws: every verdict is reported.
 */
export async function checkSignature(
  text: string,
  what: string,
  opts: ReadOptions,
  verifier: Verifier | undefined,
): Promise<SignatureCheck> {
  const required = (opts.requireSignature ?? true) && !opts.inspect;
  const signed = isClearsigned(text);
  if (!signed) {
    if (required) {
      throw new SignatureError(
        `Cannot use ${what}: its metadata is not signed and signatures are required (use --allow-unsigned to read it anyway)`,
      );
    }
    return { body: text, signed, status: "unsigned" };
  }
  const { signerKeyIds, VerificationError } = await import("../sign/verify.ts");
  if (!verifier) {
    let ids: string[];
    try {
      ids = await signerKeyIds(text, what);
    } catch (e) {
      if (!opts.inspect) throw e;
      return {
        body: clearsignedBody(text, what),
        signed,
        status: "bad",
        signatureError: errorMessage(e),
      };
    }
    if (required) {
      throw new SignatureError(
        `Cannot verify the signature of ${what}: no trusted keys are available (trust the signing key with "spackle keys trust FILE" or "spackle keys fetch -m MIRROR --trust", ` +
          `give it with --key FILE, or read unsigned with --allow-unsigned)`,
      );
    }
    return {
      body: clearsignedBody(text, what),
      signed,
      status: "untrusted",
      signerKeyIds: ids,
      signatureError: `signed by key ${ids.join(", ")}, which is not trusted (no trusted keys)`,
    };
  }
  try {
    const r = await verifier.verify(text, what);
    return { body: r.body, signed, status: "verified", signedBy: r.fingerprint };
  } catch (e) {
    // Not a verdict on the signature (an unusable keyring, say): never hidden.
    if (!(e instanceof SignatureError)) throw e;
    const untrusted = e instanceof VerificationError && e.problem === "untrusted";
    if (opts.inspect || (untrusted && !required)) {
      return {
        body: clearsignedBody(text, what),
        signed,
        status: untrusted ? "untrusted" : "bad",
        signerKeyIds: untrusted ? e.keyIds : undefined,
        signatureError: errorMessage(e),
      };
    }
    throw e;
  }
}

/**
 * The warning an admitted entry deserves (unsigned, or signed by a key that is not trusted),
 * without the entry's name; undefined for a verified one.
 */
export function signatureWarning(
  e: Pick<Entry, "signatureStatus" | "signerKeyIds">,
): string | undefined {
  if (e.signatureStatus === "unsigned") return "unsigned, admitted by --allow-unsigned";
  if (e.signatureStatus === "untrusted") {
    const by = e.signerKeyIds?.length ? ` ${e.signerKeyIds.join(", ")}` : "";
    return `signed by key${by}, which is not trusted, admitted by --allow-unsigned`;
  }
  return undefined;
}

/**
 * Wraps a tarball body so that it is verified against `d` while it streams: the digest and size
 * errors come from the read that finds them (the last, or the first past the size). Reads only
 * what is asked for: a body opened ahead of its turn (an install requests the next packages'
 * tarballs early) holds no bytes, where a pipe would read a chunk or two into its queues at
 * once (a megabyte or more for each of dozens of tarballs opened ahead).
 */
export function verifiedTarball(
  body: ReadableStream<Uint8Array>,
  d: { checksum: string; size?: number },
  label: string,
): ReadableStream<Uint8Array> {
  const check = digestChecker({ digest: d.checksum, size: d.size }, label);
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      reader ??= body.getReader();
      const { value, done } = await reader.read();
      try {
        if (done) {
          check.end();
          c.close();
        } else {
          check.update(value);
          c.enqueue(value);
        }
      } catch (e) {
        await reader.cancel(e).catch(() => {});
        throw e;
      }
    },
    cancel(reason) {
      return reader ? reader.cancel(reason) : body.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

/**
 * An entry's `openTarball`: the body `read` gives, verified against `d` while it streams. Made
 * in a plain function, apart from the async reader that fetched the entry: a closure made
 * inside an async function keeps its whole frame (the parsed spec with it) for as long as the
 * entry's opener is kept. `read` is a bound method (`store.read.bind(store)`), not a closure,
 * for the same reason.
 */
export function tarballOpener(
  read: (key: string, o: { signal?: AbortSignal }) => Promise<ReadableStream<Uint8Array>>,
  key: string,
  d: { checksum: string; size?: number },
  label: string,
): (o?: { signal?: AbortSignal }) => Promise<ReadableStream<Uint8Array>> {
  // Only what verification needs, and the label as one flat string (a template's pieces are
  // kept apart until read): an install keeps an opener for each of its packages.
  const want = { checksum: d.checksum, size: d.size };
  flatString(label);
  return async (o) => verifiedTarball(await read(key, { signal: o?.signal }), want, label);
}

/**
 * The reference of an entry as its signed spec has it (name, version, arch, compiler of the
 * root node), and what the index (or the file name) said when that differs. A difference is
 * a substitution: refused with a SignatureError unless `opts.inspect`, where it is reported.
 */
export function signedRef(
  ref: EntryRef,
  spec: SpecDag,
  opts: ReadOptions,
): { ref: EntryRef; substitution?: string } {
  const root = spec.nodes.get(spec.root);
  if (!root) return { ref };
  const c = namingCompiler(root, (h) => spec.nodes.get(h));
  const own: EntryRef = {
    ...ref,
    name: root.name,
    version: root.version,
    arch: archString(root.arch) ?? ref.arch,
    compiler: c ? `${c.name}@${c.version}` : ref.compiler,
  };
  const differs = ref.name !== own.name || ref.version !== own.version ||
    (ref.arch !== undefined && ref.arch !== own.arch);
  if (!differs) return { ref: own };
  const said = `${ref.name}@${ref.version}${ref.arch ? ` arch=${ref.arch}` : ""}`;
  const is = `${own.name}@${own.version}${own.arch ? ` arch=${own.arch}` : ""}`;
  const substitution =
    `the mirror's index or file name calls /${ref.hash} "${said}", its signed spec is "${is}"`;
  if (!opts.inspect) {
    throw new SignatureError(`Cannot use ${is}/${ref.hash}: substitution: ${substitution}`);
  }
  return { ref: own, substitution };
}

/**
 * The fields of an `Entry` that every reader fills the same way from the signed spec: the
 * reference as the signed spec names it (see {@link signedRef}) and the signature's verdict.
 */
export function signedEntryFields(
  ref: EntryRef,
  spec: SpecDag,
  sig: SignatureCheck,
  opts: ReadOptions,
): Pick<
  Entry,
  | "ref"
  | "substitution"
  | "spec"
  | "signed"
  | "signedBy"
  | "signatureError"
  | "signatureStatus"
  | "signerKeyIds"
> {
  const own = signedRef(ref, spec, opts);
  return {
    ref: own.ref,
    substitution: own.substitution,
    spec,
    signed: sig.signed,
    signedBy: sig.signedBy,
    signatureError: sig.signatureError,
    signatureStatus: sig.status,
    signerKeyIds: sig.signerKeyIds,
  };
}

/**
 * A reader's references by full hash: the index's (a table made once), else the one
 * `unindexed` finds (an entry pushed without an index update), which is then noted and kept.
 */
export class HashRefs {
  #byHash?: Map<string, EntryRef>;

  async find(
    hash: string,
    index: () => Promise<{ refs: EntryRef[] }>,
    unindexed: () => Promise<EntryRef | undefined>,
    note: (ref: EntryRef) => void,
  ): Promise<EntryRef | undefined> {
    if (!this.#byHash) {
      const map = new Map<string, EntryRef>();
      for (const r of (await index()).refs) map.set(r.hash, r);
      this.#byHash = map;
    }
    let ref = this.#byHash.get(hash);
    if (!ref) {
      ref = await unindexed();
      if (ref) {
        note(ref);
        this.#byHash.set(hash, ref);
      }
    }
    return ref;
  }
}

/** Throws IntegrityError unless the spec's root hash is `hash`. */
export function checkRootHash(root: string, hash: string, label: string): void {
  if (root !== hash) {
    throw new IntegrityError(
      `Cannot use ${label}: its spec is "${root}", the metadata was fetched for "${hash}"`,
    );
  }
}
