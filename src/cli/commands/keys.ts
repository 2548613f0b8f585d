/** `keys list|fetch|trust|untrust|remove|create|export`: the keyring and the keys mirrors publish. */
import { Option } from "commander";
import type { Command } from "commander";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import process from "node:process";
import { errorMessage, UsageError } from "../../errors.ts";
import type { KeyInfo, Keyring, KeyType } from "../../../mod.ts";
import { type ActFn, type Ctx, EXIT, group, type Register } from "../context.ts";
import { addMirrorOptions, openCliMirrors } from "../mirror_options.ts";
import { type Output, table } from "../output.ts";
import { promptHidden, promptYesNo } from "../prompt.ts";

interface KeyringOpts {
  keyring?: string;
}

/**
 * The variable holding a signing key's passphrase (the library's `PASSPHRASE_ENV`, spelled out
 * here so that the command definitions load without the library; a test keeps them equal).
 */
export const PASSPHRASE_ENV = "SPACKLE_SIGNING_PASSPHRASE";

/** The keyring the `--keyring` option of the group (or of the verb) names. */
async function keyringOf(cmd: Command): Promise<Keyring> {
  const o = cmd.optsWithGlobals() as KeyringOpts;
  const { Keyring, defaultKeyringDir } = await import("../../../mod.ts");
  return Keyring.open(defaultKeyringDir(o.keyring));
}

/**
 * A user id as shown: anything but printable ASCII is spelled out (`\u{430}`), so that a
 * look-alike (a Cyrillic "а" for a Latin "a", invisible or right-to-left characters) shows.
 */
export function displayUserId(uid: string): string {
  let out = "";
  for (const ch of uid) {
    const c = ch.codePointAt(0)!;
    out += c >= 0x20 && c < 0x7f && ch !== "\\" ? ch : `\\u{${c.toString(16)}}`;
  }
  return out;
}

/** The fingerprint in groups of four, as GnuPG prints it. */
function groupedFingerprint(fpr: string): string {
  return fpr.replace(/(.{4})(?!$)/g, "$1 ");
}

function printKeys(out: Output, keys: (KeyInfo & { mirror?: string; trusted?: boolean })[]) {
  if (keys.length === 0) return;
  const rows = [["FINGERPRINT", "ALGORITHM", "CREATED", "EXPIRES", "USER ID"]];
  for (const k of keys) {
    const flags = [k.revoked ? "revoked" : "", k.secret ? "secret" : ""]
      .concat(k.trusted === undefined ? [] : [k.trusted ? "trusted" : "not trusted"])
      .filter(Boolean);
    rows.push([
      k.fingerprint,
      k.algorithm,
      k.created.slice(0, 10),
      k.expires ? k.expires.slice(0, 10) : "never",
      k.userIds.map(displayUserId).join(", ") + (flags.length ? ` [${flags.join(", ")}]` : ""),
    ]);
  }
  for (const line of table(rows)) out.out(line);
}

async function readKeyFile(file: string): Promise<string> {
  try {
    if (file === "-") {
      const chunks: Uint8Array[] = [];
      for await (const c of process.stdin) chunks.push(c as Uint8Array);
      return new TextDecoder().decode(Buffer.concat(chunks));
    }
    return await readFile(file, "utf8");
  } catch (e) {
    throw new UsageError(`Cannot read key file "${file}": ${errorMessage(e)}`, { cause: e });
  }
}

/** The passphrase protecting a new key: the environment, else asked twice on a terminal. */
async function newPassphrase(): Promise<string> {
  const env = process.env[PASSPHRASE_ENV];
  if (env) return env;
  const a = await promptHidden("Passphrase for the new key: ");
  if (a === undefined) {
    throw new UsageError(`--protect needs ${PASSPHRASE_ENV} or a terminal to ask on`);
  }
  if (a === "") throw new UsageError("An empty passphrase protects nothing");
  if ((await promptHidden("Repeat the passphrase: ")) !== a) {
    throw new UsageError("The passphrases differ");
  }
  return a;
}

