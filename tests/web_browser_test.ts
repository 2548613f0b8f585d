/**
 * The web view in a real browser (headless Chromium over the DevTools protocol): a report
 * opened from file:// and from nginx, `serve`, a tampered blob, and a hostile mirror whose
 * names carry script. Screenshots go to `SPACKLE_TEST_ARTIFACTS` (else a temporary directory,
 * printed).
 */
import assert from "node:assert/strict";
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { fixture, HAVE_FIXTURES, REPO_ROOT } from "./_fixtures.ts";
import { Browser, CHROMIUM, type Page } from "./_chromium.ts";

const KEY = () => fixture("keys/oracle-test.pub.asc");
const FOOAPP = "iicodpd5dtmh5ijlchcoay25frkfkyuv";
const LIBFOO = "qxhycnksfks5oi3io5ajg3tr2xzvfrso";
const LIBZZ = "irttwv2f4rzhheesshe6vsy3xw3ezk2h";
const LIBFOO_TARBALL = "668d1a36b7d4a007b7e1d92bd8fbf69a30569cc2c56008551f4c464c87a2894c";
const ENV = { NO_COLOR: "1", SPACKLE_KEYRING: join(tmpdir(), "spackle-no-keyring-here") };

async function spackle(...args: string[]) {
  const p = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(REPO_ROOT, "cli.ts"), ...args],
    env: ENV,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: p.code, stdout: dec.decode(p.stdout), stderr: dec.decode(p.stderr) };
}

/** Starts `spackle serve --port 0 ARGS`; resolves with its URL and a stop function. */
async function serve(...args: string[]): Promise<{ url: string; stop: () => Promise<void> }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(REPO_ROOT, "cli.ts"), "serve", "--port", "0", ...args],
    env: ENV,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!/http:\/\/\S+\//.test(text)) {
    const { value, done } = await reader.read();
    if (done) {
      const err = await new Response(child.stderr).text();
      throw new Error(`serve exited: ${text}${err}`);
    }
    text += value;
  }
  const url = /http:\/\/\S+\//.exec(text)![0];
  return {
    url,
    stop: async () => {
      child.kill("SIGTERM");
      reader.releaseLock();
      await child.stdout.cancel().catch(() => {});
      await child.stderr.cancel().catch(() => {});
      await child.status;
    },
  };
}

/** A raw HTTP/1.1 request (fetch would normalise the `..` segments away). */
async function rawGet(url: string, target: string, method = "GET"): Promise<string> {
  const u = new URL(url);
  const conn = await Deno.connect({ hostname: u.hostname, port: Number(u.port) });
  await conn.write(
    new TextEncoder().encode(
      `${method} ${target} HTTP/1.1\r\nHost: ${u.host}\r\nConnection: close\r\n\r\n`,
    ),
  );
  const text = await new Response(conn.readable).text();
  return text.split("\r\n")[0];
}

let artifacts: string | undefined;
async function shot(page: Page, name: string) {
  if (!artifacts) {
    artifacts = Deno.env.get("SPACKLE_TEST_ARTIFACTS") ??
      await mkdtemp(join(tmpdir(), "spackle-web-shots-"));
    await Deno.mkdir(artifacts, { recursive: true });
    console.log(`screenshots in ${artifacts}`);
  }
  await page.screenshot(join(artifacts, `${name}.png`));
}

const rowNames = (page: Page) =>
  page.eval<string[]>(
    `[...document.querySelectorAll("#specs tbody tr")].filter(r => !r.hidden).map(r => r.cells[0].textContent)`,
  );

function noScriptRan(page: Page) {
  assert.deepEqual(page.dialogs, [], "no dialog opened");
  assert.deepEqual(page.exceptions, [], "no exception thrown");
}

