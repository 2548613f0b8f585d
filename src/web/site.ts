/**
 * The pages of a mirror's web view, rendered from the library's read API: the table of specs
 * (`index.html`), a page per spec (`spec/HASH.html`: metadata, dependency graph, reverse
 * dependencies, blobs, signature status) and a page per mirror set (`mirror.html`: totals,
 * keys, verify findings). The same functions build the static report and answer `serve`.
 *
 * Everything a mirror says is untrusted: every value goes through `escapeXml`, pages carry a
 * strict Content-Security-Policy and load only `assets/app.css` and `assets/app.js` (no inline
 * script or style), and the table is complete without JavaScript.
 *
 * @module
 */
import type { Entry, EntryRef, MirrorSet } from "../layout/mod.ts";
import type { VerifyReport } from "../mirror/verify.ts";
import type { DepType } from "../spec/types.ts";
import { escapeXml as esc, specGraph, toSvg } from "./graph.ts";
import { APP_CSS, APP_JS } from "./assets.ts";

/** The Content-Security-Policy of every page (also sent as a header by `serve`). */
export const WEB_CSP =
  "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; " +
  "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/** Signature status of an entry, as shown. */
export interface SignatureStatus {
  state: "verified" | "unverified" | "unsigned";
  fingerprint?: string;
  error?: string;
}

/** A dependency edge as the pages show it. */
export interface SiteDep {
  name: string;
  version?: string;
  hash: string;
  depTypes: DepType[];
  virtuals: string[];
}

/** One spec of the site. */
export interface SiteSpec {
  name: string;
  version: string;
  hash: string;
  compiler?: string;
  platform?: string;
  os?: string;
  target?: string;
  /** Index into `SiteData.mirrors` of the mirror the entry came from. */
  mirror: number;
  /** When the index recorded it (`installation_time`, seconds since the epoch). */
  installedAt?: number;
  layout: 2 | 3;
  formatVersion?: number;
  namespace?: string;
  /** The node's parameters (variants and flags) as Spack spells them: `shared=True`, `cflags=-O2`. */
  parameters?: string[];
  signature: SignatureStatus;
  metadataPath?: string;
  tarball?: { path: string; size: number; sha256: string; mediaType: string };
  specBlob?: { path: string; size: number; sha256: string; mediaType: string };
  dependencies: SiteDep[];
  /** Set when the entry could not be read (the row is still listed, with this reason). */
  error?: string;
  legacy?: string;
  /** The entry as read (kept for graphs; absent in data loaded back from JSON). */
  entry?: Entry;
}

/** Everything the pages show. */
export interface SiteData {
  generated: string;
  mirrors: { url: string; name?: string; layouts: (2 | 3)[]; notes: string[] }[];
  specs: SiteSpec[];
  keys: { fingerprint: string; mirror: string; trusted: boolean; armored?: string }[];
  /** Armored keys the browser checks signatures with (`assets/keys.json`). */
  trustedKeys?: string[];
  /** `verifyMirror` reports, one per mirror, when verification ran. */
  verify?: VerifyReport[];
}

function signatureOf(e: Entry): SignatureStatus {
  if (e.signedBy) return { state: "verified", fingerprint: e.signedBy };
  if (e.signed) return { state: "unverified", error: e.signatureError };
  return { state: "unsigned" };
}

/** Options of `collectSite`. */
export interface CollectOptions {
  signal?: AbortSignal;
  /** Entries read at once (default 8). */
  jobs?: number;
  onProgress?: (done: number, total: number) => void;
  /** Armored public keys trusted besides the published keys that verified an entry. */
  trustedKeys?: string[];
}

/**
 * Reads every entry of the mirrors (metadata and spec, never refusing unsigned or untrusted
 * ones: their status is shown instead) into the data the pages are rendered from.
 */