/** The public keys the mirrors publish, with their facts and whether the keyring trusts them. */
async function mirrorKeys(ctx: Ctx, opts: { mirror?: string[] }, kr: Keyring) {
  const { mirrors } = await openCliMirrors(
    { mirror: opts.mirror, allowUnsigned: true },
    ctx.globals,
    ctx.signal,
    ctx.out,
  );
  const { publishedKeys } = await import("../../../mod.ts");
  return await publishedKeys(mirrors, kr, {
    signal: ctx.signal,
    onWarning: (m) => ctx.out.warn(m),
  });
}

/**
 * The published keys to trust: those named by `--fingerprint` (each must be published), else
 * all with `--yes`, else those confirmed one by one on the terminal (a UsageError without one).
 */
async function chooseKeys<T extends KeyInfo & { mirror: string }>(
  ctx: Ctx,
  found: T[],
  wanted: string[],
  yes: boolean,
): Promise<T[]> {
  if (wanted.length) {
    for (const w of wanted) {
      if (!found.some((k) => k.fingerprint === w)) {
        throw new UsageError(
          `The mirror does not publish the key ${w} (it publishes ${
            found.map((k) => k.fingerprint).join(", ")
          })`,
        );
      }
    }
    return found.filter((k) => wanted.includes(k.fingerprint));
  }
  if (yes) return found;
  const chosen: T[] = [];
  for (const k of found) {
    if (k.revoked) ctx.out.warn(`the key ${k.fingerprint} is revoked`);
    process.stderr.write(
      `\nKey published by "${k.mirror}":\n  fingerprint: ${groupedFingerprint(k.fingerprint)}\n` +
        k.userIds.map((u) => `  user id:     ${displayUserId(u)}\n`).join("") +
        `  created:     ${k.created.slice(0, 10)}, ${k.algorithm}\n`,
    );
    const ok = await promptYesNo("Trust this key for signatures on build caches?");
    if (ok === undefined) {
      throw new UsageError(
        "keys fetch --trust asks before trusting each key, and there is no terminal to ask on: " +
          "check the fingerprints (keys fetch -m MIRROR) and give --fingerprint FPR for each, " +
          "or --yes to trust every key the mirror publishes",
      );
    }
    if (ok) chosen.push(k);
  }
  return chosen;
}

function mirrorOption(cmd: Command): Command {
  return addMirrorOptions(cmd, { signatures: false });
}

const register: Register = (program, act) => {
  const keys = group(program, "keys", "manage trusted keys and the keys mirrors publish");
  if (!keys.options.some((o) => o.long === "--keyring")) {
    keys.addOption(
      new Option(
        "--keyring <dir>",
        "keyring directory (default: SPACKLE_KEYRING, else $XDG_CONFIG_HOME/spackle/keyring " +
          "or ~/.config/spackle/keyring)",
      ),
    );
  }
  keys.addHelpText(
    "after",
    "\nThe keyring is a directory of armored public keys, one file <FINGERPRINT>.asc per key;" +
      "\nsecret keys made by `keys create` live in its secret/ subdirectory (mode 0600).",
  );
  listVerb(keys, act);
  trustVerb(keys, act);
  untrustVerb(keys, act);
  createVerb(keys, act);
  exportVerb(keys, act);
  fetchVerb(keys, act);
};
export default register;

/** `keys list`: the trusted keys, or the keys a mirror publishes. */
function listVerb(keys: Command, act: ActFn): void {
  mirrorOption(
    keys.command("list")
      .description("list the trusted keys, or with -m the keys a mirror publishes"),
  )
    .addHelpText(
      "after",
      "\nExamples:\n  spackle keys list\n  spackle keys list --json\n" +
        "  spackle keys list -m https://binaries.spack.io/develop",
    )
    .action(act(async (ctx: Ctx, opts: { mirror?: string[] }, cmd: Command) => {
      const kr = await keyringOf(cmd);
      if (opts.mirror?.length) {
        const found = await mirrorKeys(ctx, opts, kr);
        if (ctx.out.json) {
          ctx.out.data({ keys: found.map(({ armored: _a, ...k }) => k) });
          return;
        }
        if (found.length === 0) ctx.out.info("The mirror publishes no keys");
        printKeys(ctx.out, found);
        return;
      }
      const list = await kr.list();
      if (ctx.out.json) {
        ctx.out.data({ keyring: kr.dir, keys: list });
        return;
      }
      if (list.length === 0) ctx.out.info(`No trusted keys in "${kr.dir}"`);
      printKeys(ctx.out, list);
    }));
}

