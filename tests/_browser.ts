/**
 * A headless browser for the page's tests: Debian's chromium-headless-shell
 * driven by puppeteer-core (pinned in deno.json; it never downloads a
 * browser). Tests skip, saying why, when the browser is not installed.
 */
import puppeteer, { type Browser } from "puppeteer-core";

/** Where Debian's package puts the browser. */
const CANDIDATES = [
  "/usr/bin/chromium-headless-shell",
  "/usr/lib/chromium/chromium-headless-shell",
];

/** The browser's path, or null when it is not installed. */
export function browserPath(): string | null {
  for (const path of CANDIDATES) {
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch {
      // not there
    }
  }
  return null;
}

/** Why the browser tests skip, or null when they run (printed once by the test file). */
export function skipReason(): string | null {
  if (browserPath() !== null) return null;
  return "chromium-headless-shell is not installed (apt-get install chromium-headless-shell)";
}

/**
 * Starts the browser. As root it needs --no-sandbox; /dev/shm may be small in
 * a container, hence --disable-dev-shm-usage.
 */
export async function launchBrowser(): Promise<Browser> {
  const executablePath = browserPath();
  if (executablePath === null) throw new Error(skipReason()!);
  return await puppeteer.launch({
    executablePath,
    headless: true,
    args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
  });
}

/** Where screenshots go when SOCKETKIT_SCREENSHOTS names a folder (docs/images to refresh the docs). */
export function screenshotDir(): string | null {
  return Deno.env.get("SOCKETKIT_SCREENSHOTS") || null;
}
