import assert from "node:assert/strict";
import {
  formatAge,
  renderIndex,
  renderSpec,
  type SiteData,
  type SiteSpec,
  WEB_CSP,
} from "./site.ts";

const evil = `<img src=x onerror=alert(1)>`;
const spec = (over: Partial<SiteSpec>): SiteSpec => ({
  name: "zlib",
  version: "1.3",
  hash: "a".repeat(32),
  mirror: 0,
  layout: 3,
  signature: { state: "unsigned" },
  dependencies: [],
  ...over,
});
const data = (specs: SiteSpec[]): SiteData => ({
  generated: "2026-01-10T00:00:00.000Z",
  mirrors: [{ url: "file:///m/", layouts: [3], notes: [] }],
  specs,
  keys: [],
});

Deno.test("formatAge() reads minutes, hours, days and years", () => {
  const now = 1_000_000_000;
  assert.equal(formatAge(now - 90, now), "1 min");
  assert.equal(formatAge(now - 7200, now), "2 h");
  assert.equal(formatAge(now - 3 * 86400, now), "3 d");
  assert.equal(formatAge(now - 800 * 86400, now), "2 y");
  assert.equal(formatAge(now + 50, now), "0 min");
});

Deno.test("renderIndex() shows size, signer and age, sortable by value, and escapes names", () => {
  const t = Date.parse("2026-01-07T00:00:00Z") / 1000;
  const html = renderIndex(data([
    spec({
      name: evil,
      installedAt: t,
      tarball: { path: "p", size: 2048, sha256: "0".repeat(64), mediaType: "m" },
      signature: { state: "verified", fingerprint: "4D782899AF51B814967AC6DE6EE87675E657CA38" },
    }),
    spec({ hash: "b".repeat(32), signature: { state: "unverified", error: `bad <key>` } }),
  ]));
  assert.ok(!html.includes(evil));
  assert.ok(html.includes("&#60;img src=x onerror=alert(1)&#62;"));
  assert.match(html, /<td class="num" data-v="2048">2\.0 KiB<\/td>/);
  assert.match(html, /verified 6EE87675E657CA38/);
  assert.match(html, /title="bad &#60;key&#62;">signed, not verified/);
  assert.match(html, new RegExp(`data-v="${-t}" title="2026-01-07T00:00:00.000Z">3 d</td>`));
  assert.ok(html.includes(`content="${WEB_CSP}"`));
  assert.match(WEB_CSP, /script-src 'self' 'wasm-unsafe-eval';/);
  assert.ok(!/<script>|<style>| style="| on[a-z]+="/.test(html));
});

Deno.test("renderSpec() links dependencies in the mirror, lists reverse ones, and says what is not there", () => {
  const lib = spec({ name: "lib", hash: "c".repeat(32) });
  const app = spec({
    name: "app",
    hash: "d".repeat(32),
    dependencies: [
      {
        name: "lib",
        version: "1.3",
        hash: lib.hash,
        depTypes: ["build", "link"],
        virtuals: ["api"],
      },
      { name: evil, hash: "e".repeat(32), depTypes: ["build"], virtuals: [] },
    ],
  });
  app.parameters = ["shared=True", `cflags=${evil}`];
  const d = data([lib, app]);
  const html = renderSpec(d, app);
  assert.ok(
    html.includes(
      "<code>shared=True</code> <code>cflags=&#60;img src=x onerror=alert(1)&#62;</code>",
    ),
  );
  assert.match(html, /<a href="\.\.\/spec\/c{32}\.html">lib@1\.3<\/a>/);
  assert.ok(
    html.includes(
      '&#60;img src=x onerror=alert(1)&#62; <span class="muted">(not in the mirror)</span>',
    ),
  );
  assert.match(html, /build, link<\/td><td>api<\/td>/);
  assert.match(
    renderSpec(d, lib),
    /Used by<\/h2>\n<ul class="rdeps"><li><a href="\.\.\/spec\/d{32}\.html">app@1\.3<\/a>/,
  );
  assert.match(html, /<section id="client-verify" data-hash="d{32}" hidden><\/section>/);
  assert.ok(!html.includes("assets/browser.js"), "no read-path module without a mirror root");
  assert.ok(
    renderSpec(d, app, { mirrorRoot: () => "" }).includes(
      `<script type="module" src="../assets/browser.js">`,
    ),
  );
});
