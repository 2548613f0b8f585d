import assert from "node:assert/strict";
import { InvalidDataError } from "../errors.ts";
import { clearsignedText, dashEscape, isClearsigned, splitClearsigned } from "./clearsign.ts";

function assertEquals(a: unknown, b: unknown) {
  assert.deepEqual(a, b);
}
function assertThrows(fn: () => unknown, cls: new (...a: never[]) => Error, text: string) {
  assert.throws(fn, (e) => e instanceof cls && e.message.includes(text));
}

const SIG = "-----BEGIN PGP SIGNATURE-----\n\niQEz\n=+F5L\n-----END PGP SIGNATURE-----\n";
const DOC = '-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n{\n"a":1\n}\n' + SIG;

Deno.test("isClearsigned recognises the signed-message header only at the start", () => {
  assertEquals(isClearsigned(DOC), true);
  assertEquals(isClearsigned("\ufeff" + DOC), true);
  assertEquals(isClearsigned('{"a": 1}'), false);
  assertEquals(isClearsigned("x\n" + DOC), false);
  assertEquals(isClearsigned("-----BEGIN PGP SIGNED MESSAGE-----X\n"), false);
});

Deno.test("splitClearsigned returns body, Hash headers and the signature block", () => {
  const p = splitClearsigned(DOC);
  assertEquals(p.body, '{\n"a":1\n}');
  assertEquals(p.hashes, ["SHA512"]);
  assertEquals(p.signature, SIG);
});

Deno.test("splitClearsigned accepts CRLF and removes dash-escaping", () => {
  const doc = "-----BEGIN PGP SIGNED MESSAGE-----\r\nHash: SHA256, SHA512\r\n\r\n" +
    "- -1\r\n- --- x\r\nplain\r\n" + SIG.replace(/\n/g, "\r\n");
  const p = splitClearsigned(doc);
  assertEquals(p.body, "-1\n--- x\nplain");
  assertEquals(p.hashes, ["SHA256", "SHA512"]);
  assertEquals(p.signature, SIG);
  assertEquals(clearsignedText(doc), "-1\n--- x\nplain");
});

Deno.test("splitClearsigned refuses plain, truncated and unsigned documents naming them", () => {
  assertThrows(() => splitClearsigned("{}", "x.json"), InvalidDataError, '"x.json"');
  assertThrows(
    () => splitClearsigned("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n"),
    InvalidDataError,
    "truncated",
  );
  assertThrows(
    () => splitClearsigned("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n{}\n"),
    InvalidDataError,
    "no signature",
  );
  assertThrows(
    () =>
      splitClearsigned(
        "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n{}\n-----BEGIN PGP SIGNATURE-----\n",
      ),
    InvalidDataError,
    "not terminated",
  );
  assertThrows(
    () => splitClearsigned("-----BEGIN PGP SIGNED MESSAGE-----\nbogus header\n\n{}\n" + SIG),
    InvalidDataError,
    "armor header",
  );
});

Deno.test("dashEscape prefixes lines starting with a dash and round-trips through split", () => {
  const text = "-1\nok\n---";
  assertEquals(dashEscape(text), "- -1\nok\n- ---");
  const doc = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n" + dashEscape(text) + "\n" +
    SIG;
  assertEquals(splitClearsigned(doc).body, text);
});