export async function collectSite(
  mirrors: MirrorSet,
  opts: CollectOptions = {},
): Promise<SiteData> {
  const refs = (await mirrors.list(undefined, { signal: opts.signal })).filter((r) =>
    r.inBuildcache
  ).sort((a, b) =>
    a.name.localeCompare(b.name) ||
    a.version.localeCompare(b.version, undefined, { numeric: true }) ||
    a.hash.localeCompare(b.hash)
  );
  const mirrorIndex = new Map<string, number>();
  mirrors.mirrors.forEach((m, i) => mirrorIndex.set(m.name ?? m.url, i));
  const specs: SiteSpec[] = new Array(refs.length);
  let next = 0, done = 0;
  const worker = async () => {
    while (next < refs.length) {
      const i = next++;
      specs[i] = await readSpec(mirrors, refs[i], mirrorIndex, opts.signal);
      opts.onProgress?.(++done, refs.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.jobs ?? 8, refs.length) }, worker));
  const names = new Map(specs.map((s) => [s.hash, s]));
  for (const s of specs) {
    for (const d of s.dependencies) d.version ??= names.get(d.hash)?.version;
  }
  // A published key is shown as trusted when it verified an entry's signature here.
  const trusted = new Set(specs.map((s) => s.signature.fingerprint).filter(Boolean));
  const keys = (await mirrors.keys({ signal: opts.signal }).catch(() => [])).map((k) => ({
    fingerprint: k.fingerprint,
    mirror: k.mirror,
    trusted: trusted.has(k.fingerprint),
    armored: k.armored,
  }));
  return {
    generated: new Date().toISOString(),
    mirrors: mirrors.mirrors.map((m) => ({
      url: m.url,
      name: m.name,
      layouts: [...m.layout.versions],
      notes: m.notes(),
    })),
    specs,
    keys,
    trustedKeys: [
      ...keys.filter((k) => k.trusted && k.armored).map((k) => k.armored!),
      ...(opts.trustedKeys ?? []),
    ],
  };
}

function parametersOf(p: unknown): string[] | undefined {
  if (!p || typeof p !== "object" || Array.isArray(p)) return undefined;
  const out: string[] = [];
  for (const [k, v] of Object.entries(p as Record<string, unknown>)) {
    if (Array.isArray(v)) {
      if (v.length) out.push(`${k}=${v.map(String).join(",")}`);
    } else if (typeof v === "boolean") out.push(`${k}=${v ? "True" : "False"}`);
    else if (v !== null && typeof v !== "object") out.push(`${k}=${String(v)}`);
  }
  return out;
}

async function readSpec(
  mirrors: MirrorSet,
  r: EntryRef,
  mirrorIndex: Map<string, number>,
  signal?: AbortSignal,
): Promise<SiteSpec> {
  const [platform, os, ...target] = (r.arch ?? "").split("-");
  const base: SiteSpec = {
    name: r.name,
    version: r.version,
    hash: r.hash,
    compiler: r.compiler,
    platform: platform || undefined,
    os: os || undefined,
    target: target.join("-") || undefined,
    mirror: mirrorIndex.get(r.mirror ?? "") ?? 0,
    layout: r.layout,
    installedAt: r.installedAt,
    signature: { state: "unsigned" },
    dependencies: [],
  };
  let e: Entry;
  try {
    e = await mirrors.entry(r.hash, { requireSignature: false, signal });
  } catch (err) {
    signal?.throwIfAborted();
    return { ...base, error: err instanceof Error ? err.message : String(err) };
  }
  const node = e.spec.nodes.get(e.spec.root) ?? e.spec.nodes.get(r.hash);
  const blob = (path: string, d: Entry["tarball"]) => ({
    path,
    size: d.size,
    sha256: d.checksum,
    mediaType: d.mediaType,
  });
  return {
    ...base,
    mirror: mirrorIndex.get(e.ref.mirror ?? "") ?? base.mirror,
    formatVersion: e.spec.formatVersion,
    namespace: node?.namespace,
    parameters: parametersOf(node?.raw.parameters),
    signature: signatureOf(e),
    metadataPath: e.metadataPath,
    tarball: blob(e.tarballPath, e.tarball),
    specBlob: e.specBlob ? blob(e.specBlob.path, e.specBlob.descriptor) : undefined,
    legacy: e.legacy,
    dependencies: (node?.dependencies ?? []).map((d) => ({
      name: d.name,
      version: e.spec.nodes.get(d.hash)?.version,
      hash: d.hash,
      depTypes: [...d.depTypes],
      virtuals: [...d.virtuals],
    })),
    entry: e,
  };
}

