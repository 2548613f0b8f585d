/**
 * The interactive shell: `spackle repl [-m MIRROR...]`. Each line runs through the same command
 * table as the CLI (`buildProgram` with the REPL's own AbortSignal), with the REPL's mirrors
 * and key options added to commands that take `-m`. REPL words: `ls`/`find` (as `list`, rows
 * numbered), `show`, `deps` (the dependency tree), `cat` (the metadata, pretty-printed),
 * `verify`, `download`, `install`, `keys`, `help`, `exit`. A number where a spec is expected is
 * the row of the last listing (`show 3`). Tab completes words, flags, package names and hash
 * prefixes; history is kept in a file; Ctrl-C cancels the running command; Ctrl-D exits.
 *
 * @module
 */
import { appendFileSync, mkdirSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import * as readline from "node:readline";
import type { Command } from "commander";
import type { ProgramOptions } from "../cli/context.ts";
import {
  type Output,
  type OutputOptions,
  printError,
  processOutput,
  table,
} from "../cli/output.ts";
import type { MirrorCliOptions, StoreGlobals } from "../cli/mirror_options.ts";
import type { EntryRef } from "../../mod.ts";
import { errorMessage, UsageError } from "../../mod.ts";
import { isClearsigned, splitClearsigned } from "../../mod.ts";

/** REPL words and what they run. */
export const REPL_WORDS: Record<string, string> = {
  ls: "list the specs (same query syntax as `list`); rows are numbered for the next command",
  find: "the same as ls",
  show: "show a spec (SPEC or a row number of the last listing)",
  deps: "the dependency tree of a spec",
  cat: "the metadata (v3 manifest or v2 spec file) pretty-printed; cat --spec: the spec document",
  verify: "check the open mirrors (or the ones given)",
  download: "fetch a spec's files: download SPEC --to DIR",
  install: "install specs: install SPEC... --root DIR",
  keys: "the keyring: keys list|trust|...",
  open: "open other mirrors instead: open MIRROR... (without one: the mirrors open now)",
  help: "this list, or help COMMAND",
  exit: "leave (Ctrl-D too)",
};

/** Options of a REPL session. */
export interface ReplOptions extends MirrorCliOptions, Omit<StoreGlobals, "caFile"> {
  caFile?: string;
  config?: string;
  mirrorsFile?: string;
  json?: boolean;
  verbose?: boolean;
  color?: boolean;
  /** History file (default `$SPACKLE_HISTORY`, else `$XDG_STATE_HOME/spackle/repl_history`). */
  historyFile?: string;
  input?: NodeJS.ReadableStream;
  output?: NodeJS.WritableStream;
  /** Ends the session when aborted (SIGTERM, SIGHUP, or SIGINT sent to the process). */
  signal?: AbortSignal;
  /** Builds the command tree each line runs through (the CLI's `buildProgram`). */
  program: (opts?: ProgramOptions) => Command;
}

/** The history file: SPACKLE_HISTORY, else under XDG_STATE_HOME (~/.local/state). */
export function historyPath(env = process.env): string {
  if (env.SPACKLE_HISTORY) return env.SPACKLE_HISTORY;
  const base = env.XDG_STATE_HOME || join(homedir(), ".local", "state");
  return join(base, "spackle", "repl_history");
}

/** Splits a line into words as a shell would (quotes and backslashes; no expansion). */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  let cur = "";
  let quote: string | undefined;
  let has = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quote) {
      if (ch === quote) quote = undefined;
      else if (ch === "\\" && quote === '"' && i + 1 < line.length) cur += line[++i];
      else cur += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      has = true;
    } else if (ch === "\\" && i + 1 < line.length) {
      cur += line[++i];
      has = true;
    } else if (/\s/.test(ch)) {
      if (has) words.push(cur);
      cur = "";
      has = false;
    } else {
      cur += ch;
      has = true;
    }
  }
  if (quote) throw new UsageError(`Unclosed ${quote} quote`);
  if (has) words.push(cur);
  return words;
}

