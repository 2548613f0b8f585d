import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type TarWriteEntry, writeTar } from "../../core/tar.ts";
import { extractTarball } from "../extract.ts";
import { parseBuildinfo, prefixMap } from "../relocate.ts";
import { StreamRelocation } from "./stream.ts";

const HASH = "h".repeat(32);
const P = `opt/store/linux/pkg-1.0-${HASH}`;
const NEW = "/new/root/pkg-1.0-" + HASH;
const enc = new TextEncoder();
const file = (name: string, text: string): TarWriteEntry => ({
  header: { name, type: "file", mode: 0o644 },
  body: enc.encode(text),
});
const dir = (name: string): TarWriteEntry => ({
  header: { name, type: "directory", mode: 0o755 },
});
const INFO = (textfiles: string[], extra = "") =>
  `{${extra}buildpath: /opt/store, hash_to_prefix: {${HASH}: /${P}}, ` +
  `relocate_textfiles: [${textfiles.join(", ")}]}`;

const pairsFor = (info: ReturnType<typeof parseBuildinfo>) =>
  prefixMap(info, {
    root: "/new/root",
    sbangPath: "/new/root/bin/sbang",
    specs: [{ hash: HASH, prefix: NEW }],
  });

/** Extracts with a StreamRelocation; the staged texts before settling, then after. */
async function run(members: TarWriteEntry[], names: string[]) {
  const staging = mkdtempSync(join(tmpdir(), "sp-stream-"));
  try {
    const rel = new StreamRelocation({ hash: HASH, newPrefix: NEW, pairsFor });
    const res = await extractTarball(writeTar(members), staging, { rewriter: rel });
    const read = () => names.map((n) => readFileSync(join(res.prefixDir, n), "utf8"));
    const before = read();
    const info = parseBuildinfo(
      readFileSync(join(res.prefixDir, ".spack/binary_distribution"), "utf8"),
    );
    const done = rel.settle(res.tree, res.memberPrefix, info, pairsFor(info));
    return { before, after: read(), done: [...done].sort() };
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

Deno.test("StreamRelocation relocates listed files exactly once the buildinfo has streamed", async () => {
  const sbang = "#!/usr/local/sbang\nx=/" + P + "/bin\n";
  const r = await run(
    [
      dir(P),
      dir(`${P}/.spack`),
      file(
        `${P}/.spack/binary_distribution`,
        INFO(["a", "s"], "sbang_install_path: /usr/local/sbang, "),
      ),
      file(`${P}/a`, `p=/${P}\n`),
      file(`${P}/s`, sbang),
      file(`${P}/u`, `p=/${P}\n`),
    ],
    ["a", "s", "u"],
  );
  // Rewritten while streaming (the sbang path too: the real map was known), the unlisted not.
  assert.deepEqual(r.before, [`p=${NEW}\n`, `#!/new/root/bin/sbang\nx=${NEW}/bin\n`, `p=/${P}\n`]);
  assert.deepEqual(r.after, r.before);
  assert.deepEqual(r.done, ["a", "s"]);
});

Deno.test("StreamRelocation puts back what it guessed wrong, from the staged copy", async () => {
  const text = `#!/usr/local/sbang\np=/${P}\n`;
  const r = await run(
    [
      dir(P),
      file(`${P}/a`, text),
      file(`${P}/b`, `q=/${P}/lib /${P}\n`),
      dir(`${P}/.spack`),
      file(
        `${P}/.spack/binary_distribution`,
        INFO(["a", "b"], "sbang_install_path: /usr/local/sbang, "),
      ),
    ],
    ["a", "b"],
  );
  // Guessed while streaming; the sbang path is outside /opt/: the guess cannot stand.
  assert.deepEqual(r.before, [`#!/usr/local/sbang\np=${NEW}\n`, `q=${NEW}/lib ${NEW}\n`]);
  assert.deepEqual(r.after, [text, `q=/${P}/lib /${P}\n`]);
  assert.deepEqual(r.done, []);
});

Deno.test("StreamRelocation keeps a guess that holds, for the listed files only", async () => {
  const r = await run(
    [
      dir(P),
      file(`${P}/a`, `p=/${P}\n`),
      file(`${P}/u`, `p=/${P}/x\n`),
      dir(`${P}/.spack`),
      file(`${P}/.spack/binary_distribution`, INFO(["a"])),
    ],
    ["a", "u"],
  );
  assert.deepEqual(r.before, [`p=${NEW}\n`, `p=${NEW}/x\n`]);
  assert.deepEqual(r.after, [`p=${NEW}\n`, `p=/${P}/x\n`]);
  assert.deepEqual(r.done, ["a"]);
});