/** How pages link to the mirror's own objects (blobs, manifests). */
export interface RenderOptions {
  /**
   * The URL of a mirror object seen from the site's root (`mirror` indexes
   * `SiteData.mirrors`), or undefined when the site cannot link to it.
   */
  objectHref?: (mirror: number, path: string) => string | undefined;
  /** Adds the live actions of `serve` (verify). */
  live?: boolean;
  /**
   * Where a mirror's root is (`mirror` indexes `SiteData.mirrors`), relative to the site's root
   * ("" when the site is at the mirror's root), or undefined when the browser cannot reach it:
   * the pages of its specs then load `assets/browser.js`, which re-verifies them in the browser.
   */
  mirrorRoot?: (mirror: number) => string | undefined;
}

/** The path of a spec's page, from the site's root. */
export function specPath(hash: string): string {
  return `spec/${encodeURIComponent(hash)}.html`;
}

/** Human-readable bytes (1024-based). */
export function humanBytes(n: number): string {
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) {
    n /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${n.toFixed(n < 10 ? 1 : 0)} ${u[i]}`;
}

function page(
  title: string,
  root: string,
  current: "specs" | "mirror" | "live" | "",
  body: string,
  opts: RenderOptions = {},
  mirrorRoot?: string,
): string {
  // Only the pages with client-side checks load the (large) module of the read path.
  const module = (mirrorRoot !== undefined && current === "") || current === "live"
    ? `\n<script type="module" src="${root}assets/browser.js"></script>`
    : "";
  const mirrorAttr = mirrorRoot !== undefined ? ` data-mirror-root="${esc(mirrorRoot)}"` : "";
  const nav = (href: string, label: string, key: string) =>
    `<a href="${root}${href}"${current === key ? ' aria-current="page"' : ""}>${label}</a>`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${WEB_CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="referrer" content="no-referrer">
<title>${esc(title)}</title>
<link rel="stylesheet" href="${root}assets/app.css">
<script src="${root}assets/app.js" defer></script>${module}
</head>
<body data-root="${root}"${mirrorAttr}${opts.live ? ' data-live="1"' : ""}>
<a class="skip" href="#main">Skip to content</a>
<header><nav aria-label="site">${nav("index.html", "Specs", "specs")} ${
    nav("mirror.html", "Mirror", "mirror")
  } ${nav("live.html", "Open a mirror", "live")}</nav></header>
<main id="main" tabindex="-1">
${body}
</main>
<footer>spackle</footer>
</body>
</html>
`;
}

function sigCell(s: SignatureStatus): string {
  if (s.state === "verified") {
    return `<span class="sig ok" title="${esc(s.fingerprint ?? "")}">verified ${
      esc((s.fingerprint ?? "").slice(-16))
    }</span>`;
  }
  if (s.state === "unverified") {
    return `<span class="sig warn" title="${esc(s.error ?? "")}">signed, not verified</span>`;
  }
  return `<span class="sig none">unsigned</span>`;
}