function findCommand(program: Command, path: string[]): Command | undefined {
  let c: Command | undefined = program;
  for (const p of path) {
    c = (c.commands as Command[]).find((s) => s.name() === p || s.aliases().includes(p));
    if (!c) return undefined;
  }
  return c;
}

function flagsOf(cmd: Command | undefined, program: Command): string[] {
  const out = new Set<string>(["--help"]);
  for (const c of [cmd, program]) {
    for (const o of c?.options ?? []) {
      if (o.long) out.add(o.long);
      if (o.short) out.add(o.short);
    }
  }
  return [...out];
}

type Opened = Awaited<ReturnType<typeof import("../cli/mirror_options.ts").openCliMirrors>>;

/** One REPL session's state (usable without a terminal, for tests). */
export class ReplSession {
  /** The rows of the last listing (`show 3` is the third). */
  last: EntryRef[] = [];
  /** Package names and hashes from the open mirrors' indexes (for completion). */
  names: string[] = [];
  hashes: string[] = [];
  #opts: ReplOptions;
  #opened?: { opts: ReplOptions; set: Promise<Opened> };
  #running?: AbortController;
  #print: (s: string) => void;

  constructor(opts: ReplOptions, print: (s: string) => void) {
    this.#opts = opts;
    this.#print = print;
  }

