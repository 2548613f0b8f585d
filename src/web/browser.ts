/**
 * The web view's client-side checks: the library's read path running in the browser (layout
 * detection, the v2 and v3 readers over fetch, the index, the spec model, OpenPGP verification,
 * sha256 while streaming and gunzip on the WebAssembly core), so a report hosted beside its
 * mirror re-verifies signatures and blob digests itself, and `live.html` opens any same-origin
 * mirror URL. Bundled by `scripts/build_web.ts` into `assets/browser.js`; it only adds to pages
 * that are complete without it, and writes to the page with textContent only.
 *
 * @module
 */
import { BACKEND } from "../core/backend.ts";
import { errorMessage } from "../errors.ts";
import { type Mirror, openMirror } from "../layout/open.ts";
import type { Entry, EntryRef } from "../layout/types.ts";
import { verifierFromKeys } from "../mirror/trusted_keys.ts";
import type { Verifier } from "../sign/types.ts";
import { openPageStore } from "../storage/browser.ts";

type Line = (text: string, cls?: string) => HTMLElement;

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  text?: string,
  attrs: Record<string, string> = {},
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

/** The keys the report's author trusted (`assets/keys.json`), as a verifier. */
async function trustedVerifier(root: string): Promise<Verifier | undefined> {
  try {
    const r = await fetch(new URL(`${root}assets/keys.json`, location.href));
    if (!r.ok) return undefined;
    const keys = (await r.json()) as { armored: string }[];
    return keys.length ? await verifierFromKeys(keys.map((k) => k.armored)) : undefined;
  } catch {
    return undefined;
  }
}

async function open(url: URL, verifier?: Verifier): Promise<Mirror> {
  if (url.origin !== location.origin) {
    throw new Error(`only mirrors of this site (${location.origin}) can be opened here`);
  }
  const store = openPageStore(url);
  return await openMirror(store, { verifier });
}

/** Verifies one entry: signature, spec blob, tarball digest and size; reports each step. */
async function verifyEntry(m: Mirror, hash: string, line: Line): Promise<boolean> {
  let e: Entry;
  try {
    e = await m.entry(hash, { requireSignature: false });
  } catch (err) {
    line(`failed: ${errorMessage(err)}`, "sig bad");
    return false;
  }
  line(
    e.signedBy
      ? `metadata signature verified (key ${e.signedBy})`
      : e.signed
      ? `metadata signed, NOT verified${e.signatureError ? `: ${e.signatureError}` : ""}`
      : "metadata unsigned",
    e.signedBy ? "sig ok" : e.signed ? "sig warn" : "sig none",
  );
  if (e.specBlob) {
    line(
      `spec blob ${e.specBlob.descriptor.checksum.slice(0, 12)}…: sha256 and size match`,
      "sig ok",
    );
  }
  const progress = line(`tarball: 0 of ${e.tarball.size} bytes`);
  let bytes = 0;
  try {
    const reader = (await e.openTarball()).getReader();
    let shown = 0;
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      bytes += r.value.byteLength;
      if (bytes - shown > 1 << 20) {
        shown = bytes;
        progress.textContent = `tarball: ${bytes} of ${e.tarball.size} bytes`;
      }
    }
  } catch (err) {
    progress.textContent = `tarball: failed: ${errorMessage(err)}`;
    progress.className = "sig bad";
    return false;
  }
  progress.textContent = `tarball: ${bytes} bytes, sha256:${e.tarball.checksum} matches`;
  progress.className = "sig ok";
  return true;
}

function logArea(parent: HTMLElement): { log: HTMLElement; line: Line } {
  const log = el("div", undefined, { role: "log", "aria-live": "polite", class: "client-log" });
  parent.append(log);
  const line: Line = (text, cls) => {
    const p = el("p", text);
    if (cls) p.className = cls;
    log.append(p);
    return p;
  };
  return { log, line };
}