/** `keys trust FILE...`. */
function trustVerb(keys: Command, act: ActFn): void {
  keys.command("trust")
    .description("trust the public keys in armored key files (- reads standard input)")
    .argument("<file...>", "armored public key files")
    .addHelpText(
      "after",
      "\nExamples:\n  spackle keys trust ./e4s.pub\n  curl -s URL | spackle keys trust -",
    )
    .action(act(async (ctx: Ctx, files: string[], _opts: unknown, cmd: Command) => {
      const kr = await keyringOf(cmd);
      const done: string[] = [];
      for (const f of files) {
        const text = await readKeyFile(f);
        for (const fpr of await kr.trust(text, { label: `"${f}"` })) {
          done.push(fpr);
          ctx.out.info(`Trusted ${fpr} (from "${f}")`);
        }
      }
      for (const k of await kr.list()) {
        if (!done.includes(k.fingerprint)) continue;
        if (k.revoked) {
          ctx.out.warn(`The key ${k.fingerprint} is revoked: its signatures are refused`);
        }
        if (k.expires && Date.parse(k.expires) <= Date.now()) {
          ctx.out.warn(
            `The key ${k.fingerprint} expired on ${k.expires}: its signatures are refused`,
          );
        }
      }
      if (ctx.out.json) ctx.out.data({ keyring: kr.dir, trusted: done });
    }));
}

/** `keys untrust FINGERPRINT...`. */
function untrustVerb(keys: Command, act: ActFn): void {
  keys.command("untrust")
    .alias("remove")
    .description("stop trusting a key (fingerprint, or a unique suffix such as the key id)")
    .argument("<fingerprint>", "fingerprint or key id")
    .option("--secret", "also delete its secret key from the keyring", false)
    .addHelpText(
      "after",
      "\nExamples:\n  spackle keys untrust 4D782899AF51B814967AC6DE6EE87675E657CA38\n" +
        "  spackle keys remove 6EE87675E657CA38",
    )
    .action(act(async (ctx: Ctx, fpr: string, opts: { secret: boolean }, cmd: Command) => {
      const kr = await keyringOf(cmd);
      const removed = await kr.untrust(fpr, { secret: opts.secret });
      if (ctx.out.json) ctx.out.data({ keyring: kr.dir, removed });
      else ctx.out.info(`No longer trusted: ${removed}`);
    }));
}

