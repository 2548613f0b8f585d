import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { base32Encode } from "./base32.ts";

const enc = (s: string, pad = false) => base32Encode(new TextEncoder().encode(s), pad);

Deno.test("base32Encode matches the RFC 4648 test vectors, lowercase", () => {
  assert.equal(enc(""), "");
  assert.equal(enc("f", true), "my======");
  assert.equal(enc("fo", true), "mzxq====");
  assert.equal(enc("foo", true), "mzxw6===");
  assert.equal(enc("foob", true), "mzxw6yq=");
  assert.equal(enc("fooba", true), "mzxw6ytb");
  assert.equal(enc("foobar", true), "mzxw6ytboi======");
  assert.equal(enc("foobar"), "mzxw6ytboi");
});

Deno.test("base32Encode of a SHA-1 digest gives Python's b32encode(...).lower()", () => {
  // CPython: base64.b32encode(hashlib.sha1(b"abc").digest()).decode().lower()
  const d = new Uint8Array(createHash("sha1").update("abc").digest());
  assert.equal(base32Encode(d), "vgmt4nsha2awvor6evyxqugcnsonbwe5");
});
