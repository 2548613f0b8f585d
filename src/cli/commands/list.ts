/** `list` (`ls`): the specs of the mirrors. */
import type { Register } from "../context.ts";
import type { MirrorCliOptions } from "../mirror_options.ts";
import type { EntryRef, Mirror } from "../../../mod.ts";
import { errorCode, errorMessage } from "../../errors.ts";
import { columnWidths, table } from "../output.ts";
import { listCells, listTable } from "../list_table.ts";
import { addMirror, openReadMirrors } from "../read_options.ts";

function mirrorInfo(m: Mirror) {
  return { url: m.url, name: m.name, layouts: m.layout.versions, notes: m.notes() };
}

const register: Register = (program, act) => {
  addMirror(
    program
      .command("list")
      .alias("ls")
      .description("list the specs in build caches (from their indexes)")
      .argument("[query...]", "filters: NAME, NAME@VERSION, /HASH, %COMPILER, arch=, os=, target=")
      .option("-l, --long", "show full hashes", false)
      .option(
        "-a, --all",
        "also list index entries not in the cache (externals, build-only)",
        false,
      ),
    false,
  )
    .addHelpText(
      "after",
      "\nExamples:\n  spackle list -m ./mirror\n  spackle list -m https://cache.example.org zlib@1.3 target=x86_64_v3\n" +
        "  spackle list -m ./a -m ./b --json /abc12",
    )
    .action(
      act(async (ctx, query: string[], o: MirrorCliOptions & { long: boolean; all: boolean }) => {
        const { mirrors } = await openReadMirrors(ctx, { ...o, allowUnsigned: true });
        const { MemoryPacer, sortRecords } = await import("../../../mod.ts");
        const refs = sortRecords((await mirrors.list(query, { signal: ctx.signal }))
          .filter((r) => o.all || r.inBuildcache));
        if (ctx.out.json) {
          ctx.out.data({
            mirrors: mirrors.mirrors.map(mirrorInfo),
            ...(mirrors.skipped.length
              ? {
                skipped: mirrors.skipped.map((s) => ({
                  mirror: s.source,
                  error: { code: errorCode(s.error), message: errorMessage(s.error) },
                })),
              }
              : {}),
            specs: refs,
          });
          return;
        }
        const row = (r: EntryRef) => listCells(r, o);
        const PART = 2000;
        // Plain text (the usual case): columns padded by length, no row arrays; made whole
        // (a few MB) and written when no field holds an escape character.
        const texts = [...listTable(refs, o)];
        if (!texts.some((t) => t.includes("\x1b"))) {
          for (const text of texts) ctx.out.out(text);
          ctx.out.info(`${refs.length} spec${refs.length === 1 ? "" : "s"}`);
          return;
        }
        texts.length = 0;
        // Rows are made a part at a time and written in large writes, with collections asked
        // for as the garbage grows: tens of thousands of rows would otherwise all be held.
        const pacer = new MemoryPacer({ headroom: 8 << 20, every: 256 << 10 });
        const widths: number[] = [];
        for (let i = 0; i < refs.length; i += PART) {
          columnWidths(refs.slice(i, i + PART).map(row), widths);
          pacer.add(PART * 64);
        }
        for (let i = 0; i < refs.length; i += PART) {
          const lines = table(refs.slice(i, i + PART).map(row), widths);
          const text = lines.map((line) => line.trimEnd()).join("\n");
          ctx.out.out(text);
          pacer.add(text.length);
        }
        ctx.out.info(`${refs.length} spec${refs.length === 1 ? "" : "s"}`);
      }),
    );
};
export default register;
