/**
 * What the reading commands (`list`, `show`, `download`) share: opening the mirrors, the
 * mirror options they take.
 *
 * @module
 */
import type { Command } from "commander";
import type { Ctx } from "./context.ts";
import type { MirrorCliOptions } from "./mirror_options.ts";

/** Opens the mirrors `o` names, printing their notes. */
export async function openReadMirrors(ctx: Ctx, o: MirrorCliOptions) {
  const { openCliMirrors } = await import("./mirror_options.ts");
  const r = await openCliMirrors(o, ctx.globals, ctx.signal, ctx.out);
  for (const n of r.mirrors.notes()) ctx.out.info(`note: ${n}`);
  return r;
}

/** Adds `-m/--mirror` and, with `signatures`, `--keyring`, `-k/--key`, `--allow-unsigned`. */
export function addMirror(cmd: Command, signatures = true): Command {
  const collect = (v: string, p?: string[]) => [...(p ?? []), v];
  cmd.option(
    "-m, --mirror <url>",
    "mirror path, URL (file://, https://, s3://) or configured name; repeat to search several in order",
    collect,
  );
  if (signatures) {
    cmd
      .option(
        "--keyring <dir>",
        "directory of trusted public keys (default: SPACKLE_KEYRING, ~/.config/spackle/keyring)",
      )
      .option("-k, --key <file>", "also trust this armored public key (repeatable)", collect)
      .option("--allow-unsigned", "read unsigned metadata and signatures by untrusted keys", false);
  }
  return cmd;
}
