/**
 * File-system errors (`EACCES`, `EROFS`, `ENOTDIR`, `ENOENT`, `EISDIR`, `ENOSPC`, ...) as
 * spackle errors that name the path and say what to do, instead of Node's raw
 * `EACCES: permission denied, mkdir '...'`.
 *
 * @module
 */
import { SpackleError, TransportError, UsageError } from "../errors.ts";

const ADVICE: Record<string, { why: string; fix: string; usage?: boolean }> = {
  EACCES: {
    why: "permission denied",
    fix: "check that you may write there (owner and mode), or choose another location",
  },
  EPERM: {
    why: "operation not permitted",
    fix: "check that you may write there (owner and mode), or choose another location",
  },
  EROFS: { why: "the file system is read-only", fix: "choose a location on a writable one" },
  ENOTDIR: {
    why: "a part of the path is a file, not a directory",
    fix: "give a path whose parents are directories",
    usage: true,
  },
  ENOENT: {
    why: "no such file or directory",
    fix: "check the path (its parent directory must exist)",
    usage: true,
  },
  EISDIR: { why: "it is a directory", fix: "give a file name", usage: true },
  EEXIST: { why: "it already exists", fix: "remove it or choose another name", usage: true },
  ENOSPC: { why: "no space left on the device", fix: "free some space or choose another location" },
  EDQUOT: { why: "the disk quota is exceeded", fix: "free some space or choose another location" },
  EMFILE: { why: "too many open files", fix: "raise the limit (ulimit -n) or use fewer --jobs" },
  ENAMETOOLONG: { why: "the name is too long", fix: "choose a shorter path", usage: true },
  ELOOP: { why: "too many symbolic links", fix: "check the path for a symlink loop", usage: true },
};

/** The errno code of a Node file-system error, if it is one. */
export function errnoCode(e: unknown): string | undefined {
  const c = (e as { code?: unknown })?.code;
  return typeof c === "string" && /^E[A-Z]+$/.test(c) ? c : undefined;
}

/**
 * `e` as a spackle error: `Cannot <action> "<path>": <why>; <what to do>`. The path is the
 * one the system names when it has one (the part that failed), else `path`. Spackle errors
 * and errors without an errno code are returned as they are.
 */
export function fsError(e: unknown, path: string, action: string): unknown {
  if (e instanceof SpackleError) return e;
  const code = errnoCode(e);
  if (!code) return e;
  const at = (e as { path?: unknown }).path;
  const where = typeof at === "string" && at ? at : path;
  const a = ADVICE[code];
  const msg = a
    ? `Cannot ${action} "${where}": ${a.why} (${code}); ${a.fix}`
    : `Cannot ${action} "${where}": ${(e as Error).message}`;
  return a?.usage ? new UsageError(msg, { cause: e }) : new TransportError(msg, { cause: e });
}