/** The checks of the table, search, sort and spec pages on a site at `base` (ends in "/"). */
async function checkSite(page: Page, base: string, label: string, index = "index.html") {
  await page.goto(base + index);
  assert.deepEqual((await rowNames(page)).sort(), ["fooapp", "foodata", "libfoo", "libzz"]);
  // Search: "/" focuses the box, typing filters the rows and updates the count and the URL.
  await page.press("/", "Slash", 191);
  assert.equal(await page.eval("document.activeElement.id"), "q");
  await page.type("libz");
  await page.waitFor(`document.getElementById("count").textContent === "1"`);
  assert.deepEqual(await rowNames(page), ["libzz"]);
  assert.match(await page.eval<string>("location.href"), /[?&]q=libz/);
  await shot(page, `${label}-search`);
  // A deep link with ?q= comes back filtered.
  await page.goto(base + index + "?q=foo");
  assert.deepEqual((await rowNames(page)).sort(), ["fooapp", "foodata", "libfoo"]);
  // Keyboard: the first Tab reaches the skip link, which moves the focus to the content; the
  // sort buttons take Enter.
  await page.goto(base + index);
  await page.press("Tab", "Tab", 9);
  assert.equal(await page.eval("document.activeElement.className"), "skip");
  await page.press("Enter", "Enter", 13, "\r");
  await page.waitFor(`document.activeElement.id === "main"`);
  await page.eval(`document.querySelector('th[data-col="0"] button').focus()`);
  await page.press("Enter", "Enter", 13, "\r");
  await page.waitFor(
    `document.querySelector('th[data-col="0"]').getAttribute("aria-sort") === "ascending"`,
  );
  // Sort by size (descending after two clicks): libfoo's 9619-byte tarball is the largest.
  await page.goto(base + index);
  await page.eval(`document.querySelector('th[data-col="6"] button').click()`);
  await page.eval(`document.querySelector('th[data-col="6"] button').click()`);
  assert.equal((await rowNames(page))[0], "libfoo");
  assert.equal(
    await page.eval(`document.querySelector('th[data-col="6"]').getAttribute("aria-sort")`),
    "descending",
  );
  await shot(page, `${label}-index`);
  // The spec page: signature, digests, dependencies, reverse dependencies, graph.
  await page.goto(base + `spec/${LIBFOO}.html`);
  const text = await page.eval<string>("document.body.innerText");
  assert.match(text, /signed, verified by key 4D782899AF51B814967AC6DE6EE87675E657CA38/);
  assert.ok(text.includes(`sha256:${LIBFOO_TARBALL}`));
  assert.match(text, /libzz@1\.2\.3\s+irttwv2\s+build, link\s+zz-api/);
  assert.match(text, /foo-buildtool@1\.0 \(not in the mirror\)/);
  assert.match(text, /Used by\s+fooapp@3\.0 iicodpd/);
  await shot(page, `${label}-spec`);
  // Click libzz's box in the graph: its page opens.
  await page.eval(
    `document.querySelector('svg.graph a.node[href$="${LIBZZ}.html"]').dispatchEvent(new MouseEvent("click", {bubbles: true}))`,
  );
  await page.waitFor(
    `location.href.endsWith("${LIBZZ}.html") && document.readyState === "complete"`,
  );
  assert.match(
    await page.eval<string>("document.querySelector('h1').textContent"),
    /^libzz@1\.2\.3/,
  );
  // Dark scheme and a narrow screen.
  await page.goto(base + `spec/${FOOAPP}.html`);
  await page.viewport(390, 800, "dark");
  const bg = await page.eval<string>("getComputedStyle(document.body).backgroundColor");
  assert.equal(bg, "rgb(21, 23, 26)");
  assert.ok(
    await page.eval<boolean>("document.documentElement.scrollWidth <= window.innerWidth + 1"),
    "the page fits a narrow screen (wide parts scroll inside their boxes)",
  );
  await shot(page, `${label}-spec-dark-narrow`);
  await page.viewport(1200, 900, "light");
  noScriptRan(page);
}

/** Clicks the spec page's "verify here" button; resolves with the result and the log text. */
async function clientVerify(page: Page): Promise<{ result: string; text: string }> {
  await page.waitFor(`document.querySelector("#client-verify button")`);
  await page.eval(`document.querySelector("#client-verify button").click()`);
  await page.waitFor(`document.querySelector("#client-verify").dataset.result`, 60_000);
  return {
    result: await page.eval<string>(`document.querySelector("#client-verify").dataset.result`),
    text: await page.eval<string>(`document.querySelector("#client-verify").innerText`),
  };
}

/** Opens live.html on a mirror URL; resolves with the number of specs it lists. */
async function liveOpen(page: Page, site: string, mirror: string): Promise<string> {
  await page.goto(`${site}live.html?url=${encodeURIComponent(mirror)}`);
  await page.waitFor(`document.getElementById("live-out").dataset.specs`, 60_000);
  return await page.eval<string>(`document.getElementById("live-out").dataset.specs`);
}

const enabled = HAVE_FIXTURES && !!CHROMIUM;

