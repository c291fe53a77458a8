/**
 * The page in a real browser (chromium-headless-shell, puppeteer-core)
 * against an in-process server with the chat, file and web services: chat
 * with a TCP member, /msg, markup shown as text, uploads by the file input
 * and by a drop (progress to 100 %, fetched back over the TCP file service
 * byte for byte), a download, the status view, the tabs by keyboard.
 * Skips, saying why, without the browser. With SOCKETKIT_SCREENSHOTS=DIR it
 * saves the three views as PNG there (docs/images for the manual).
 */
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { join as joinPath } from "node:path";
import type { Browser, Page } from "puppeteer-core";
import { join, until } from "../_chat.ts";
import { runCli } from "../_helpers.ts";
import { InProcessServer } from "../_in_process.ts";
import { launchBrowser, screenshotDir, skipReason } from "../_browser.ts";

// The functions given to page.evaluate and waitForFunction run in the page; these names are the
// page's globals, declared for this module only (the DOM library would clash with Deno's types).
// deno-lint-ignore no-explicit-any
declare const document: any;
// deno-lint-ignore no-explicit-any
declare const DataTransfer: any;
// deno-lint-ignore no-explicit-any
declare const DragEvent: any;

const CHAT = "[Chat Server]";
const FILES = "[File Server]";
const WEB = "[Web Server]";
const WAIT = 15_000;

const skip = skipReason();
if (skip) console.log(`web_browser_test.ts: skipped: ${skip}`);

interface Fixture {
  server: InProcessServer;
  browser: Browser;
  page: Page;
  base: string;
  tmp: string;
}

/** Runs `fn` with a server, a browser and a page on it; everything closed afterwards. */
async function withPage(fn: (f: Fixture) => Promise<void>): Promise<void> {
  const tmp = await Deno.makeTempDir({ prefix: "socketkit-browser-test-" });
  const server = await InProcessServer.start(
    ["--services", "chat,files,web", "--files-dir", joinPath(tmp, "store")],
    [CHAT, FILES, WEB],
  );
  let browser: Browser | null = null;
  try {
    browser = await launchBrowser();
    const page = await browser.newPage();
    await page.setViewport({ width: 1000, height: 720 });
    const problems: string[] = [];
    page.on("pageerror", (error) => problems.push(String(error)));
    page.on("console", (message) => {
      if (message.type() === "error") problems.push(message.text());
    });
    const base = `http://127.0.0.1:${server.port(WEB)}`;
    await page.goto(base + "/", { waitUntil: "load" });
    await fn({ server, browser, page, base, tmp });
    // No script error and no CSP violation on the way (a violation is a console error).
    deepStrictEqual(problems, []);
  } finally {
    await browser?.close();
    await server[Symbol.asyncDispose]();
    await Deno.remove(tmp, { recursive: true });
  }
}

/** Joins the chat in the page as `name`. */
async function joinChat(page: Page, name: string): Promise<void> {
  await page.type("#join-name", name);
  await page.keyboard.press("Enter");
  await page.waitForSelector("#chat:not(.hidden)", { timeout: WAIT });
}

/** Waits until some line of the chat log contains `text`; returns that line's text. */
async function logLine(page: Page, text: string): Promise<string> {
  const handle = await page.waitForFunction(
    (wanted: string) =>
      [...document.querySelectorAll("#log li")].map((li) => li.textContent ?? "")
        .find((line) => line.includes(wanted)),
    { timeout: WAIT },
    text,
  );
  return String(await handle.jsonValue());
}

async function screenshot(page: Page, name: string): Promise<void> {
  const dir = screenshotDir();
  if (dir) await page.screenshot({ path: joinPath(dir, name) as `${string}.png`, fullPage: true });
}

/** The file `name` as the TCP file service gives it, through `socketkit connect download`. */
async function downloadOverTcp(f: Fixture, name: string): Promise<Uint8Array> {
  const output = joinPath(f.tmp, "back-" + name.replaceAll("/", "_"));
  const result = await runCli([
    "connect",
    "download",
    name,
    "--output",
    output,
    "--file-port",
    String(f.server.port(FILES)),
  ]);
  equal(result.code, 0, result.stderr);
  return await Deno.readFile(output);
}

function randomBytes(size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i += 65536) crypto.getRandomValues(bytes.subarray(i, i + 65536));
  return bytes;
}

Deno.test({
  name: "web page: chat with a TCP member, /msg, and markup from it shown as text",
  ignore: skip !== null,
  fn: () =>
    withPage(async ({ server, page }) => {
      using nc = await join(server.port(CHAT), "nc");
      await nc.send("before you came\n");
      await joinChat(page, "webby");
      await logLine(page, "before you came"); // the history
      await until(nc, /^\* webby joined$/);
      await page.waitForFunction(
        () => document.querySelector("#members")?.textContent?.includes("nc"),
        { timeout: WAIT },
      );
      await page.type("#say", "hello from the browser");
      await page.keyboard.press("Enter");
      await until(nc, /^\[\d\d:\d\d:\d\d\] webby: hello from the browser$/);
      await logLine(page, "hello from the browser"); // echoed with the server's time
      const payload = `<img src=x onerror="document.title='owned'"><script>alert(1)</script>`;
      await nc.send(payload + "\n");
      const shown = await logLine(page, "<img src=x");
      ok(shown.includes(payload), shown);
      equal(await page.$$eval("#log img, #log script", (nodes) => nodes.length), 0);
      ok(!(await page.title()).includes("owned"));
      await nc.send("/msg webby a secret\n");
      const secret = await logLine(page, "a secret");
      ok(secret.includes("(private) nc"), secret);
      equal(
        await page.$$eval("#log li.private", (items) => items.length),
        1,
      );
      await screenshot(page, "web-chat.png");
    }),
});

