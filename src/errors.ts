/**
 * One error base class with a machine-readable `code`, and the few subclasses callers branch on.
 *
 * Messages say what failed, quote the values, and put detail after a colon:
 * `Cannot verify blob "sha256:9f86...": digest is "sha256:1c2e..."`.
 *
 * @module
 */

/** The error codes spackle reports (also the `code` of `--json` errors). */
export type ErrorCode =
  | "not_found"
  | "integrity"
  | "signature"
  | "invalid_data"
  | "unsupported"
  | "transport"
  | "usage"
  | "conflict"
  | "internal";

/** Base class of every error spackle throws on purpose. */
export class SpackleError extends Error {
  readonly code: ErrorCode;
  /** True when retrying the same operation may succeed (5xx, 429, connection reset). */
  readonly temporary: boolean;
  constructor(code: ErrorCode, message: string, opts?: { cause?: unknown; temporary?: boolean }) {
    super(message, opts?.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.temporary = opts?.temporary ?? false;
  }
}

/** Something asked for does not exist (a blob, a manifest, a spec). */
export class NotFoundError extends SpackleError {
  constructor(message: string, opts?: { cause?: unknown }) {
    super("not_found", message, opts);
  }
}

/** Bytes are not what was promised: digest, size, CRC, truncated archive. */
export class IntegrityError extends SpackleError {
  constructor(message: string, opts?: { cause?: unknown }) {
    super("integrity", message, opts);
  }
}

/** A signature is missing, bad, or made by a key that is not trusted. */
export class SignatureError extends SpackleError {
  constructor(message: string, opts?: { cause?: unknown }) {
    super("signature", message, opts);
  }
}

/** Data does not parse or does not have the expected shape. */
export class InvalidDataError extends SpackleError {
  constructor(message: string, opts?: { cause?: unknown }) {
    super("invalid_data", message, opts);
  }
}

/** A network or storage transport failed. */
export class TransportError extends SpackleError {
  readonly status?: number;
  constructor(message: string, opts?: { cause?: unknown; temporary?: boolean; status?: number }) {
    super("transport", message, opts);
    this.status = opts?.status;
  }
}

/** The user asked for something malformed (bad flag, bad query). */
export class UsageError extends SpackleError {
  constructor(message: string, opts?: { cause?: unknown }) {
    super("usage", message, opts);
  }
}

/** The operation is valid but not supported here (a legacy layout, a read-only store). */
export class UnsupportedError extends SpackleError {
  constructor(message: string, opts?: { cause?: unknown }) {
    super("unsupported", message, opts);
  }
}

/** Returns the error code of any thrown value. */
export function errorCode(err: unknown): ErrorCode {
  return err instanceof SpackleError ? err.code : "internal";
}

/** Returns a one-line message for any thrown value. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
