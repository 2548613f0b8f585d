/**
 * Keys and signatures crafted by GnuPG for the trust tests: a throw-away GnuPG home per key
 * owner, keys made at a faked time (so that they can have expired by now), signing subkeys,
 * subkey revocations with a reason, revocation certificates, and GnuPG's own verdict on a
 * signature (the reference spackle is held to).
 *
 * @module
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** True when a `gpg` binary runs. */
export const HAVE_GPG: boolean = spawnSync("gpg", ["--version"]).status === 0;

/** GnuPG's verdict on a signature, from its `--status-fd` keywords. */
export type GpgVerdict = "GOODSIG" | "EXPKEYSIG" | "REVKEYSIG" | "BADSIG" | "NO_PUBKEY" | "OTHER";

/** A GnuPG home directory; `close()` stops its agent and deletes it. */
export class GpgHome {
  readonly home: string;
  constructor() {
    this.home = mkdtempSync(join(tmpdir(), "spackle-gpg-"));
  }

  run(args: string[], opts: { input?: string; time?: number } = {}) {
    const time = opts.time === undefined ? [] : ["--faked-system-time", `${opts.time}!`];
    const r = spawnSync(
      "gpg",
      ["--batch", "--no-tty", "--pinentry-mode", "loopback", "--passphrase", "", ...time, ...args],
      {
        env: { ...Deno.env.toObject(), GNUPGHOME: this.home },
        input: opts.input,
        encoding: "utf8",
      },
    );
    return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  }

  ok(args: string[], opts: { input?: string; time?: number } = {}): string {
    const r = this.run(args, opts);
    assert.equal(r.status, 0, `gpg ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  }

  /**
   * A primary key (certify only) made at `time` (seconds), with a signing subkey that expires
   * after `subExpire` (gpg's syntax: `never`, `1d`) unless `noSubkey`, in which case the primary
   * signs and expires after `primaryExpire`. Returns the primary fingerprint.
   */
  createKey(uid: string, opts: {
    time: number;
    subExpire?: string;
    noSubkey?: boolean;
    primaryExpire?: string;
  }): string {
    const usage = opts.noSubkey ? "sign" : "cert";
    this.ok(
      ["--quick-gen-key", uid, "ed25519", usage, opts.primaryExpire ?? "never"],
      { time: opts.time },
    );
    const fpr = this.fingerprints(uid)[0];
    if (!opts.noSubkey) {
      this.ok(["--quick-add-key", fpr, "ed25519", "sign", opts.subExpire ?? "never"], {
        time: opts.time,
      });
    }
    return fpr;
  }

  /** Fingerprints of the keys matching `uid` (primary first, then subkeys). */
  fingerprints(uid: string): string[] {
    const out = this.ok(["--with-colons", "--list-keys", uid]);
    return out.split("\n").filter((l) => l.startsWith("fpr:")).map((l) => l.split(":")[9]);
  }

  /** Revokes subkey number `n` (1 = first) with a reason: 0 none, 1 superseded, 2 compromised, 3 retired. */
  revokeSubkey(fpr: string, reason: 0 | 1 | 2 | 3, n = 1) {
    this.ok(["--command-fd", "0", "--status-fd", "2", "--edit-key", fpr], {
      input: `key ${n}\nrevkey\ny\n${reason}\nrevoked by the test\n\ny\nsave\n`,
    });
  }

  /** The revocation certificate GnuPG made with the key (leading colon included, as stored). */
  revocationCertificate(fpr: string): string {
    return readFileSync(join(this.home, "openpgp-revocs.d", `${fpr}.rev`), "utf8");
  }

  exportPublic(fpr: string): string {
    return this.ok(["--armor", "--export", fpr]);
  }

  /** `gpg --clearsign` of `text` with the key `fpr` at `time` (seconds; default now). */
  clearsign(text: string, fpr: string, time?: number): string {
    const f = join(this.home, "in.txt");
    writeFileSync(f, text);
    return this.ok(["--local-user", fpr, "--clearsign", "--output", "-", f], { time });
  }

  close() {
    spawnSync("gpgconf", ["--kill", "all"], {
      env: { ...Deno.env.toObject(), GNUPGHOME: this.home },
    });
    rmSync(this.home, { recursive: true, force: true });
  }
}

/**
 * GnuPG 2.2's verdict on `doc` with `publicKeys` imported into a fresh home, and the exit
 * status of `gpg --verify` (what Spack goes by: 0 is accepted).
 */
export function gpgVerdict(
  publicKeys: string[],
  doc: string,
): { verdict: GpgVerdict; status: number } {
  const g = new GpgHome();
  try {
    for (const [i, k] of publicKeys.entries()) {
      const f = join(g.home, `k${i}.asc`);
      writeFileSync(f, k.replace(/^:-----BEGIN/m, "-----BEGIN"));
      g.ok(["--import", f]);
    }
    const f = join(g.home, "doc.asc");
    writeFileSync(f, doc);
    const r = g.run(["--status-fd", "1", "--verify", f]);
    let verdict: GpgVerdict = "OTHER";
    for (const k of ["GOODSIG", "EXPKEYSIG", "REVKEYSIG", "BADSIG", "NO_PUBKEY"] as const) {
      if (new RegExp(`^\\[GNUPG:\\] ${k} `, "m").test(r.stdout)) {
        verdict = k;
        break;
      }
    }
    return { verdict, status: r.status };
  } finally {
    g.close();
  }
}