/** How long ago `t` (seconds since the epoch) was, from `now`: "5 min", "3 h", "12 d", "2 y". */
export function formatAge(t: number, now: number): string {
  const s = Math.max(0, now - t);
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h`;
  if (s < 365 * 86400) return `${Math.floor(s / 86400)} d`;
  return `${Math.floor(s / (365 * 86400))} y`;
}

/** The table of every spec (`index.html`). */
export function renderIndex(data: SiteData, opts: RenderOptions = {}): string {
  const now = Date.parse(data.generated) / 1000;
  const rows = data.specs.map((s) => {
    const size = s.tarball?.size;
    const when = s.installedAt === undefined
      ? "<td></td>"
      : `<td class="num" data-v="${-s.installedAt}" title="${
        esc(new Date(s.installedAt * 1000).toISOString())
      }">${formatAge(s.installedAt, now)}</td>`;
    return `<tr id="h-${esc(s.hash)}">` +
      `<td><a href="${specPath(s.hash)}">${esc(s.name)}</a></td>` +
      `<td data-v="${esc(s.version)}">${esc(s.version)}</td>` +
      `<td class="hash"><code>${esc(s.hash.slice(0, 7))}</code></td>` +
      `<td>${esc(s.compiler ?? "")}</td>` +
      `<td>${esc(s.target ?? "")}</td>` +
      `<td>${esc(s.os ?? "")}</td>` +
      `<td class="num" data-v="${size ?? -1}">${size === undefined ? "" : humanBytes(size)}</td>` +
      `<td>${s.error ? `<span class="sig bad">unreadable</span>` : sigCell(s.signature)}</td>` +
      when + `</tr>`;
  }).join("\n");
  const total = data.specs.reduce((a, s) => a + (s.tarball?.size ?? 0), 0);
  const head = ["Name", "Version", "Hash", "Compiler", "Target", "OS", "Size", "Signed by", "Age"];
  const body = `<h1>Specs</h1>
<p class="summary"><span id="count">${data.specs.length}</span> of ${data.specs.length} specs, ${
    humanBytes(total)
  } in ${data.mirrors.length === 1 ? "1 mirror" : `${data.mirrors.length} mirrors`}: ${
    data.mirrors.map((m) => `<code>${esc(m.name ?? m.url)}</code>`).join(", ")
  }</p>
<form class="search" role="search" action="index.html" method="get">
<label for="q">Search</label> <input id="q" name="q" type="search" autocomplete="off" placeholder="name, version, hash, compiler, target, os (press /)">
</form>
<div class="scroll"><table id="specs" class="specs">
<caption class="sr">Specs in the mirror; column headers sort</caption>
<thead><tr>${
    head.map((h, i) =>
      `<th scope="col" data-col="${i}"${i === 6 || i === 8 ? ' data-type="num"' : ""}>${h}</th>`
    )
      .join("")
  }</tr></thead>
<tbody>
${rows}
</tbody>
</table></div>`;
  return page("Specs", "", "specs", body, opts);
}

function blobRow(label: string, b: SiteSpec["tarball"], href?: string): string {
  if (!b) return "";
  return `<tr><th scope="row">${label}</th><td>${
    href ? `<a href="${esc(href)}"><code>${esc(b.path)}</code></a>` : `<code>${esc(b.path)}</code>`
  }</td><td class="num">${b.size} (${humanBytes(b.size)})</td><td><code class="digest">sha256:${
    esc(b.sha256)
  }</code></td></tr>`;
}

