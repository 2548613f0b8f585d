/**
 * Signature checks of spec metadata: unsigned metadata is counted (and `untrusted` when
 * signatures are required), signed metadata is verified with the options' verifier (or counted
 * as signed but unchecked without one). The payload is returned for the next checks, also
 * when its signature is refused (the blobs it names may still be fine).
 *
 * @module
 */
import { SpackleError } from "../../errors.ts";
import { inspectSignedText, isClearsigned } from "../../layout/signed_metadata.ts";
import type { VerifyRun } from "./run.ts";

/** The spec metadata whose signature is checked. */
export interface SignedContext {
  path: string;
  layout: 2 | 3;
  /** The entry, `name@version/hash`. */
  spec: string;
  /** False where a signature is not looked at (a v2 `.spec.json`): only unwrapped. */
  mayBeSigned: boolean;
}

/** The payload of spec metadata after its signature check; undefined when malformed. */
export async function checkSignature(
  run: VerifyRun,
  text: string,
  ctx: SignedContext,
): Promise<string | undefined> {
  const { path, layout, spec } = ctx;
  const { opts, checked } = run;
  if (!isClearsigned(text)) {
    checked.unsigned++;
    if (opts.requireSignatures) {
      run.add({
        kind: "untrusted",
        code: "unsigned",
        path,
        spec,
        layout,
        message: `"${spec}" is not signed ("${path}")`,
      });
    }
    return text;
  }
  const unwrapped = inspectSignedText(text, path);
  const body = unwrapped.ok ? unwrapped.value.body : undefined;
  if (!ctx.mayBeSigned) return body;
  if (!opts.verifier) {
    checked.signedUnchecked++;
    if (body === undefined) {
      run.add({
        kind: "corrupt",
        code: "signature_malformed",
        path,
        spec,
        layout,
        message: `"${path}" starts as a clear-signed document but has no signature block`,
      });
    }
    return body;
  }
  try {
    const verified = await opts.verifier.verify(text, spec);
    checked.signaturesVerified++;
    return verified.body;
  } catch (e) {
    if (!(e instanceof SpackleError)) throw e;
    run.add({
      kind: "untrusted",
      code: "bad_signature",
      path,
      spec,
      layout,
      message: e.message.includes(spec)
        ? e.message
        : `The signature of "${spec}" does not verify: ${e.message}`,
    });
    return body;
  }
}
