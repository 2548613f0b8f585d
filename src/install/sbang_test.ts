import assert from "node:assert/strict";
import { filterShebang, SHEBANG_LIMIT } from "./sbang.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const SB = "/r/bin/sbang";

Deno.test("filterShebang() leaves short shebangs and files without one alone", () => {
  assert.equal(filterShebang(enc.encode("#!/bin/sh\necho hi\n"), SB), undefined);
  assert.equal(filterShebang(enc.encode("echo " + "x".repeat(200)), SB), undefined);
  const exact = "#!/bin/sh " + "a".repeat(SHEBANG_LIMIT - 11) + "\n";
  assert.equal(enc.encode(exact).byteLength, SHEBANG_LIMIT);
  assert.equal(filterShebang(enc.encode(exact + "body\n"), SB), undefined);
});

Deno.test("filterShebang() puts sbang first and keeps a long shebang as the second line", () => {
  const long = "#!/" + "p".repeat(150) + "/bin/python3 -u\n";
  const out = dec.decode(filterShebang(enc.encode(long + "print(1)\n"), SB)!);
  assert.equal(out, `#!/bin/sh ${SB}\n${long}print(1)\n`);
});

Deno.test("filterShebang() uses the comment forms of lua, node and php", () => {
  const p = "/" + "q".repeat(150);
  assert.match(dec.decode(filterShebang(enc.encode(`#!${p}/lua\nx\n`), SB)!), /\n--!.*\/lua\nx\n$/);
  assert.match(
    dec.decode(filterShebang(enc.encode(`#!${p}/node\nx\n`), SB)!),
    /\n\/\/!.*\/node\nx\n$/,
  );
  assert.match(
    dec.decode(filterShebang(enc.encode(`#!${p}/php\nx\n`), SB)!),
    /\n<\?php #!.*\/php\n \?>x\n$/,
  );
});

Deno.test("filterShebang() skips a shebang with no end of line within 4096 bytes", () => {
  assert.equal(filterShebang(enc.encode("#!/" + "z".repeat(5000)), SB), undefined);
});