/** `keys create`: a new signing key. */
function createVerb(keys: Command, act: ActFn): void {
  keys.command("create")
    .description(
      "create a signing key (OpenPGP v4, GnuPG 2.2 imports it) and keep it in the keyring",
    )
    .requiredOption("--name <name>", "the key owner's name")
    .requiredOption("--email <email>", "the key owner's email address")
    .addOption(
      new Option("--type <type>", "key algorithm").choices(["ed25519", "rsa4096"]).default(
        "ed25519",
      ),
    )
    .option("--export <file>", "also write the armored public key to this file")
    .option(
      "--secret-out <file>",
      "also write the armored secret key to this new file (mode 0600; see --force)",
    )
    .option("--force", "replace an existing --secret-out file (atomically)", false)
    .option("--no-trust", "do not keep the key in the keyring (needs --secret-out)")
    .option(
      "--protect",
      `protect the secret key with a passphrase (${PASSPHRASE_ENV}, else asked on the terminal)`,
      false,
    )
    .addHelpText(
      "after",
      `\nThe secret key is protected with ${PASSPHRASE_ENV} when that is set or with --protect,` +
        "\nelse unprotected (as `spack gpg create`)." +
        '\n\nExamples:\n  spackle keys create --name "CI signer" --email ci@example.org' +
        "\n  spackle keys create --name CI --email ci@example.org --type rsa4096 --export ci.pub" +
        "\n  spackle keys create --name CI --email ci@example.org --no-trust --secret-out ci.sec",
    )
    .action(act(async (
      ctx: Ctx,
      opts: {
        name: string;
        email: string;
        type: string;
        export?: string;
        secretOut?: string;
        trust: boolean;
        protect: boolean;
        force: boolean;
      },
      cmd: Command,
    ) => {
      if (!opts.trust && !opts.secretOut) {
        throw new UsageError("--no-trust keeps nothing: give --secret-out FILE to save the key");
      }
      const passphrase = opts.protect
        ? await newPassphrase()
        : process.env[PASSPHRASE_ENV] || undefined;
      if (opts.type === "rsa4096") ctx.out.info("Creating an RSA 4096 key (a few seconds)...");
      const { createKey, writeNewFile } = await import("../../../mod.ts");
      const key = await createKey({
        name: opts.name,
        email: opts.email,
        type: opts.type as KeyType,
        passphrase,
      });
      const kr = await keyringOf(cmd);
      // The secret-key file first: when it cannot be written, nothing else is.
      if (opts.secretOut) {
        await writeNewFile(opts.secretOut, key.secretKeyArmored, {
          mode: 0o600,
          replace: opts.force,
        });
      }
      if (opts.trust) await kr.addSecret(key.secretKeyArmored);
      if (opts.export) await writeFile(opts.export, key.publicKeyArmored);
      if (ctx.out.json) {
        ctx.out.data({
          fingerprint: key.fingerprint,
          type: opts.type,
          protected: passphrase !== undefined,
          keyring: opts.trust ? kr.dir : null,
          export: opts.export ?? null,
          secretOut: opts.secretOut ?? null,
        });
        return;
      }
      ctx.out.out(key.fingerprint);
      if (opts.trust) ctx.out.info(`Kept in the keyring "${kr.dir}" (secret key and trusted)`);
      if (opts.export) ctx.out.info(`Public key written to "${opts.export}"`);
      if (opts.secretOut) ctx.out.info(`Secret key written to "${opts.secretOut}"`);
    }));
}

/** `keys export`: armored public (or secret) keys. */
function exportVerb(keys: Command, act: ActFn): void {
  keys.command("export")
    .description("print a key of the keyring, armored (public unless --secret)")
    .argument("<fingerprint>", "fingerprint or key id")
    .option("--secret", "export the secret key (keys made by `keys create`)", false)
    .option(
      "-o, --output <file>",
      "write to this new file instead of standard output (a secret key: mode 0600)",
    )
    .option("--force", "replace an existing --output file (atomically)", false)
    .addHelpText(
      "after",
      "\nExamples:\n  spackle keys export 6EE87675E657CA38 > signer.pub\n" +
        "  spackle keys export 6EE87675E657CA38 --secret -o signer.sec",
    )
    .action(act(async (
      ctx: Ctx,
      fpr: string,
      opts: { secret: boolean; output?: string; force: boolean },
      cmd: Command,
    ) => {
      const kr = await keyringOf(cmd);
      const text = opts.secret ? await kr.secretKey(fpr) : await kr.publicKey(fpr);
      if (opts.output) {
        const { writeNewFile } = await import("../../../mod.ts");
        await writeNewFile(opts.output, text, {
          mode: opts.secret ? 0o600 : 0o644,
          replace: opts.force,
        });
        ctx.out.info(`Written to "${opts.output}"`);
      } else if (ctx.out.json) {
        ctx.out.data({ fingerprint: fpr, secret: opts.secret, armored: text });
      } else {
        ctx.out.out(text.replace(/\n$/, ""));
      }
    }));
}

