/** `graph`, `report`, `serve`: seeing a mirror (a spec's DAG, a static site, a local web UI). */
import { InvalidArgumentError, Option } from "commander";
import type { Ctx, Register } from "../context.ts";
import type { MirrorSet } from "../../layout/mod.ts";
import { Progress } from "../progress.ts";
import process from "node:process";
import { UsageError } from "../../errors.ts";
import { addMirrorOptions, type MirrorCliOptions, openCliMirrors } from "../mirror_options.ts";
import type { DepType } from "../../spec/types.ts";

const DEP_TYPES = ["build", "link", "run", "test"] as const;

function depTypes(v: string): DepType[] {
  const out = v.split(",").map((s) => s.trim()).filter(Boolean);
  for (const t of out) {
    if (!(DEP_TYPES as readonly string[]).includes(t)) {
      throw new UsageError(
        `--deptype takes a comma-separated list of ${DEP_TYPES.join(", ")}, not "${t}"`,
      );
    }
  }
  if (!out.length) throw new UsageError("--deptype needs at least one dependency type");
  return out as DepType[];
}

const register: Register = (program, act) => {
  const graph = program
    .command("graph")
    .description(
      "draw a spec's dependency DAG with edge types and virtuals: DOT, Mermaid, or SVG (no Graphviz needed)",
    )
    .argument("<spec>", "NAME, NAME@VERSION, /HASH or NAME/HASH")
    .addOption(new Option("--dot", "Graphviz DOT (the default)").conflicts(["mermaid", "svg"]))
    .addOption(new Option("--mermaid", "a Mermaid flowchart").conflicts(["svg"]))
    .addOption(new Option("--svg", "an SVG image, laid out by spackle"))
    .addOption(
      new Option("--deptype <types>", "keep only edges of these types (comma-separated)")
        .argParser(depTypes),
    )
    .addHelpText(
      "after",
      "\nEdges are labelled with their dependency types and the virtuals they provide; link " +
        "edges are solid red, run dashed green, build dotted blue, test dotted grey.\n\n" +
        "Examples:\n  spackle graph -m ./mirror fooapp | dot -Tpng > fooapp.png\n" +
        "  spackle graph -m ./mirror --svg fooapp > fooapp.svg\n" +
        "  spackle graph -m ./mirror --mermaid --deptype link,run /iicodpd",
    );
  addMirrorOptions(graph);
  graph.action(act(async (
    ctx,
    query: string,
    o: MirrorCliOptions & {
      dot?: boolean;
      mermaid?: boolean;
      svg?: boolean;
      deptype?: DepType[];
    },
  ) => {
    // Drawing reads metadata only; its signature status is not needed to draw it.
    const { mirrors } = await openCliMirrors(
      { ...o, allowUnsigned: true },
      ctx.globals,
      ctx.signal,
      ctx.out,
    );
    const ref = await mirrors.resolve(query, { signal: ctx.signal });
    const e = await mirrors.entry(ref.hash, { requireSignature: false, signal: ctx.signal });
    const { specGraph, toDot, toMermaid, toSvg } = await import("../../web/graph.ts");
    const g = specGraph(e.spec, { depTypes: o.deptype });
    const title = `${ref.name}@${ref.version}/${ref.hash.slice(0, 7)}`;
    if (ctx.out.json) {
      ctx.out.data({ root: ref.hash, ...g });
      return;
    }
    const text = o.svg ? toSvg(g, { title }) : o.mermaid ? toMermaid(g) : toDot(g, title);
    ctx.out.out(text.trimEnd());
  }));

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
    const { mirrors, data, hrefBase } = await load(ctx, o, o.jobs);
    const web = await import("../../web/mod.ts");
    let into: import("../../storage/store.ts").Store | undefined;
    if (o.into) {
      const { openCliStore } = await import("../mirror_options.ts");
      into = await openCliStore(o.into, ctx.globals, {
        writable: true,
        out: ctx.out,
      }) as import("../../storage/store.ts").Store;
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

  const serve = program
    .command("serve")
    .description(
      "a local, read-only web view of mirrors: searchable table, spec pages with graphs, " +
        "signature status, and a verify action that streams its progress",
    )
    .option(
      "--host <address>",
      "address to listen on (loopback unless told otherwise)",
      "127.0.0.1",
    )
    .addOption(
      new Option("--port <n>", "port to listen on (0: any free one)").default(8765).argParser(port),
    )
    .option("--open", "open the page in the default browser", false)
    .addOption(
      new Option("-j, --jobs <n>", "entries read at once").default(8).argParser(positiveInt),
    )
    .addHelpText(
      "after",
      "\nThe mirrors are read once at start; the pages, the mirrors' objects (under /mirror/N/) " +
        "and verify.html are served until Ctrl-C. Nothing is ever written.\n\n" +
        "Examples:\n  spackle serve -m ./mirror --open\n" +
        "  spackle serve -m https://cache.example.org -k site.pub --port 9000",
    );
  addMirrorOptions(serve);
  serve.action(act(async (
    ctx,
    o: MirrorCliOptions & {
      host: string;
      port: number;
      open: boolean;
      jobs: number;
    },
  ) => {
    const { mirrors, data } = await load(ctx, o, o.jobs);
    const { serveSite } = await import("../../web/serve.ts");
    const { verifyMirror } = await import("../../mirror/verify.ts");
    const { cliVerifier } = await import("../mirror_options.ts");
    let verifier: ReturnType<typeof cliVerifier>;
    try {
      verifier = cliVerifier(o);
    } catch {
      verifier = undefined;
    }
    const running = await serveSite({
      data,
      mirrors,
      host: o.host,
      port: o.port,
      verifyMirror: (i, onProgress, signal) =>
        verifyMirror(mirrors.mirrors[i].store, { verifier, signal, onProgress }),
    });
    if (!/^(127\.|::1$|localhost$)/.test(o.host)) {
      ctx.out.warn(`listening on ${o.host}: reachable from other machines`);
    }
    ctx.out.out(`serving ${data.specs.length} specs at ${running.url} (Ctrl-C stops)`);
    if (o.open) openBrowser(running.url, ctx);
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      ctx.signal.addEventListener("abort", stop, { once: true });
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
    });
    await running.close();
  }));
};