/** The page of one spec (`spec/HASH.html`). */
export function renderSpec(data: SiteData, s: SiteSpec, opts: RenderOptions = {}): string {
  const root = "../";
  const known = new Map(data.specs.map((x) => [x.hash, x]));
  const link = (hash: string, text: string) =>
    known.has(hash)
      ? `<a href="${root}${specPath(hash)}">${esc(text)}</a>`
      : `${esc(text)} <span class="muted">(not in the mirror)</span>`;
  const m = data.mirrors[s.mirror];
  const obj = (p?: string) => {
    if (!p) return undefined;
    const h = opts.objectHref?.(s.mirror, p);
    return h === undefined ? undefined : /^[a-z][a-z0-9+.-]*:/i.test(h) ? h : root + h;
  };
  const reverse = data.specs.filter((x) => x.dependencies.some((d) => d.hash === s.hash));
  const sig = s.signature;
  const sigText = sig.state === "verified"
    ? `<span class="sig ok">signed, verified</span> by key <code>${
      esc(sig.fingerprint ?? "")
    }</code>`
    : sig.state === "unverified"
    ? `<span class="sig warn">signed, NOT verified</span>${sig.error ? `: ${esc(sig.error)}` : ""}`
    : `<span class="sig none">unsigned</span>`;
  const meta: [string, string][] = [
    ["Hash", `<code>${esc(s.hash)}</code>`],
    ["Mirror", `<code>${esc(m ? m.name ?? m.url : "?")}</code> (layout v${s.layout})`],
    ["Compiler", esc(s.compiler ?? "-")],
    ["Architecture", esc([s.platform, s.os, s.target].filter(Boolean).join("-") || "-")],
    ["Namespace", esc(s.namespace ?? "-")],
    [
      "Parameters",
      s.parameters?.length ? s.parameters.map((p) => `<code>${esc(p)}</code>`).join(" ") : "-",
    ],
    ["Spec format", esc(String(s.formatVersion ?? "-"))],
    ["Signature", sigText],
  ];
  if (s.metadataPath) {
    const h = obj(s.metadataPath);
    meta.push([
      "Metadata",
      h
        ? `<a href="${esc(h)}"><code>${esc(s.metadataPath)}</code></a>`
        : `<code>${esc(s.metadataPath)}</code>`,
    ]);
  }
  if (s.legacy) meta.push(["Legacy", esc(s.legacy)]);
  if (s.error) meta.push(["Error", `<span class="sig bad">${esc(s.error)}</span>`]);
  const graph = s.entry
    ? toSvg(specGraph(s.entry.spec), {
      inline: true,
      title: `dependency graph of ${s.name}@${s.version}`,
      href: (n) =>
        known.has(n.hash) && n.hash !== s.hash ? `${root}${specPath(n.hash)}` : undefined,
    })
    : "";
  const deps = s.dependencies.length
    ? `<table class="deps"><thead><tr><th scope="col">Dependency</th><th scope="col">Hash</th><th scope="col">Types</th><th scope="col">Virtuals</th></tr></thead><tbody>${
      s.dependencies.map((d) =>
        `<tr><td>${link(d.hash, `${d.name}${d.version ? `@${d.version}` : ""}`)}</td><td><code>${
          esc(d.hash.slice(0, 7))
        }</code></td><td>${esc(d.depTypes.join(", "))}</td><td>${
          esc(d.virtuals.join(", "))
        }</td></tr>`
      ).join("")
    }</tbody></table>`
    : "<p>None.</p>";
  const rdeps = reverse.length
    ? `<ul class="rdeps">${
      reverse.map((r) => {
        const d = r.dependencies.find((x) => x.hash === s.hash)!;
        return `<li>${link(r.hash, `${r.name}@${r.version}`)} <code>${
          esc(r.hash.slice(0, 7))
        }</code> <span class="muted">(${esc(d.depTypes.join(", "))})</span></li>`;
      }).join("")
    }</ul>`
    : "<p>Nothing in the mirror depends on it.</p>";
  const live = opts.live
    ? `<p><a class="button" href="${root}verify.html?spec=${
      encodeURIComponent(s.hash)
    }">Verify this entry now</a> (re-reads the metadata and the tarball, checking its size and sha256)</p>`
    : "";
  const body = `<h1>${esc(s.name)}@${esc(s.version)} <code class="hash">/${
    esc(s.hash.slice(0, 7))
  }</code></h1>
<dl class="meta">${meta.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join("")}</dl>
${live}
<h2>Blobs</h2>
<div class="scroll"><table class="blobs"><thead><tr><th scope="col">Blob</th><th scope="col">Path</th><th scope="col">Size (bytes)</th><th scope="col">Digest</th></tr></thead><tbody>
${blobRow("tarball", s.tarball, obj(s.tarball?.path))}
${blobRow("spec", s.specBlob, obj(s.specBlob?.path))}
</tbody></table></div>
<section id="client-verify" data-hash="${esc(s.hash)}" hidden></section>
<h2>Dependency graph</h2>
<p class="legend"><span class="l-link">link</span> <span class="l-run">run</span> <span class="l-build">build</span> <span class="l-test">test</span>; dashed boxes are externals; click a box to open its page.</p>
<div class="graph scroll">${graph}</div>
<h2>Dependencies</h2>
${deps}
<h2>Used by</h2>
${rdeps}`;
  return page(
    `${s.name}@${s.version}/${s.hash.slice(0, 7)}`,
    root,
    "",
    body,
    opts,
    opts.mirrorRoot?.(s.mirror),
  );
}

