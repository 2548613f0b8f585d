/** `keys publish`: puts public keys into a v3 mirror. */
import { readFile } from "node:fs/promises";
import { group, type Register } from "../context.ts";
import { UsageError } from "../../errors.ts";
import { pruneWait, writableStore } from "../push_options.ts";

const register: Register = (program, act) => {
  group(program, "keys", "the keyring and the keys mirrors publish")
    .command("publish")
    .description("publish an armored public key to a v3 mirror and rebuild its key index")
    .argument("<mirror>", "mirror path or URL to write")
    .argument("<keyfile>", "armored public (or secret: only its public part is published) key")
    .addHelpText("after", "\nExamples:\n  spackle keys publish ./mirror site.pub.asc")
    .action(act(async ({ out, globals, signal }, mirror: string, keyfile: string) => {
      let armored: string;
      try {
        armored = await readFile(keyfile, "utf8");
      } catch (e) {
        throw new UsageError(`Cannot read the key file "${keyfile}": ${(e as Error).message}`);
      }
      const { readArmoredKeys } = await import("../../../mod.ts");
      const keys = await readArmoredKeys(armored, `the key file "${keyfile}"`);
      if (keys.length !== 1) {
        throw new UsageError(`The key file "${keyfile}" holds ${keys.length} keys: give one`);
      }
      const key = keys[0].toPublic();
      const fpr = key.getFingerprint().toUpperCase();
      const { V3Writer } = await import("../../../mod.ts");
      const writer = new V3Writer(await writableStore(mirror, globals, out), {
        onPruneWait: pruneWait(out),
      });
      await writer.publishKey(fpr, key.armor(), signal);
      const all = await writer.writeKeyIndex(signal);
      if (out.json) out.data({ fingerprint: fpr, keys: all });
      else out.info(`published ${fpr} (${all.length} keys in the key index)`);
    }));
};
export default register;
