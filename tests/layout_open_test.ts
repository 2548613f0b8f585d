/**
 * `Mirror.list` with queries that name packages looks them up in a table made once; its answers
 * must be those of a scan of the whole listing, in listing order.
 */
import assert from "node:assert/strict";
import { openMirror } from "../mod.ts";
import { matchesAnyQuery, parseSpecQuery } from "../src/index/query.ts";
import { fixture, HAVE_FIXTURES } from "./_fixtures.ts";

Deno.test({
  name: "list by package names gives what a full scan gives, in listing order",
  ignore: !HAVE_FIXTURES,
  async fn() {
    for (const name of ["v3-unsigned", "v2-unsigned"]) {
      const mirror = await openMirror(fixture(name));
      const all = await mirror.list();
      const names = [...new Set(all.map((r) => r.name))];
      assert.ok(names.length >= 3, `${name} lists several packages`);
      const queries = [
        names[0],
        `${names[names.length - 1]} ${names[0]}`,
        names.join(" "),
        `${names[1]}@0:`,
        "no-such-package",
        `${names[0]} /${all[all.length - 1].hash.slice(0, 7)}`,
      ];
      for (const q of queries) {
        const want = all.filter((r) => matchesAnyQuery(r, parseSpecQuery(q)));
        assert.deepEqual(
          (await mirror.list(q)).map((r) => r.hash),
          want.map((r) => r.hash),
          `${name}: "${q}"`,
        );
      }
      const cached = all.find((r) => r.inBuildcache)!;
      assert.equal((await mirror.resolve(`${cached.name}/${cached.hash}`)).hash, cached.hash);
    }
  },
});