/** `keys fetch -m MIRROR`: the public keys a mirror publishes. */
function fetchVerb(keys: Command, act: ActFn): void {
  mirrorOption(
    keys.command("fetch")
      .description(
        "get the public keys a mirror publishes: print them, save them (-o), or trust them (--trust)",
      ),
  )
    .option(
      "--trust",
      "add the mirror's keys to the keyring: each is shown and asked for on a terminal; " +
        "else --fingerprint or --yes is needed",
      false,
    )
    .option(
      "--fingerprint <fpr>",
      "with --trust: trust only this key (its full 40-digit fingerprint; repeatable)",
      (v: string, p?: string[]) => [...(p ?? []), v],
    )
    .option("-y, --yes", "with --trust: trust every key the mirror publishes, unasked", false)
    .option("-o, --output <dir>", "save each key as <dir>/<FINGERPRINT>.pub")
    .addHelpText(
      "after",
      "\nKeys are never trusted without --trust: check their fingerprints first. A mirror can" +
        "\npublish any key; user ids are shown with non-ASCII characters spelled out (\\u{...})." +
        "\n\nExamples:\n  spackle keys fetch -m https://binaries.spack.io/develop" +
        "\n  spackle keys fetch -m ./mirror -o ./keys\n  spackle keys fetch -m ./mirror --trust" +
        "\n  spackle keys fetch -m ./mirror --trust --fingerprint 4D782899AF51B814967AC6DE6EE87675E657CA38",
    )
    .action(act(async (
      ctx: Ctx,
      opts: {
        mirror?: string[];
        trust: boolean;
        output?: string;
        fingerprint?: string[];
        yes: boolean;
      },
      cmd: Command,
    ) => {
      if (!opts.mirror?.length) throw new UsageError("keys fetch needs -m/--mirror MIRROR");
      if (!opts.trust && (opts.fingerprint?.length || opts.yes)) {
        throw new UsageError("--fingerprint and --yes go with --trust");
      }
      const { normaliseFingerprint } = await import("../../../mod.ts");
      const wanted = (opts.fingerprint ?? []).map((f) => {
        const n = normaliseFingerprint(f);
        if (n.length !== 40) {
          throw new UsageError(
            `--fingerprint "${f}": give the full 40-digit fingerprint (a key id can be forged)`,
          );
        }
        return n;
      });
      const kr = await keyringOf(cmd);
      const found = await mirrorKeys(ctx, opts, kr);
      if (found.length === 0) {
        ctx.out.warn("The mirror publishes no keys");
        if (ctx.out.json) ctx.out.data({ keys: [] });
        return EXIT.failure;
      }
      const saved: string[] = [];
      if (opts.output) {
        await mkdir(opts.output, { recursive: true });
        for (const k of found) {
          const p = join(opts.output, `${k.fingerprint}.pub`);
          await writeFile(p, k.armored);
          saved.push(p);
          ctx.out.info(`Saved ${k.fingerprint} to "${p}"`);
        }
      }
      const trusted = new Set<string>();
      if (opts.trust) {
        for (const k of await chooseKeys(ctx, found, wanted, opts.yes)) {
          await kr.trust(k.armored, { label: `key ${k.fingerprint} of "${k.mirror}"` });
          trusted.add(k.fingerprint);
          ctx.out.info(
            `Trusted ${k.fingerprint} (${
              k.userIds.map(displayUserId).join(", ")
            }) from "${k.mirror}"`,
          );
        }
      }
      if (ctx.out.json) {
        ctx.out.data({
          keys: found.map((k) => ({ ...k, trusted: k.trusted || trusted.has(k.fingerprint) })),
          saved,
        });
      } else if (!opts.trust && !opts.output) {
        for (const k of found) {
          ctx.out.out(
            `# ${k.fingerprint} ${k.userIds.map(displayUserId).join(", ")} (from ${k.mirror})`,
          );
          ctx.out.out(k.armored.replace(/\n$/, ""));
        }
      }
    }));
}