/** A spec page: a button that re-verifies the entry in the browser. */
function specPage(section: HTMLElement, root: string, mirrorRoot: string): void {
  const hash = section.dataset.hash!;
  section.hidden = false;
  section.append(el("h2", "Verify in this browser"));
  const button = el("button", "Verify signature and digests here", { type: "button" });
  section.append(
    el(
      "p",
      `Fetches the metadata and the blobs from the mirror and checks them in this browser (sha256 and gunzip on ${
        BACKEND.sha256 === "wasm" ? "WebAssembly" : "the native backend"
      }, OpenPGP with the keys this report was made with).`,
    ),
    button,
  );
  const { line } = logArea(section);
  button.addEventListener("click", async () => {
    button.disabled = true;
    section.removeAttribute("data-result");
    try {
      const verifier = await trustedVerifier(root);
      const m = await open(new URL(root + mirrorRoot, location.href), verifier);
      line(`mirror: layout ${m.layout.versions.map((v) => `v${v}`).join(" + ")}`);
      const ok = await verifyEntry(m, hash, line);
      section.dataset.result = ok ? "ok" : "failed";
      line(ok ? "verified" : "FAILED", ok ? "verify-result sig ok" : "verify-result sig bad");
    } catch (err) {
      section.dataset.result = "failed";
      line(`failed: ${errorMessage(err)}`, "verify-result sig bad");
    } finally {
      button.disabled = false;
    }
  });
}

/** `live.html`: opens a same-origin mirror URL and lists it with the library. */
function livePage(form: HTMLFormElement, root: string, mirrorRoot?: string): void {
  const input = form.querySelector("input")!;
  const asked = new URL(location.href).searchParams.get("url");
  if (asked) input.value = asked;
  else if (mirrorRoot !== undefined) input.value = new URL(root + mirrorRoot, location.href).href;
  const out = document.getElementById("live-out")!;
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    out.replaceChildren();
    const { line } = logArea(out);
    const started = performance.now();
    try {
      const verifier = await trustedVerifier(root);
      const m = await open(new URL(input.value, location.href), verifier);
      const refs = (await m.list()).filter((r) => r.inBuildcache).sort((a, b) =>
        a.name.localeCompare(b.name) || a.version.localeCompare(b.version)
      );
      line(
        `${m.url}: layout ${
          m.layout.versions.map((v) => `v${v}`).join(" + ")
        }, ${refs.length} specs, read in ${Math.round(performance.now() - started)} ms`,
      );
      out.dataset.specs = String(refs.length);
      out.append(table(m, refs));
    } catch (err) {
      line(`failed: ${errorMessage(err)}`, "sig bad");
      out.dataset.specs = "error";
    }
  });
  if (asked) form.requestSubmit();
}

function table(m: Mirror, refs: EntryRef[]): HTMLElement {
  const wrap = el("div", undefined, { class: "scroll" });
  const t = el("table", undefined, { class: "specs", id: "live-specs" });
  const head = el("tr");
  for (const h of ["Name", "Version", "Hash", "Arch", "Check"]) {
    head.append(el("th", h, { scope: "col" }));
  }
  t.append(el("thead"), el("tbody"));
  t.tHead!.append(head);
  for (const r of refs) {
    const tr = el("tr");
    tr.append(
      el("td", r.name),
      el("td", r.version),
      el("td", r.hash.slice(0, 7)),
      el("td", r.arch ?? ""),
    );
    const cell = el("td");
    const b = el("button", "verify", { type: "button", "data-hash": r.hash });
    cell.append(b);
    tr.append(cell);
    b.addEventListener("click", async () => {
      b.disabled = true;
      const { line } = logArea(cell);
      const ok = await verifyEntry(m, r.hash, line);
      cell.dataset.result = ok ? "ok" : "failed";
    });
    t.tBodies[0].append(tr);
  }
  wrap.append(t);
  return wrap;
}

const body = document.body;
const root = body.dataset.root ?? "";
const mirrorRoot = body.dataset.mirrorRoot;
(globalThis as { spackleBackend?: unknown }).spackleBackend = { ...BACKEND };
const section = document.getElementById("client-verify");
if (section && section.dataset.hash && mirrorRoot !== undefined) {
  specPage(section, root, mirrorRoot);
}
const form = document.getElementById("live-form") as HTMLFormElement | null;
if (form) livePage(form, root, mirrorRoot);
