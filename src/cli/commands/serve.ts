/** `serve`: a local web UI over mirrors. */
import { InvalidArgumentError, Option } from "commander";
import type { Ctx, Register } from "../context.ts";
import process from "node:process";
import { addMirrorOptions, type MirrorCliOptions } from "../mirror_options.ts";
import { loadSite, positiveInt } from "../web_options.ts";

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

const register: Register = (program, act) => {
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
    const { mirrors, data } = await loadSite(ctx, o, o.jobs);
    const { serveSite } = await import("../../../mod.ts");
    const { verifyMirror } = await import("../../../mod.ts");
    const { trustedVerifier } = await import("../../../mod.ts");
    let verifier: ReturnType<typeof trustedVerifier>;
    try {
      verifier = trustedVerifier(o);
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
export default register;