Deno.test({
  name:
    "web page: uploads by the file input and by a drop reach 100 %, same bytes over TCP; a download",
  ignore: skip !== null,
  fn: () =>
    withPage(async (f) => {
      const { page, browser, tmp } = f;
      await page.click("#tab-files");
      await page.waitForSelector("#view-files:not(.hidden)");
      const picked = randomBytes(3 * 1024 * 1024 + 17);
      const pickedPath = joinPath(tmp, "picked.bin");
      await Deno.writeFile(pickedPath, picked);
      const input = await page.$("#pick-files");
      // deno-lint-ignore no-explicit-any
      await (input as any).uploadFile(pickedPath);
      await page.waitForFunction(
        () => document.querySelector("#total-text")?.textContent === "100 %",
        { timeout: WAIT },
      );
      await page.waitForSelector("#upload-list li.done", { timeout: WAIT });
      deepStrictEqual(await downloadOverTcp(f, "picked.bin"), picked);

      // A synthetic drop: a DataTransfer built in the page, as a drag from the desktop would be.
      const dropped = await page.evaluate(async () => {
        const bytes = new Uint8Array(200_000);
        for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31 + 7) % 251;
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], "dropped.bin"));
        const zone = document.querySelector("#drop")!;
        zone.dispatchEvent(new DragEvent("dragover", { dataTransfer: transfer, bubbles: true }));
        zone.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true }));
        const digest = await crypto.subtle.digest("SHA-256", bytes);
        return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
      });
      await page.waitForFunction(
        () =>
          document.querySelectorAll("#upload-list li.done").length === 2 &&
          document.querySelector("#total-text")?.textContent === "100 %",
        { timeout: WAIT },
      );
      const back = await downloadOverTcp(f, "dropped.bin");
      equal(await sha256Hex(back), dropped);

      // The listing shows both, with download links; the filter narrows it.
      await page.waitForFunction(
        () => document.querySelectorAll("#listing a[download]").length === 2,
        { timeout: WAIT },
      );
      await page.type("#filter", "drop");
      equal(await page.$$eval("#listing a[download]", (links) => links.length), 1);
      await screenshot(page, "web-files.png");

      // A download: the browser saves what the link points at.
      const downloads = joinPath(tmp, "downloads");
      await Deno.mkdir(downloads);
      const cdp = await browser.target().createCDPSession();
      await cdp.send("Browser.setDownloadBehavior", {
        behavior: "allow",
        downloadPath: downloads,
        eventsEnabled: true,
      });
      const done = new Promise<void>((resolve, reject) => {
        cdp.on("Browser.downloadProgress", (event) => {
          if (event.state === "completed") resolve();
          if (event.state === "canceled") reject(new Error("download canceled"));
        });
      });
      await page.click("#listing a[download]");
      await done;
      await cdp.detach();
      const saved = await Deno.readFile(joinPath(downloads, "dropped.bin"));
      equal(await sha256Hex(saved), dropped);
    }),
});

Deno.test({
  name: "web page: the status view updates as members come; the tabs work by keyboard",
  ignore: skip !== null,
  fn: () =>
    withPage(async ({ server, page }) => {
      await page.focus("#tab-chat");
      await page.keyboard.press("ArrowRight");
      await page.waitForSelector("#view-files:not(.hidden)");
      await page.keyboard.press("ArrowRight");
      await page.waitForSelector("#view-status:not(.hidden)");
      equal(await page.evaluate(() => document.activeElement?.id), "tab-status");
      const members = (count: number) =>
        page.waitForFunction(
          (n: number) => {
            const terms = [...document.querySelectorAll("#counters dt")];
            const at = terms.findIndex((dt) => dt.textContent === "chat members");
            return at >= 0 && terms[at]!.nextElementSibling?.textContent === String(n);
          },
          { timeout: WAIT },
          count,
        );
      await members(0);
      using _ann = await join(server.port(CHAT), "ann");
      using bob = await join(server.port(CHAT), "bob");
      await bob.send("/join #games\n");
      await members(2);
      // The members by room, from /status.
      await page.waitForFunction(
        () =>
          [...document.querySelectorAll("#rooms-status .room-members")]
            .map((box: { textContent: string }) => box.textContent)
            .join("|") === "#games (1)bob|#lobby (1)ann",
        { timeout: WAIT },
      );
      await screenshot(page, "web-status.png");
    }),
});

Deno.test({
  name: "web page: on a phone-sized screen no view scrolls sideways",
  ignore: skip !== null,
  fn: () =>
    withPage(async ({ page }) => {
      await page.setViewport({ width: 360, height: 640, isMobile: true, hasTouch: true });
      await joinChat(page, "phone");
      for (const view of ["chat", "files", "status"]) {
        await page.click(`#tab-${view}`);
        await page.waitForSelector(`#view-${view}:not(.hidden)`);
        const [scroll, client] = await page.evaluate(() => [
          document.documentElement.scrollWidth,
          document.documentElement.clientWidth,
        ]);
        ok(scroll <= client, `${view}: ${scroll} px wide in ${client}`);
      }
    }),
});

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new Uint8Array(bytes));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