/** The page of the mirrors: totals, keys, verify findings (`mirror.html`). */
export function renderMirror(data: SiteData, opts: RenderOptions = {}): string {
  const count = (st: SignatureStatus["state"]) =>
    data.specs.filter((s) => !s.error && s.signature.state === st).length;
  const total = data.specs.reduce((a, s) => a + (s.tarball?.size ?? 0), 0);
  const mirrors = data.mirrors.map((m, i) => {
    const specs = data.specs.filter((s) => s.mirror === i);
    return `<tr><td><code>${esc(m.name ?? m.url)}</code>${
      m.name ? `<br><code class="muted">${esc(m.url)}</code>` : ""
    }</td><td>${
      m.layouts.map((l) => `v${l}`).join(" + ")
    }</td><td class="num">${specs.length}</td><td class="num">${
      humanBytes(specs.reduce((a, s) => a + (s.tarball?.size ?? 0), 0))
    }</td><td>${m.notes.map(esc).join("<br>")}</td></tr>`;
  }).join("");
  const keys = data.keys.length
    ? `<ul>${
      data.keys.map((k) =>
        `<li><code>${esc(k.fingerprint)}</code> ${
          k.trusted
            ? '<span class="sig ok">trusted</span>'
            : '<span class="sig none">published, not trusted here</span>'
        } <span class="muted">${esc(k.mirror)}</span></li>`
      ).join("")
    }</ul>`
    : "<p>The mirrors publish no keys.</p>";
  let verify = opts.live
    ? "<p>Not verified yet: the link above checks every entry now and shows what it finds.</p>"
    : "<p>Not verified when this page was made (<code>spackle report --no-verify</code>).</p>";
  if (data.verify) {
    verify = data.verify.map((r) => {
      const problems = r.findings.filter((f) => f.kind !== "notice");
      return `<h3><code>${
        esc(r.url)
      }</code></h3><p>${r.checked.entries} entries, ${r.checked.blobs} blobs, ${
        humanBytes(r.checked.bytes)
      } checked: ${
        problems.length
          ? `<span class="sig bad">${problems.length} problem(s)</span>`
          : '<span class="sig ok">no problems</span>'
      }; signatures: ${r.checked.signaturesVerified} verified, ${r.checked.signedUnchecked} not checked, ${r.checked.unsigned} unsigned.</p>${
        r.findings.length
          ? `<div class="scroll"><table class="findings"><thead><tr><th scope="col">Kind</th><th scope="col">Code</th><th scope="col">Message</th></tr></thead><tbody>${
            r.findings.map((f) =>
              `<tr class="k-${esc(f.kind)}"><td>${esc(f.kind)}</td><td><code>${
                esc(f.code)
              }</code></td><td>${esc(f.message)}</td></tr>`
            ).join("")
          }</tbody></table></div>`
          : ""
      }`;
    }).join("\n");
  }
  const live = opts.live
    ? `<p><a class="button" href="verify.html">Verify the whole mirror now</a></p>`
    : "";
  const body = `<h1>Mirror</h1>
<dl class="meta"><dt>Specs</dt><dd>${data.specs.length}</dd><dt>Tarballs</dt><dd>${
    humanBytes(total)
  } (${total} bytes)</dd><dt>Signatures</dt><dd>${count("verified")} verified, ${
    count("unverified")
  } signed but not verified, ${count("unsigned")} unsigned${
    data.specs.some((s) => s.error)
      ? `, <span class="sig bad">${data.specs.filter((s) => s.error).length} unreadable</span>`
      : ""
  }</dd><dt>Generated</dt><dd>${esc(data.generated)}</dd></dl>
<div class="scroll"><table class="mirrors"><thead><tr><th scope="col">Mirror</th><th scope="col">Layout</th><th scope="col">Specs</th><th scope="col">Size</th><th scope="col">Notes</th></tr></thead><tbody>${mirrors}</tbody></table></div>
<h2>Keys</h2>
${keys}
<h2>Verify</h2>
${live}
${verify}`;
  return page("Mirror", "", "mirror", body, opts);
}

