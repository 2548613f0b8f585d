import { strict as assert } from "node:assert";
import { pyJsonDumps } from "../core/json.ts";
import { DbSpecText } from "./types.ts";

Deno.test("DbSpecText keeps the dict's compact text and reads its dependencies' hashes from it", () => {
  const dict = {
    name: "app",
    version: "1.0",
    dependencies: [
      { name: "zlib", hash: "aaaa", parameters: { deptypes: ["link"] } },
      { name: "odd", hash: 7 },
      null,
    ],
    hash: "bbbb",
  };
  const r = new DbSpecText(dict);
  assert.equal(r.text, pyJsonDumps(dict));
  assert.deepEqual(r.dependencies, [{ hash: "aaaa" }, { hash: undefined }, { hash: undefined }]);
  // Written as it is by a compact dump; as the dict by JSON.stringify.
  assert.equal(pyJsonDumps({ spec: r }), `{"spec":${pyJsonDumps(dict)}}`);
  assert.deepEqual(JSON.parse(JSON.stringify({ spec: r })).spec, dict);
  assert.equal(new DbSpecText({ name: "leaf", hash: "cccc" }).dependencies, undefined);
});