Deno.test({
  name: "web view in Chromium: report from file:// and nginx, serve, tampered blob, hostile names",
  ignore: !enabled,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const tmp = await mkdtemp(join(tmpdir(), "spackle-web-"));
    const browser = await Browser.launch();
    try {
      const page = await browser.newPage();
      await page.viewport(1200, 900, "light");

      await t.step("a report opened from file:// lists, searches, sorts and links", async () => {
        const site = join(tmp, "site");
        const r = await spackle("report", "-m", fixture("v3-signed"), "-k", KEY(), "-o", site);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /^4 specs, 11 files/);
        await checkSite(page, pathToFileURL(site).href + "/", "file");
        await page.goto(pathToFileURL(site).href + "/mirror.html");
        const text = await page.eval<string>("document.body.innerText");
        assert.match(text, /4 verified, 0 signed but not verified, 0 unsigned/);
        assert.match(text, /no problems/);
        await shot(page, "file-mirror");
        // Without JavaScript the whole table is there.
        await page.send("Emulation.setScriptExecutionDisabled", { value: true });
        await page.goto(pathToFileURL(site).href + "/index.html");
        assert.equal((await rowNames(page)).length, 4);
        await page.send("Emulation.setScriptExecutionDisabled", { value: false });
      });

      await t.step(
        "serve answers the same pages, verifies an entry, refuses traversal",
        async () => {
          const s = await serve("-m", fixture("v3-signed"), "-k", KEY());
          try {
            await checkSite(page, s.url, "serve", "");
            await page.goto(s.url + `spec/${LIBFOO}.html`);
            await page.eval(`document.querySelector('a.button[href*="verify.html"]').click()`);
            await page.waitFor(`document.getElementById("result")`);
            assert.equal(
              await page.eval(`document.getElementById("result").dataset.result`),
              "ok",
            );
            assert.match(await page.eval<string>("document.body.innerText"), /signature verified/);
            await shot(page, "serve-verify");
            // The same checks in the browser, by the library's read path on the WebAssembly core.
            await page.goto(s.url + `spec/${LIBFOO}.html`);
            const cv = await clientVerify(page);
            assert.equal(cv.result, "ok", cv.text);
            assert.match(
              cv.text,
              /metadata signature verified \(key 4D782899AF51B814967AC6DE6EE87675E657CA38\)/,
            );
            assert.ok(cv.text.includes(`9619 bytes, sha256:${LIBFOO_TARBALL} matches`), cv.text);
            assert.deepEqual(await page.eval("globalThis.spackleBackend"), {
              sha256: "wasm",
              gzip: "wasm",
            });
            await shot(page, "serve-client-verify");
            assert.equal(await liveOpen(page, s.url, s.url + "mirror/0/"), "4");
            await page.eval(
              `document.querySelector('#live-specs button[data-hash="${LIBZZ}"]').click()`,
            );
            await page.waitFor(`document.querySelector('#live-specs td[data-result]')`, 60_000);
            assert.equal(
              await page.eval(
                `document.querySelector('#live-specs td[data-result]').dataset.result`,
              ),
              "ok",
            );
            await shot(page, "serve-live");
            // The blob links reach the mirror's objects.
            const size = await page.eval<number>(
              `fetch(${JSON.stringify(s.url + "mirror/0/blobs/sha256/66/" + LIBFOO_TARBALL)})` +
                `.then(r => r.arrayBuffer()).then(b => b.byteLength)`,
            );
            assert.equal(size, 9619);
            assert.match(await rawGet(s.url, "/mirror/0/../../../../etc/passwd"), / 400 /);
            assert.match(await rawGet(s.url, "/mirror/0/%2e%2e/%2e%2e/etc/passwd"), / 400 /);
            assert.match(await rawGet(s.url, "/assets/..%2f..%2fcli.ts"), / 400 /);
            assert.match(await rawGet(s.url, "/cli.ts"), / 404 /);
            assert.match(await rawGet(s.url, "/index.html", "POST"), / 405 /);
            noScriptRan(page);
          } finally {
            await s.stop();
          }
        },
      );

      await t.step("a tampered blob shows as failed in serve and in the report", async () => {
        const mirror = join(tmp, "tampered");
        await cp(fixture("v3-signed"), mirror, { recursive: true });
        const blob = join(mirror, "blobs/sha256/66", LIBFOO_TARBALL);
        const bytes = await readFile(blob);
        bytes[bytes.length - 20] ^= 0xff;
        await writeFile(blob, bytes);
        const s = await serve("-m", mirror, "-k", KEY());
        try {
          await page.goto(s.url + `verify.html?spec=${LIBFOO}`);
          await page.waitFor(`document.getElementById("result")`);
          assert.equal(
            await page.eval(`document.getElementById("result").dataset.result`),
            "error",
          );
          assert.match(
            await page.eval<string>(`document.getElementById("result").textContent`),
            /failed: .*sha256/i,
          );
          await shot(page, "serve-tampered-entry");
          await page.goto(s.url + "verify.html");
          await page.waitFor(`document.getElementById("result")`, 30000);
          assert.equal(
            await page.eval(`document.getElementById("result").dataset.result`),
            "problems",
          );
          await shot(page, "serve-tampered-mirror");
          await page.goto(s.url + `spec/${LIBFOO}.html`);
          const cv = await clientVerify(page);
          assert.equal(cv.result, "failed");
          assert.match(cv.text, /tarball: failed: .*digest is "sha256:/);
          await shot(page, "serve-tampered-client");
        } finally {
          await s.stop();
        }
        const site = join(tmp, "tampered-site");
        const r = await spackle("report", "-m", mirror, "-k", KEY(), "-o", site);
        assert.equal(r.code, 0, r.stderr);
        await page.goto(pathToFileURL(site).href + "/mirror.html");
        assert.ok(await page.eval<number>(`document.querySelectorAll("tr.k-corrupt").length`));
        assert.ok(
          (await page.eval<string>(`document.querySelector("tr.k-corrupt").textContent`))
            .includes(LIBFOO_TARBALL),
        );
        await shot(page, "file-tampered-mirror");
      });

      await t.step({
        name: "a report beside its mirror, served by nginx",
        ignore: !Deno.env.get("SPACKLE_TEST_HTTPS_SCRATCH"),
        fn: async () => {
          const name = `web-${crypto.randomUUID()}`;
          const mirror = join(Deno.env.get("SPACKLE_TEST_HTTPS_SCRATCH")!, name);
          await cp(fixture("v3-signed"), mirror, { recursive: true });
          try {
            const r = await spackle("report", "-m", mirror, "-k", KEY(), "--into", mirror);
            assert.equal(r.code, 0, r.stderr);
            await page.send("Security.setIgnoreCertificateErrors", { ignore: true });
            const base = `${Deno.env.get("SPACKLE_TEST_HTTPS_SCRATCH_URL")}${name}/`;
            await checkSite(page, base, "nginx");
            // Beside its mirror, the blob links are relative and reach the blobs.
            await page.goto(base + `spec/${LIBFOO}.html`);
            const status = await page.eval<number>(
              `fetch(document.querySelector("table.blobs a").href).then(r => r.status)`,
            );
            assert.equal(status, 200);
            // ... and the page re-verifies the entry in the browser.
            const cv = await clientVerify(page);
            assert.equal(cv.result, "ok", cv.text);
            await shot(page, "nginx-client-verify");
            assert.equal(await liveOpen(page, base, base), "4");
          } finally {
            await rm(mirror, { recursive: true, force: true });
          }
        },
      });

      await t.step("a v2 mirror, second of two, read and verified in the browser", async () => {
        const s = await serve("-m", fixture("v3-signed"), "-m", fixture("v2-signed"), "-k", KEY());
        try {
          await page.goto(s.url + "spec/4f3mj2wxorbeenbr5pmk7n7mkat6dlff.html");
          const cv = await clientVerify(page);
          assert.equal(cv.result, "ok", cv.text);
          assert.match(cv.text, /mirror: layout v2/);
          assert.match(cv.text, /metadata signature verified/);
          assert.equal(await liveOpen(page, s.url, s.url + "mirror/1/"), "4");
          await page.goto(s.url);
          assert.equal((await rowNames(page)).length, 8);
          // A URL of another origin is refused.
          assert.equal(await liveOpen(page, s.url, "https://example.invalid/mirror/"), "error");
          assert.match(
            await page.eval<string>(`document.getElementById("live-out").innerText`),
            /only mirrors of this site/,
          );
        } finally {
          await s.stop();
        }
      });

      await t.step("a hostile mirror's script-bearing names run no script", async () => {
        const mirror = join(tmp, "hostile");
        const g = await new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", join(REPO_ROOT, "scripts/gen_mirror.ts"), mirror, "8", "--hostile"],
          stdout: "null",
        }).output();
        assert.equal(g.code, 0);
        const site = join(tmp, "hostile-site");
        const r = await spackle("report", "-m", mirror, "-o", site);
        assert.equal(r.code, 0, r.stderr);
        const hostilePage = await browser.newPage();
        const base = pathToFileURL(site).href + "/";
        await hostilePage.goto(base + "index.html");
        const names = await rowNames(hostilePage);
        assert.ok(names.includes(`pkg00001<script>alert("name")<script>`), names.join("|"));
        assert.ok(names.includes(`pkg00003"><img src=x onerror=alert(1)>`));
        assert.equal(
          await hostilePage.eval(`document.querySelectorAll("img, svg[onload]").length`),
          0,
        );
        await shot(hostilePage, "hostile-index");
        for (const f of await readdir(join(site, "spec"))) {
          await hostilePage.goto(base + "spec/" + f);
          assert.equal(
            await hostilePage.eval(`document.querySelectorAll("script").length`),
            1,
            "only assets/app.js",
          );
        }
        await shot(hostilePage, "hostile-spec");
        const s = await serve("-m", mirror);
        try {
          await hostilePage.goto(s.url);
          await hostilePage.goto(s.url + "mirror.html");
          assert.equal((await rowNames(hostilePage)).length, 0);
        } finally {
          await s.stop();
        }
        noScriptRan(hostilePage);
      });
    } finally {
      await browser.close();
      await rm(tmp, { recursive: true, force: true });
    }
  },
});
