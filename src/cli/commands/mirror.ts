/**
 * `mirror add|list|remove`: configured mirrors (spackle's config file, plus Spack's
 * mirrors.yaml scopes), and the resolver that turns configured names given to `-m` into URLs.
 */
import { existsSync } from "node:fs";
import process from "node:process";
import { Option } from "commander";
import type { Command } from "commander";
import type { Register } from "../context.ts";
import { type ConfigFlags, installResolver, loadMirrors } from "../mirror_options.ts";
import { table } from "../output.ts";

/** True when `s` is a bare name (not a URL, not a path), as `-m` tells them apart. */
function isBareName(s: string): boolean {
  return !/^[a-z][a-z0-9+.-]*:\/\//i.test(s) && !s.includes("/") && !s.startsWith(".") &&
    !existsSync(s);
}

/** The option a setting fills, per command (`install --root` only: push's --root differs). */
function applySettings(
  cmd: Command,
  s: { installRoot?: string; keyring?: string; jobs?: number },
): void {
  const fill = (key: string, value: unknown) => {
    if (value === undefined) return;
    const src = cmd.getOptionValueSource(key);
    if (src === undefined || src === "default") cmd.setOptionValueWithSource(key, value, "config");
  };
  const has = (long: string) => cmd.options.some((o) => o.long === long);
  if (cmd.name() === "install" && has("--root")) fill("root", s.installRoot);
  if (has("--keyring")) fill("keyring", s.keyring);
  if (has("--jobs")) fill("jobs", s.jobs);
  for (const sub of cmd.commands as Command[]) applySettings(sub, s);
}

/**
 * What the mirror configuration adds to the program itself, whatever command runs: the
 * `--mirrors-file` option, spackle's settings filling the options a command line leaves unset,
 * and the resolver of configured mirror names (with the `signed: false` rule).
 */
export function mirrorSettings(program: Command): void {
  program.addOption(
    new Option("--mirrors-file <file>", "also read this Spack mirrors.yaml (highest precedence)")
      .env("SPACKLE_MIRRORS_FILE"),
  );
  // spackle's settings (config file, SPACKLE_ROOT, SPACKLE_JOBS, ...) fill the options a
  // command line leaves unset, once the global options (--config) are known.
  program.hook("preSubcommand", async (root, sub) => {
    const g = root.opts() as ConfigFlags & { caFile?: string };
    const c = await import("../../../mod.ts");
    const s = await c.loadSettings(c.configPath(g.config));
    applySettings(sub as Command, s);
    if (s.caFile && root.getOptionValueSource("caFile") === undefined) {
      root.setOptionValueWithSource("caFile", s.caFile, "config");
    }
    for (const k of ["connectTimeout", "readTimeout"] as const) {
      if (s[k] !== undefined && root.getOptionValueSource(k) === undefined) {
        root.setOptionValueWithSource(k, s[k], "config");
      }
    }
    if (s.proxy && !process.env.HTTPS_PROXY && !process.env.https_proxy) {
      process.env.HTTPS_PROXY = s.proxy;
    }
  });
  program.hook("preAction", async (_cmd, action) => {
    const g = action.optsWithGlobals() as ConfigFlags;
    const load = installResolver({ config: g.config, mirrorsFile: g.mirrorsFile });
    // As in Spack, mirrors configured with `signed: false` are read without signatures: when
    // every -m names such a mirror, --allow-unsigned is implied.
    // Without -m the configured mirrors are used: the same rule applies to them.
    // sync names its source as its first argument.
    const sync = action.name() === "sync";
    // bundle's -m takes one mirror (a string), the others' a list.
    const m = action.getOptionValue("mirror") as string | string[] | undefined;
    const given = sync ? action.args.slice(0, 1) : m === undefined ? undefined : [m].flat();
    if (
      action.options.some((o) => o.long === "--allow-unsigned") &&
      (sync || action.options.some((o) => o.long === "--mirror")) &&
      !action.getOptionValue("allowUnsigned") &&
      (given?.length ? given.every(isBareName) : true)
    ) {
      const { mirrors } = await load();
      const names = given?.length ? given : mirrors.map((m) => m.name);
      if (
        names.length &&
        names.every((n) => mirrors.find((m) => m.name === n)?.signed === false)
      ) {
        action.setOptionValueWithSource("allowUnsigned", true, "config");
      }
    }
  });
}