  /** Arguments the REPL adds to commands taking `-m`, when the line gives none. */
  mirrorArgs(): string[] {
    const a: string[] = [];
    for (const m of this.#opts.mirror ?? []) a.push("-m", m);
    if (this.#opts.keyring) a.push("--keyring", this.#opts.keyring);
    for (const k of this.#opts.key ?? []) a.push("-k", k);
    if (this.#opts.allowUnsigned) a.push("--allow-unsigned");
    return a;
  }

  globalArgs(): string[] {
    const a: string[] = [];
    if (this.#opts.caFile) a.push("--ca-file", this.#opts.caFile);
    if (this.#opts.s3EndpointUrl) a.push("--s3-endpoint-url", this.#opts.s3EndpointUrl);
    if (this.#opts.s3Region) a.push("--s3-region", this.#opts.s3Region);
    if (this.#opts.s3Profile) a.push("--s3-profile", this.#opts.s3Profile);
    if (this.#opts.s3Addressing) a.push("--s3-addressing", this.#opts.s3Addressing);
    if (this.#opts.config) a.push("--config", this.#opts.config);
    if (this.#opts.mirrorsFile) a.push("--mirrors-file", this.#opts.mirrorsFile);
    if (this.#opts.verbose) a.push("--verbose");
    if (this.#opts.color === false) a.push("--no-color");
    return a;
  }

  /**
   * The session's mirrors, opened once and kept while the session's mirror options stay the
   * same (their indexes are then read once): `ls`, `cat` and completion use them.
   */
  #mirrors(signal: AbortSignal): Promise<Opened> {
    if (this.#opened?.opts !== this.#opts) {
      const opts = this.#opts;
      const set = (async () => {
        const { installResolver } = await import("../cli/mirror_options.ts");
        installResolver({ config: opts.config, mirrorsFile: opts.mirrorsFile });
        const { openCliMirrors } = await import("../cli/mirror_options.ts");
        const r = await openCliMirrors(opts, opts, signal);
        for (const s of r.mirrors.skipped) {
          this.#print(`warning: mirror ${s.source} skipped: ${errorMessage(s.error)}`);
        }
        for (const n of r.mirrors.notes()) this.#print(`note: ${n}`);
        return r;
      })();
      const entry = { opts, set };
      set.catch(() => {
        if (this.#opened === entry) this.#opened = undefined;
      });
      this.#opened = entry;
    }
    return this.#opened.set;
  }

  /** The specs of the session's mirrors matching `query`, sorted as `list` sorts them. */
  async #list(query: string[], all: boolean, signal: AbortSignal): Promise<EntryRef[]> {
    const { mirrors } = await this.#mirrors(signal);
    const refs = (await mirrors.list(query, { signal })).filter((r) => all || r.inBuildcache);
    return refs.sort((a, b) =>
      a.name.localeCompare(b.name) ||
      a.version.localeCompare(b.version, undefined, { numeric: true }) ||
      a.hash.localeCompare(b.hash)
    );
  }

  /** Runs `fn` as the running command (Ctrl-C aborts its signal); errors are printed. */
  async #guard(fn: (signal: AbortSignal) => Promise<number>): Promise<number> {
    const ac = new AbortController();
    this.#running = ac;
    try {
      return await fn(ac.signal);
    } catch (err) {
      if (ac.signal.aborted) {
        this.#print("cancelled");
        return 130;
      }
      printError(err, !!this.#opts.json);
      return err instanceof UsageError ? 2 : 1;
    } finally {
      this.#running = undefined;
    }
  }

  /** Why the mirrors could not be read at the start (then completion has no names). */
  loadError?: unknown;

  /** Loads names and hashes for completion from the open mirrors (quietly). */
  async loadIndex(): Promise<void> {
    try {
      const refs = await this.#list([], false, new AbortController().signal);
      if (refs) {
        this.names = [...new Set(refs.map((r) => r.name))].sort();
        this.hashes = refs.map((r) => r.hash);
      }
    } catch (e) {
      this.loadError = e; // completion without names
    }
  }

  /** Cancels the running command; false when none runs. */
  cancel(): boolean {
    if (!this.#running) return false;
    this.#running.abort(new DOMException("Cancelled", "AbortError"));
    return true;
  }

  get running(): boolean {
    return !!this.#running;
  }

  #spec(word: string): string {
    if (/^\d+$/.test(word)) {
      const r = this.last[Number(word) - 1];
      if (!r) {
        throw new UsageError(
          `There is no row ${word} in the last listing (${this.last.length} rows): run ls first`,
        );
      }
      return `${r.name}/${r.hash}`;
    }
    return word;
  }

  /** Runs `argv` through the command table with the REPL's mirrors; resolves with the exit code. */
  async #run(argv: string[], output?: (o: OutputOptions) => Output): Promise<number> {
    const ac = new AbortController();
    this.#running = ac;
    let code = 0;
    const program = this.#opts.program({ output, signal: ac.signal, onExit: (c) => (code = c) });
    const sub = findCommand(program, argv.filter((w) => !w.startsWith("-")).slice(0, 2)) ??
      findCommand(program, argv.slice(0, 1));
    const full = [...this.globalArgs(), ...argv];
    const takesMirror = sub?.options.some((o) => o.long === "--mirror");
    if (takesMirror && !argv.some((w) => w === "-m" || w.startsWith("--mirror"))) {
      full.push(
        ...this.mirrorArgs().filter((a) =>
          sub!.options.some((o) => o.long === a || o.short === a) || !a.startsWith("-")
        ),
      );
    }
    const allCmds: Command[] = [];
    const walk = (c: Command) => {
      allCmds.push(c);
      for (const s of c.commands as Command[]) walk(s);
    };
    walk(program);
    for (const c of allCmds) {
      c.exitOverride();
      c.configureOutput({
        writeOut: (s) => this.#print(s.replace(/\n$/, "")),
        writeErr: (s) => this.#print(s.replace(/\n$/, "")),
      });
    }
    try {
      await program.parseAsync(full, { from: "user" });
      return code;
    } catch (err) {
      const e = err as { code?: string; exitCode?: number };
      if (typeof e.code === "string" && e.code.startsWith("commander.")) {
        return e.code.startsWith("commander.help") || e.code === "commander.version" ? 0 : 2;
      }
      if (ac.signal.aborted) {
        this.#print("cancelled");
        return 130;
      }
      printError(err, !!this.#opts.json);
      return 1;
    } finally {
      this.#running = undefined;
    }
  }

  /** Runs `list` with a capturing JSON output; the specs it printed. */
  async #capture(argv: string[], query: string[]): Promise<EntryRef[] | undefined> {
    let data: unknown;
    const quiet = (o: OutputOptions): Output => ({
      ...processOutput({ ...o, json: true }),
      data: (v) => (data = v),
    });
    const code = await this.#run(["--json", ...argv, ...query], quiet);
    if (code !== 0) return undefined;
    return (data as { specs?: EntryRef[] } | undefined)?.specs;
  }

  /** Runs one REPL line; resolves with its exit code (undefined for `exit`). */
  async line(text: string): Promise<number | undefined> {
    try {
      return await this.#line(text);
    } catch (err) {
      printError(err, !!this.#opts.json);
      return err instanceof UsageError ? 2 : 1;
    }
  }

  async #line(text: string): Promise<number | undefined> {
    let words: string[];
    try {
      words = splitWords(text);
    } catch (e) {
      this.#print(`spackle: error: ${errorMessage(e)}`);
      return 2;
    }
    if (words.length === 0) return 0;
    const [w, ...rest] = words;
    switch (w) {
      case "exit":
      case "quit":
        return undefined;
      case "open":
        return await this.#open(rest);
      case "help":
      case "?": {
        if (rest.length) {
          const word = rest[0] === "find" ? "ls" : rest[0];
          if (["deps", "cat", "open", "exit", "help"].includes(word)) {
            this.#print(`${word}: ${REPL_WORDS[word]}`);
            return 0;
          }
          if (word === "ls") this.#print(`ls: ${REPL_WORDS.ls}; it takes what list takes:`);
          return await this.#run([word === "ls" ? "list" : word, ...rest.slice(1), "--help"]);
        }
        const rows = Object.entries(REPL_WORDS).map(([k, v]) => [k, v]);
        for (const l of table(rows)) this.#print(`  ${l}`);
        this.#print("Every spackle command works too (mirror, push, update-index, ...).");
        return 0;
      }
      case "ls":
      case "find":
      case "list": {
        const long = rest.includes("-l") || rest.includes("--long");
        const all = rest.includes("-a") || rest.includes("--all");
        if (rest.some((r) => r === "-m" || r.startsWith("--mirror"))) {
          // Other mirrors than the session's: through the command itself.
          return await this.#run(["list", ...rest]);
        }
        const query = rest.filter((r) => !["-l", "--long", "-a", "--all"].includes(r));
        let refs: EntryRef[] = [];
        const code = await this.#guard(async (signal) => {
          refs = await this.#list(query, all, signal);
          return 0;
        });
        if (code !== 0) return code;
        this.last = refs;
        const rows = refs.map((r, i) => [
          String(i + 1),
          r.name,
          r.version,
          long ? r.hash : r.hash.slice(0, 7),
          r.arch ?? "-",
          r.compiler ?? "-",
        ]);
        for (const l of table(rows)) this.#print(l.trimEnd());
        this.#print(`${refs.length} spec${refs.length === 1 ? "" : "s"}`);
        return 0;
      }
      case "deps": {
        if (rest.length !== 1) {
          this.#print("usage: deps SPEC");
          return 2;
        }
        const lines: string[] = [];
        let inTree = false;
        const grab = (o: OutputOptions): Output => ({
          ...processOutput(o),
          out: (l) => {
            if (inTree) lines.push(l.replace(/^ {2}/, ""));
            else if (/dependencies:/.test(l)) inTree = true;
          },
        });
        const code = await this.#run(["show", this.#spec(rest[0])], grab);
        for (const l of lines) this.#print(l);
        return code;
      }
      case "cat":
        return await this.#cat(rest);
      case "verify": {
        // verify takes one mirror: without one, each open mirror in turn.
        if (rest.some((r) => !r.startsWith("-")) || !this.#opts.mirror?.length) {
          return await this.#run([w, ...rest]);
        }
        let worst = 0;
        for (const m of this.#opts.mirror) {
          const keys = (this.#opts.key ?? []).flatMap((k) => ["-k", k]);
          worst = Math.max(worst, await this.#run([w, m, ...keys, ...rest]));
        }
        return worst;
      }
      default: {
        // A number stands for a row of the last listing, except as an option's value.
        const mapped = [
          w,
          ...rest.map((r, i) =>
            /^\d+$/.test(r) && (i === 0 || !rest[i - 1].startsWith("-")) ? this.#spec(r) : r
          ),
        ];
        return await this.#run(
          ["show", "download", "install"].includes(w) ? mapped : [w, ...rest],
        );
      }
    }
  }

  /** `open MIRROR...`: the session's mirrors become these (kept as they were when one fails). */
  async #open(rest: string[]): Promise<number> {
    const named = (o: ReplOptions) => o.mirror?.length ? o.mirror.join(", ") : "configured mirrors";
    if (rest.length === 0) {
      this.#print(`open: ${named(this.#opts)} (${this.names.length} packages)`);
      return 0;
    }
    if (rest.some((r) => r.startsWith("-"))) {
      this.#print("usage: open MIRROR... (mirror URLs, paths or configured names)");
      return 2;
    }
    const before = this.#opts;
    this.#opts = { ...before, mirror: rest };
    const refs = await this.#capture(["list"], []);
    if (!refs) {
      this.#opts = before;
      this.#print(`still on ${named(before)}`);
      return 1;
    }
    this.names = [...new Set(refs.map((r) => r.name))].sort();
    this.hashes = refs.map((r) => r.hash);
    this.last = [];
    this.#print(`opened ${rest.join(", ")}: ${this.names.length} packages`);
    return 0;
  }

  async #cat(args: string[]): Promise<number> {
    const specDoc = args.includes("--spec");
    const rest = args.filter((a) => a !== "--spec");
    if (rest.length !== 1) {
      this.#print("usage: cat [--spec] SPEC   (the metadata, or with --spec the spec document)");
      return 2;
    }
    return await this.#guard(async (signal) => {
      const r = await this.#mirrors(signal);
      const ref = await r.mirrors.resolve(this.#spec(rest[0]), { signal });
      // Reading is not trusting: shown whatever the signature, with its status.
      const e = await r.mirrors.entry(ref.hash, { inspect: true, signal });
      const { signatureText } = await import("../cli/present.ts");
      this.#print(`# ${e.ref.name}@${e.ref.version}/${e.ref.hash}: ${signatureText(e)}`);
      if (e.substitution) this.#print(`# SUBSTITUTED: ${e.substitution}`);
      this.#print(
        specDoc ? JSON.stringify(e.spec.raw, null, 2) : prettyMetadata(e.metadataText ?? ""),
      );
      return 0;
    });
  }

  /** Completions for `line` (readline's completer); a single match gets a trailing space. */
  complete(line: string): [string[], string] {
    const [hits, cur] = this.#complete(line);
    return [hits.length === 1 ? [hits[0] + " "] : hits, cur];
  }

  #complete(line: string): [string[], string] {
    const words = line.split(/\s+/);
    const cur = words[words.length - 1];
    const program = this.#opts.program();
    const top = [
      ...new Set([
        ...Object.keys(REPL_WORDS),
        ...(program.commands as Command[]).flatMap((c) => [c.name(), ...c.aliases()]),
      ]),
    ].sort();
    if (words.length <= 1) return [top.filter((w) => w.startsWith(cur)), cur];
    const first = words[0] === "ls" || words[0] === "find" || words[0] === "deps" ||
        words[0] === "cat"
      ? (words[0] === "deps" || words[0] === "cat" ? "show" : "list")
      : words[0];
    let cmd = findCommand(program, [first]);
    // A verb of a group (keys trust, mirror add) brings its own flags.
    if (cmd?.commands.length && words.length > 2) cmd = findCommand(cmd, [words[1]]) ?? cmd;
    if (cur.startsWith("-")) return [flagsOf(cmd, program).filter((f) => f.startsWith(cur)), cur];
    if (cmd && cmd.commands.length && words.length === 2) {
      const subs = (cmd.commands as Command[]).flatMap((c) => [c.name(), ...c.aliases()]);
      return [subs.filter((s) => s.startsWith(cur)).sort(), cur];
    }
    if (cur.startsWith("/")) {
      return [
        this.hashes.filter((h) => h.startsWith(cur.slice(1))).map((h) => `/${h.slice(0, 7)}`),
        cur,
      ];
    }
    const slash = cur.indexOf("/");
    if (slash > 0) {
      const name = cur.slice(0, slash);
      const prefix = cur.slice(slash + 1);
      return [
        this.hashes.filter((h) => h.startsWith(prefix)).map((h) => `${name}/${h.slice(0, 7)}`),
        cur,
      ];
    }
    return [this.names.filter((n) => n.startsWith(cur)), cur];
  }
}

/** The JSON inside metadata (clearsigned or not), pretty-printed; other text as it is. */
export function prettyMetadata(text: string): string {
  let body = text;
  let signed = false;
  if (isClearsigned(text)) {
    try {
      body = splitClearsigned(text).body;
      signed = true;
    } catch { /* shown as it is */ }
  }
  try {
    return JSON.stringify(JSON.parse(body), null, 2) + (signed ? "\n(signed)" : "");
  } catch {
    return text;
  }
}

function loadHistory(path: string): string[] {
  try {
    return readFileSync(path, "utf8").split("\n").filter((l) => l.trim()).reverse().slice(0, 1000);
  } catch {
    return [];
  }
}

/** Runs the REPL on the terminal until Ctrl-D or `exit`; resolves with 0. */
export async function runRepl(opts: ReplOptions): Promise<number> {
  const output = opts.output ?? process.stdout;
  const print = (s: string) => void output.write(s + "\n");
  const session = new ReplSession(opts, print);
  const histFile = opts.historyFile ?? historyPath();
  const history = loadHistory(histFile);
  await session.loadIndex();
  // Mirrors named with -m that cannot be opened end the session before it starts, as every
  // other command does with them.
  if (opts.mirror?.length && session.loadError) throw session.loadError;
  const rl = readline.createInterface({
    input: opts.input ?? process.stdin,
    output,
    terminal: true,
    history,
    historySize: 1000,
    prompt: "spackle> ",
    completer: (line: string) => session.complete(line),
  } as readline.ReadLineOptions);
  // Older runtimes ignore the `history` option: fill it in.
  const h = (rl as unknown as { history?: string[] }).history;
  if (h && h.length === 0 && history.length) h.push(...history);
  const m = opts.mirror?.length ? opts.mirror.join(", ") : "configured mirrors";
  print(`spackle repl on ${m}: ${session.names.length} packages. "help" lists commands.`);
  let closed = false;
  opts.signal?.addEventListener("abort", () => rl.close(), { once: true });
  rl.on("SIGINT", () => {
    if (session.cancel()) return;
    output.write("^C\n");
    rl.write(null, { ctrl: true, name: "u" });
    rl.prompt();
  });
  rl.on("close", () => (closed = true));
  // A terminal that went away (EIO from setRawMode or a read) ends the session, not the process
  // in an unhandled error that leaves it spinning.
  const input = opts.input ?? process.stdin;
  let lost = false;
  const gone = () => {
    if (lost) return; // closing on a lost terminal fails again: once is enough
    lost = closed = true;
    wake?.();
  };
  input.on("error", gone);
  (rl as unknown as { on(e: "error", f: () => void): void }).on("error", gone);
  const lines: string[] = [];
  let wake: (() => void) | undefined;
  rl.on("line", (l) => {
    lines.push(l);
    wake?.();
  });
  rl.on("close", () => wake?.());
  rl.prompt();
  while (true) {
    if (lines.length === 0) {
      if (closed) break;
      await new Promise<void>((r) => (wake = r));
      wake = undefined;
      continue;
    }
    const l = lines.shift()!;
    if (l.trim()) {
      try {
        mkdirSync(dirname(histFile), { recursive: true });
        appendFileSync(histFile, l.trim() + "\n");
      } catch { /* history is optional */ }
    }
    const code = await session.line(l);
    if (code === undefined) break;
    if (closed) break;
    rl.prompt();
  }
  if (!lost) rl.close();
  // Let go of the terminal: one that went away would otherwise keep the event loop polling it.
  if (!opts.input) process.stdin.destroy();
  print("");
  return 0;
}
