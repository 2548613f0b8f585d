/**
 * A small DevTools-protocol client driving a headless Chromium (Debian's `chromium`, or the
 * executable `SPACKLE_CHROMIUM` names) for the web view's tests: navigate, evaluate, press
 * keys, take screenshots, and record every JavaScript dialog, console message and exception a
 * page produces (a hostile mirror must produce none). Nothing is ever downloaded.
 *
 * @module
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The Chromium executable, or undefined when none is installed (tests then skip). */
export const CHROMIUM: string | undefined = (() => {
  const named = Deno.env.get("SPACKLE_CHROMIUM");
  if (named) return named;
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    for (const n of ["chromium", "chromium-browser"]) {
      try {
        if (Deno.statSync(join(dir, n)).isFile) return join(dir, n);
      } catch { /* next */ }
    }
  }
  return undefined;
})();

type Msg = {
  id?: number;
  method?: string;
  params?: any;
  result?: any;
  error?: any;
  sessionId?: string;
};

/** A page (one tab) of the browser. */
export class Page {
  /** `alert`/`confirm`/`prompt` dialogs opened (a script ran). */
  dialogs: string[] = [];
  /** Uncaught exceptions. */
  exceptions: string[] = [];
  /** console.* calls. */
  console: string[] = [];
  private loaded: (() => void)[] = [];

  constructor(private browser: Browser, readonly sessionId: string) {}

  send(method: string, params: Record<string, unknown> = {}): Promise<any> {
    return this.browser.send(method, params, this.sessionId);
  }

  /** @internal */
  event(m: Msg): void {
    if (m.method === "Page.javascriptDialogOpening") {
      this.dialogs.push(String(m.params.message));
      void this.send("Page.handleJavaScriptDialog", { accept: true }).catch(() => {});
    } else if (m.method === "Runtime.exceptionThrown") {
      this.exceptions.push(JSON.stringify(m.params.exceptionDetails));
    } else if (m.method === "Runtime.consoleAPICalled") {
      this.console.push(m.params.args.map((a: any) => a.value ?? a.description).join(" "));
    } else if (m.method === "Page.loadEventFired") {
      for (const f of this.loaded.splice(0)) f();
    }
  }

  /** Navigates and waits for the load event. */
  async goto(url: string): Promise<void> {
    const loaded = new Promise<void>((r) => this.loaded.push(r));
    const res = await this.send("Page.navigate", { url });
    if (res.errorText) throw new Error(`navigation to ${url} failed: ${res.errorText}`);
    await loaded;
  }

  /** Evaluates an expression in the page (awaiting promises), returning its value. */
  async eval<T = unknown>(expression: string): Promise<T> {
    const r = await this.send("Runtime.evaluate", {
      expression,
      awaitPromise: true,
      returnByValue: true,
    });
    if (r.exceptionDetails) {
      throw new Error(`evaluation failed: ${JSON.stringify(r.exceptionDetails)}`);
    }
    return r.result.value as T;
  }

  /**
   * Waits until `expression` is truthy (polling), or throws after `ms`. A poll that meets a
   * navigation (a click that loads another page) is tried again on the new page.
   */
  async waitFor(expression: string, ms = 15000): Promise<void> {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      try {
        if (await this.eval(`!!(${expression})`)) return;
      } catch (e) {
        const navigating = /navigated or closed|context was destroyed|Cannot find context/;
        if (!navigating.test((e as Error).message)) throw e;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`timed out waiting for ${expression}`);
  }

  /** Types text as key presses (into the focused element). */
  async type(text: string): Promise<void> {
    for (const ch of text) {
      await this.send("Input.dispatchKeyEvent", { type: "keyDown", key: ch, text: ch });
      await this.send("Input.dispatchKeyEvent", { type: "keyUp", key: ch });
    }
  }