function openBrowser(url: string, ctx: Ctx): void {
  import("node:child_process").then(({ spawn }) => {
    const cmd = process.platform === "darwin"
      ? "open"
      : process.platform === "win32"
      ? "explorer"
      : "xdg-open";
    const child = spawn(cmd, [url], { stdio: "ignore", detached: true });
    child.on("error", () => ctx.out.warn(`could not start ${cmd}: open ${url} yourself`));
    child.unref();
  });
}

function port(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    throw new InvalidArgumentError(`takes a port number from 0 to 65535, not "${v}"`);
  }
  return n;
}

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) {
    throw new InvalidArgumentError(`takes a whole number above 0, not "${v}"`);
  }
  return n;
}

/** A link to a mirror object, when the mirror's URL is one a browser can follow. */
function hrefBase(url: string, path: string): string | undefined {
  if (!/^(https?|file):/.test(url)) return undefined;
  return new URL(path.split("/").map(encodeURIComponent).join("/"), url.replace(/\/?$/, "/"))
    .href;
}

/** Opens the mirrors (never refusing unsigned entries) and reads everything the pages show. */
async function load(ctx: Ctx, o: MirrorCliOptions, jobs: number) {
  const { mirrors, verifier } = await openCliMirrors(
    { ...o, allowUnsigned: true },
    ctx.globals,
    ctx.signal,
    ctx.out,
  );
  for (const n of mirrors.notes()) ctx.out.info(`note: ${n}`);
  const { collectSite } = await import("../../web/site.ts");
  const progress = Progress.for(ctx.out);
  let started = false;
  const { readFile } = await import("node:fs/promises");
  const trustedKeys = await Promise.all((o.key ?? []).map((f) => readFile(f, "utf8")));
  const data = await collectSite(mirrors, {
    signal: ctx.signal,
    jobs,
    trustedKeys,
    onProgress: (done, total) => {
      if (!started) {
        progress.phase("read", total);
        started = true;
      }
      progress.finish();
      void done;
    },
  }).finally(() => progress.stop());
  return { mirrors, verifier, data, hrefBase };
}

/** `verifyMirror` on each mirror, with the verifier the mirrors were opened with. */
async function verifyAll(
  ctx: Ctx,
  mirrors: MirrorSet,
  o: MirrorCliOptions,
  onProgress?: (p: { mirror: string; done: number; total: number; bytes: number }) => void,
) {
  const { verifyMirror } = await import("../../mirror/verify.ts");
  const { cliVerifier } = await import("../mirror_options.ts");
  let verifier;
  try {
    verifier = cliVerifier(o);
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
export default register;
