import assert from "node:assert/strict";
import { listCells, type ListRow, listTable } from "./list_table.ts";
import { table } from "./output.ts";

/** The table as `output.ts` makes it, each line trimmed: what `listTable` must give. */
function reference(rows: ListRow[], o: { long: boolean; all: boolean }): string {
  return table(rows.map((r) => listCells(r, o))).map((l) => l.trimEnd()).join("\n");
}

Deno.test("listTable gives output.ts's table, trimmed, for plain and unusual cells, in blocks", () => {
  let seed = 11;
  const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) % 2147483648) % n;
  const pick = <T>(xs: T[]): T => xs[rnd(xs.length)];
  const versions = ["1.0", "2.10.3", "=1", "develop", "1 0", "", " ", "1.0 ", "ü1", "1\t2"];
  const archs = [undefined, "linux-ubuntu22.04-x86_64_v3", "darwin-sonoma-m1", "x ", "é"];
  const compilers = [undefined, "gcc@12.3.0", "", "clang@15 ", "  ", "icc@ü"];
  const names = ["zlib", "py-numpy", "a", "x".repeat(40), "gcc-runtime"];
  const make = (n: number, plain: boolean): ListRow[] =>
    Array.from({ length: n }, (_, i) => ({
      name: pick(names) + (plain ? "" : pick(["", "", "ü"])),
      version: plain ? pick(versions.slice(0, 4)) : pick(versions),
      hash: (i.toString(32) + "abcdefghijklmnopqrstuvwxyz234567").slice(
        0,
        plain ? 32 : 1 + rnd(40),
      ),
      arch: plain ? pick(archs.slice(0, 3)) : pick(archs),
      compiler: plain ? pick(compilers.slice(0, 2)) : pick(compilers),
      inBuildcache: rnd(3) > 0,
    }));
  for (
    const o of [
      { long: false, all: false },
      { long: true, all: false },
      { long: false, all: true },
      { long: true, all: true },
    ]
  ) {
    for (const [n, plain] of [[1, true], [50, false], [4500, true], [4500, false]] as const) {
      const rows = make(n, plain);
      const got = [...listTable(rows, o)];
      assert.equal(got.length, Math.ceil(n / 2000), "a block per 2,000 lines");
      assert.equal(
        got.join("\n"),
        reference(rows, o),
        `${n} rows, plain ${plain}, ${JSON.stringify(o)}`,
      );
    }
  }
  assert.deepEqual([...listTable([], { long: false, all: false })], []);
});
