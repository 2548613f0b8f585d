/** `report`: a static HTML report of mirrors. */
import { Option } from "commander";
import type { Ctx, Register } from "../context.ts";
import type { MirrorSet } from "../../../mod.ts";
import { UsageError } from "../../errors.ts";
import { addMirrorOptions, type MirrorCliOptions } from "../mirror_options.ts";
import { loadSite, positiveInt } from "../web_options.ts";

/** `verifyMirror` on each mirror, with the verifier the mirrors were opened with. */
async function verifyAll(
  ctx: Ctx,
  mirrors: MirrorSet,
  o: MirrorCliOptions,
  onProgress?: (p: { mirror: string; done: number; total: number; bytes: number }) => void,
) {
  const { verifyMirror } = await import("../../../mod.ts");
  const { trustedVerifier } = await import("../../../mod.ts");
  let verifier;
  try {
    verifier = trustedVerifier(o);
  } catch {
    verifier = undefined;
  }
  const reports = [];
  for (const m of mirrors.mirrors) {
    ctx.out.info(`verifying ${m.name ?? m.url}`);
    reports.push(
      await verifyMirror(m.store, {
        verifier,
        signal: ctx.signal,
        onProgress: (p) => onProgress?.({ mirror: m.name ?? m.url, ...p }),
      }),
    );
  }
  return reports;
}

const register: Register = (program, act) => {
  const report = program
    .command("report")
    .description(
      "write a static web view of mirrors (table of specs, a page per spec with its graph, " +
        "blobs and signature status, keys, verify findings): works from file:// and any web server",
    )
    .option(
      "-o, --output <dir>",
      "write the site into this directory (new, empty or an earlier report)",
    )
    .option("--into <mirror>", "write the site at the root of this (writable) mirror instead")
    .option("--no-verify", "skip checking every blob's size and sha256 for the mirror page")
    .addOption(
      new Option("-j, --jobs <n>", "entries read at once").default(8).argParser(positiveInt),
    )
    .addHelpText(
      "after",
      "\nSignatures are checked against the keyring and --key files and shown on every entry; " +
        "unsigned entries and signatures by untrusted keys are listed with that status, never left out.\n\n" +
        "Examples:\n  spackle report -m ./mirror -o ./site\n" +
        "  spackle report -m ./mirror --into ./mirror -k site.pub   # then open ./mirror/index.html\n" +
        "  spackle report -m https://cache.example.org -m ./local -o /srv/www/cache",
    );
  addMirrorOptions(report);
  report.action(act(async (
    ctx,
    o: MirrorCliOptions & {
      output?: string;
      into?: string;
      verify: boolean;
      jobs: number;
    },
  ) => {
    if (!!o.output === !!o.into) {
      throw new UsageError("report needs exactly one of -o/--output DIR and --into MIRROR");
    }
    const { mirrors, data, hrefBase } = await loadSite(ctx, o, o.jobs);
    const web = await import("../../../mod.ts");
    let into: import("../../../mod.ts").Store | undefined;
    if (o.into) {
      const { openCliStore } = await import("../mirror_options.ts");
      into = await openCliStore(o.into, ctx.globals, {
        writable: true,
        out: ctx.out,
      }) as import("../../../mod.ts").Store;
    }
    if (o.verify) data.verify = await verifyAll(ctx, mirrors, o);
    const beside = (i: number) =>
      !!into && into.url.href.replace(/\/?$/, "/") === mirrors.mirrors[i]?.url;
    const objectHref = (i: number, path: string) => {
      const url = mirrors.mirrors[i]?.url;
      if (!url) return undefined;
      if (beside(i)) return path;
      return hrefBase(url, path);
    };
    // Beside its mirror, the pages re-verify entries in the browser.
    const render = {
      objectHref,
      mirrorRoot: (i: number) => beside(i) ? "" : undefined,
      browserJs: await web.browserScript(),
    };
    const res = into
      ? await web.writeReportStore(data, into, { ...render, signal: ctx.signal })
      : await web.writeReportDir(data, o.output!, render);
    const where = into ? into.url.href : o.output!;
    if (ctx.out.json) {
      ctx.out.data({ to: where, specs: data.specs.length, files: res.files, bytes: res.bytes });
      return;
    }
    ctx.out.out(
      `${data.specs.length} specs, ${res.files} files (${res.bytes} bytes) written to ${where}`,
    );
  }));
};
export default register;