const register: Register = (program, act) => {
  const mirror = program
    .command("mirror")
    .description(
      "configured mirrors: spackle's config file and Spack's mirrors.yaml (user, site, system)",
    );

  mirror
    .command("list")
    .description("list configured mirrors, spackle's first, then Spack's scopes")
    .option("--names", "print only the names (one a line)")
    .addHelpText(
      "after",
      "\nExamples:\n  spackle mirror list\n  spackle mirror list --names\n" +
        "  spackle --mirrors-file ./mirrors.yaml --json mirror list",
    )
    .action(act(async ({ out, globals }, o: { names?: boolean }, cmd: Command) => {
      const g = cmd.optsWithGlobals() as ConfigFlags;
      const { settings, mirrors } = await loadMirrors({ ...globals, ...g });
      if (out.json) {
        out.data({ config: settings.path, mirrors });
        return;
      }
      if (o.names) {
        for (const m of mirrors) out.out(m.name);
        return;
      }
      if (mirrors.length === 0) {
        out.info(`no mirrors configured (config file: ${settings.path})`);
        return;
      }
      const rows = [["NAME", "SCOPE", "SIGNED", "URL"]];
      for (const m of mirrors) {
        const url = m.push.url === m.fetch.url
          ? m.fetch.url
          : `${m.fetch.url} (push: ${m.push.url})`;
        rows.push([m.name, m.scope, m.signed ? "yes" : "no", url]);
      }
      for (const l of table(rows)) out.out(l);
    }));

  mirror
    .command("add")
    .description("add a mirror to spackle's config file (comments in the file are kept)")
    .argument("<name>", "the mirror's name, used with -m NAME")
    .argument("<url>", "path or URL (file://, https://, s3://); paths are stored absolute")
    .option("--unsigned", "do not require signatures from this mirror (signed: false)")
    .option("--view <name>", "read this index view")
    .option("--push-url <url>", "push to this URL instead")
    .option("--profile <name>", "AWS profile for s3:// mirrors")
    .option("--endpoint-url <url>", "S3-compatible endpoint for s3:// mirrors")
    .option("--region <region>", "region for s3:// mirrors")
    .option("--replace", "replace a mirror of the same name")
    .addHelpText(
      "after",
      "\nExamples:\n  spackle mirror add site https://cache.example.org/spack\n" +
        "  spackle mirror add local ./mirror --unsigned\n" +
        "  spackle mirror add s3cache s3://bucket/spack --endpoint-url https://minio.example.org",
    )
    .action(act(async ({ out }, name: string, url: string, o, cmd: Command) => {
      const g = cmd.optsWithGlobals() as ConfigFlags;
      const c = await import("../../../mod.ts");
      const path = c.configPath(g.config);
      const m = await c.addMirror(path, name, url, {
        signed: o.unsigned ? false : undefined,
        view: o.view,
        push: o.pushUrl,
        profile: o.profile,
        endpoint_url: o.endpointUrl,
        region: o.region,
      }, { replace: !!o.replace });
      if (out.json) out.data({ config: path, mirror: m });
      else out.info(`added mirror "${name}" (${m.fetch.url}) to ${path}`);
    }));

  mirror
    .command("remove")
    .alias("rm")
    .description("remove a mirror from spackle's config file")
    .argument("<name>", "the mirror's name")
    .addHelpText("after", "\nExamples:\n  spackle mirror remove site")
    .action(act(async ({ out }, name: string, _o, cmd: Command) => {
      const g = cmd.optsWithGlobals() as ConfigFlags;
      const c = await import("../../../mod.ts");
      const path = c.configPath(g.config);
      await c.removeMirror(path, name);
      if (out.json) out.data({ config: path, removed: name });
      else out.info(`removed mirror "${name}" from ${path}`);
    }));

  program
    .command("config")
    .description(
      "show the settings in effect: spackle's config file, the environment, Spack's mirrors.yaml scopes",
    )
    .addHelpText("after", "\nExamples:\n  spackle config\n  spackle --json config")
    .action(act(async ({ out }, _o, cmd: Command) => {
      const g = cmd.optsWithGlobals() as ConfigFlags;
      const c = await import("../../../mod.ts");
      const settings = await c.loadSettings(c.configPath(g.config));
      const scopes = c.spackScopes({ file: g.mirrorsFile }).map((s) => ({
        ...s,
        exists: existsSync(s.path),
      }));
      const mirrors = await c.configuredMirrors(settings, { spackFile: g.mirrorsFile });
      const data = {
        config: settings.path,
        configExists: settings.exists,
        installRoot: settings.installRoot ?? null,
        keyring: settings.keyring ?? null,
        jobs: settings.jobs ?? null,
        caFile: settings.caFile ?? null,
        proxy: settings.proxy ?? null,
        connectTimeout: settings.connectTimeout ?? null,
        readTimeout: settings.readTimeout ?? null,
        spackMirrors: settings.spackMirrors,
        spackScopes: scopes,
        mirrors: mirrors.map((m) => m.name),
      };
      if (out.json) {
        out.data(data);
        return;
      }
      const rows = [
        ["config file", `${settings.path}${settings.exists ? "" : " (absent)"}`],
        ["install root", settings.installRoot ?? "-"],
        ["keyring", settings.keyring ?? "-"],
        ["jobs", settings.jobs === undefined ? "-" : String(settings.jobs)],
        ["CA file", settings.caFile ?? "-"],
        ["proxy", settings.proxy ?? "-"],
        ["connect timeout", `${settings.connectTimeout ?? 30} s`],
        ["read timeout", `${settings.readTimeout ?? 60} s`],
        ["mirrors", data.mirrors.join(", ") || "-"],
      ];
      if (settings.spackMirrors) {
        for (const s of scopes) {
          rows.push([`spack ${s.name}`, `${s.path}${s.exists ? "" : " (absent)"}`]);
        }
      }
      for (const l of table(rows)) out.out(l);
    }));
};
export default register;