  /** Presses a named key (Tab, Enter, ...). */
  async press(key: string, code = key, keyCode?: number, text?: string): Promise<void> {
    const base = { key, code, windowsVirtualKeyCode: keyCode, nativeVirtualKeyCode: keyCode };
    await this.send("Input.dispatchKeyEvent", {
      type: text ? "keyDown" : "rawKeyDown",
      ...base,
      ...(text ? { text, unmodifiedText: text } : {}),
    });
    await this.send("Input.dispatchKeyEvent", { type: "keyUp", ...base });
  }

  /** Sets the viewport size (and emulated colour scheme). */
  async viewport(width: number, height: number, scheme?: "light" | "dark"): Promise<void> {
    await this.send("Emulation.setDeviceMetricsOverride", {
      width,
      height,
      deviceScaleFactor: 1,
      mobile: width < 700,
    });
    if (scheme) {
      await this.send("Emulation.setEmulatedMedia", {
        features: [{ name: "prefers-color-scheme", value: scheme }],
      });
    }
  }

  /** Writes a PNG screenshot of the page. */
  async screenshot(path: string, fullPage = true): Promise<void> {
    const r = await this.send("Page.captureScreenshot", {
      format: "png",
      captureBeyondViewport: fullPage,
    });
    await writeFile(path, Uint8Array.from(atob(r.data), (c) => c.charCodeAt(0)));
  }

  close(): Promise<void> {
    return this.browser.send("Target.detachFromTarget", { sessionId: this.sessionId }).then(
      () => {},
      () => {},
    );
  }
}

/** A running headless Chromium. */
export class Browser {
  private next = 1;
  private waiting = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  private pages = new Map<string, Page>();

  private constructor(
    private ws: WebSocket,
    private child: Deno.ChildProcess,
    private profile: string,
  ) {
    ws.onmessage = (ev) => {
      const m = JSON.parse(ev.data) as Msg;
      if (m.id !== undefined) {
        const w = this.waiting.get(m.id);
        this.waiting.delete(m.id);
        if (m.error) w?.reject(new Error(`${m.error.message}`));
        else w?.resolve(m.result);
      } else if (m.sessionId) this.pages.get(m.sessionId)?.event(m);
    };
  }

  /** Starts Chromium headless with a fresh profile. */
  static async launch(): Promise<Browser> {
    if (!CHROMIUM) throw new Error("no chromium executable");
    const profile = await mkdtemp(join(tmpdir(), "spackle-chromium-"));
    const child = new Deno.Command(CHROMIUM, {
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--remote-debugging-port=0",
        `--user-data-dir=${profile}`,
        "about:blank",
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    const portFile = join(profile, "DevToolsActivePort");
    let text = "";
    for (let i = 0; i < 300 && !text.includes("\n"); i++) {
      text = await readFile(portFile, "utf8").catch(() => "");
      if (!text.includes("\n")) await new Promise((r) => setTimeout(r, 50));
    }
    const [port, path] = text.trim().split("\n");
    if (!port) {
      child.kill("SIGKILL");
      throw new Error("chromium did not start its DevTools endpoint");
    }
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`);
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = reject;
    });
    return new Browser(ws, child, profile);
  }

  send(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<any> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
    });
  }

  /** Opens a new tab, with the domains the tests use enabled. */
  async newPage(): Promise<Page> {
    const { targetId } = await this.send("Target.createTarget", { url: "about:blank" });
    const { sessionId } = await this.send("Target.attachToTarget", { targetId, flatten: true });
    const page = new Page(this, sessionId);
    this.pages.set(sessionId, page);
    await page.send("Page.enable");
    await page.send("Runtime.enable");
    return page;
  }

  /** Stops the browser and removes its profile. */
  async close(): Promise<void> {
    await this.send("Browser.close").catch(() => {});
    this.ws.close();
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 5000);
    await this.child.status;
    clearTimeout(timer);
    await rm(this.profile, { recursive: true, force: true });
  }
}