/** `live.html`: opens any mirror of the same site in the browser (needs JavaScript). */
export function renderLive(_data: SiteData, opts: RenderOptions = {}): string {
  const body = `<h1>Open a mirror</h1>
<p>Reads a build cache of this web site in the browser with spackle's own reader: the layout is
detected, the index listed, and each entry can be verified here (signature, spec, tarball sha256).</p>
<noscript><p class="sig warn">This page needs JavaScript; the other pages do not.</p></noscript>
<form id="live-form" class="search" action="live.html" method="get">
<label for="live-url">Mirror URL</label> <input id="live-url" name="url" type="url" autocomplete="off" placeholder="https://this.site/path/to/mirror/">
<button type="submit">Open</button>
</form>
<div id="live-out"></div>`;
  return page("Open a mirror", "", "live", body, opts, opts.mirrorRoot?.(0));
}

/** The script that re-verifies entries in the browser, when this build carries it. */
export async function browserScript(): Promise<string | undefined> {
  try {
    const b = await import("./_browser_bundle.ts");
    const { gunzipBytes } = await import("../core/gzip.ts");
    const bin = atob(b.BROWSER_JS_GZIP_BASE64);
    const gz = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) gz[i] = bin.charCodeAt(i);
    return new TextDecoder().decode(gunzipBytes(gz, "the browser script"));
  } catch {
    return undefined;
  }
}

/** The trusted keys, as `assets/keys.json` holds them for the browser. */
export function keysJson(data: SiteData): string {
  return JSON.stringify((data.trustedKeys ?? []).map((armored) => ({ armored })));
}

/** Every file of the static site: path from the site's root, and content. */
export function* sitePages(
  data: SiteData,
  opts: RenderOptions & { browserJs?: string } = {},
): Generator<[string, string]> {
  yield ["assets/app.css", APP_CSS];
  yield ["assets/app.js", APP_JS];
  if (opts.browserJs) {
    yield ["assets/browser.js", opts.browserJs];
    yield ["assets/keys.json", keysJson(data)];
  }
  yield ["index.html", renderIndex(data, opts)];
  yield ["mirror.html", renderMirror(data, opts)];
  yield ["live.html", renderLive(data, opts)];
  for (const s of data.specs) yield [specPath(s.hash), renderSpec(data, s, opts)];
}

/** The MIME type of a site file, by its extension. */
export function contentTypeOf(path: string): string {
  if (path.endsWith(".html")) return "text/html; charset=utf-8";
  if (path.endsWith(".css")) return "text/css; charset=utf-8";
  if (path.endsWith(".js")) return "text/javascript; charset=utf-8";
  if (path.endsWith(".json")) return "application/json";
  if (path.endsWith(".svg")) return "image/svg+xml";
  return "application/octet-stream";
}
