/**
 * The stylesheet and the script of the web view, as text (so the single executable carries
 * them). The script only adds to pages that are complete without it: search and sort on the
 * table of specs, `/` to search.
 *
 * @module
 */

/** `assets/app.css`: light and dark from the system, narrow screens, visible focus. */
export const APP_CSS = `:root {
  color-scheme: light dark;
  --bg: #ffffff; --fg: #1b1b1b; --muted: #666666; --line: #d8d8d8; --head: #f3f4f6;
  --link: #0b57d0; --ok: #1e7b34; --warn: #9a6700; --bad: #c0392b; --box: #ffffff;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #15171a; --fg: #e6e6e6; --muted: #9aa0a6; --line: #3a3d42; --head: #1f2226;
    --link: #8ab4f8; --ok: #6cc070; --warn: #e3b341; --bad: #ff7b72; --box: #23262b;
  }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg);
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
header { border-bottom: 1px solid var(--line); padding: .5rem 1rem; }
header nav a { margin-right: 1rem; font-weight: 600; }
header nav a[aria-current="page"] { text-decoration: underline; }
main { padding: .5rem 1rem 2rem; max-width: 1400px; }
footer { color: var(--muted); padding: 1rem; font-size: .85em; }
a { color: var(--link); }
a:focus-visible, button:focus-visible, input:focus-visible, main:focus-visible, th button:focus-visible {
  outline: 3px solid var(--link); outline-offset: 2px; }
.skip { position: absolute; left: -999px; }
.skip:focus { left: 1rem; top: .5rem; background: var(--bg); padding: .25rem .5rem; }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
code { font-family: ui-monospace, "SFMono-Regular", Menlo, monospace; font-size: .92em; }
h1 { font-size: 1.5rem; word-break: break-word; }
h1 code.hash { color: var(--muted); font-weight: normal; }
.muted { color: var(--muted); }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .3rem .55rem; border-bottom: 1px solid var(--line); vertical-align: top; }
thead th { background: var(--head); position: sticky; top: 0; white-space: nowrap; }
th button { font: inherit; font-weight: 600; color: inherit; background: none; border: 0; padding: 0; cursor: pointer; }
th[aria-sort="ascending"] button::after { content: " \\25B2"; }
th[aria-sort="descending"] button::after { content: " \\25BC"; }
td.num, th.num { text-align: right; white-space: nowrap; }
tbody tr:hover { background: var(--head); }
.search { margin: .5rem 0 1rem; }
.search input { width: min(36rem, 100%); padding: .4rem .5rem; font: inherit; color: var(--fg);
  background: var(--bg); border: 1px solid var(--line); border-radius: 4px; }
.sig { font-weight: 600; white-space: nowrap; }
.sig.ok { color: var(--ok); } .sig.warn { color: var(--warn); }
.sig.bad { color: var(--bad); } .sig.none { color: var(--muted); }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; }
dl.meta dt { font-weight: 600; } dl.meta dd { margin: 0; word-break: break-all; }
code.digest, table.blobs td code { word-break: break-all; }
.client-log p { margin: .25rem 0; overflow-wrap: anywhere; }
.client-log .sig, .verify-result.sig { white-space: normal; }
#client-verify button, #live-out button, .search button { font: inherit; padding: .3rem .7rem; }
.button { display: inline-block; padding: .35rem .8rem; border: 1px solid var(--link); border-radius: 4px;
  text-decoration: none; font-weight: 600; }
.graph svg { max-width: none; }
.graph rect { fill: var(--box); }
.graph .node text { fill: var(--fg); }
.graph .node text.hash { fill: var(--muted); }
.graph .edge text.label { stroke: var(--bg); }
.graph a.node:focus-visible rect, .graph a.node:hover rect { stroke: var(--link); stroke-width: 3; }
.legend span { font-weight: 600; margin-right: .5rem; }
.l-link { color: #c0392b; } .l-run { color: #2e8b57; } .l-build { color: #2f6fb5; } .l-test { color: #8a8a8a; }
tr.k-corrupt td:first-child, tr.k-untrusted td:first-child { color: var(--bad); font-weight: 600; }
tr.k-unreachable td:first-child, tr.k-inconsistent td:first-child { color: var(--warn); font-weight: 600; }
#progress p { margin: .25rem 0; overflow-wrap: anywhere; }
.verify-result { font-weight: 600; overflow-wrap: anywhere; }
@media (max-width: 700px) {
  body { font-size: 14px; }
  main { padding: .5rem; }
  table.specs td:nth-child(3), table.specs th:nth-child(3),
  table.specs td:nth-child(6), table.specs th:nth-child(6) { display: none; }
  dl.meta { grid-template-columns: 1fr; }
  dl.meta dd { margin-bottom: .4rem; }
  table.blobs thead { display: none; }
  table.blobs tr, table.blobs th, table.blobs td { display: block; border: 0; text-align: left; }
  table.blobs tr { border-bottom: 1px solid var(--line); padding: .3rem 0; }
  table.blobs a code, table.blobs code { overflow-wrap: anywhere; }
}
`;

/** `assets/app.js`: search (with `?q=` deep links) and sortable columns on the table of specs. */
export const APP_JS = `"use strict";
(function () {
  var table = document.getElementById("specs");
  if (!table) return;
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var texts = rows.map(function (r) { return r.textContent.toLowerCase(); });
  var input = document.getElementById("q");
  var count = document.getElementById("count");
  function filter() {
    var words = input.value.toLowerCase().split(/\\s+/).filter(Boolean);
    var shown = 0;
    rows.forEach(function (r, i) {
      var ok = words.every(function (w) { return texts[i].indexOf(w) >= 0; });
      r.hidden = !ok;
      if (ok) shown++;
    });
    count.textContent = String(shown);
    var url = new URL(location.href);
    if (input.value) url.searchParams.set("q", input.value); else url.searchParams.delete("q");
    try { history.replaceState(null, "", url.href); } catch (e) { /* file:// in some browsers */ }
  }
  input.form.addEventListener("submit", function (e) { e.preventDefault(); filter(); });
  input.addEventListener("input", filter);
  var q = new URL(location.href).searchParams.get("q");
  if (q) { input.value = q; filter(); }
  document.addEventListener("keydown", function (e) {
    if (e.key === "/" && document.activeElement !== input) { e.preventDefault(); input.focus(); }
  });
  var collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });
  var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
  heads.forEach(function (th, col) {
    var b = document.createElement("button");
    b.type = "button";
    b.textContent = th.textContent;
    th.textContent = "";
    th.appendChild(b);
    b.addEventListener("click", function () {
      var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
      heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", dir > 0 ? "ascending" : "descending");
      var num = th.getAttribute("data-type") === "num";
      var key = function (r) {
        var c = r.cells[col];
        var v = c.getAttribute("data-v");
        return v === null ? c.textContent : v;
      };
      var sorted = rows.slice().sort(function (a, b) {
        var x = key(a), y = key(b);
        return dir * (num ? Number(x) - Number(y) : collator.compare(x, y));
      });
      sorted.forEach(function (r) { body.appendChild(r); });
    });
  });
})();
`;
