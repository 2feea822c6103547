/**
 * Pages in headless Chromium for the browser tests: Debian's /usr/bin/chromium
 * (SwiftShader without a GPU; flags from /work/shared/WEBGPU-ON-CPU.md), a
 * localhost server (navigator.gpu needs a secure context) serving one ES
 * module script, and the page that loaded it.
 */
import { existsSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { Page } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";

/**
 * Whether Chromium is installed. In CI its absence fails the test file (naming `what` needs it);
 * locally the caller skips, loudly.
 */
export function chromiumAvailable(what: string): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.env.CI) throw new Error(`${what} needs ${CHROMIUM} (apt-get install chromium; scripts/setup.sh does it)`);
  console.warn(`\n*** SKIPPING ${what}: ${CHROMIUM} is not installed\n`);
  return false;
}

export interface PageServer {
  readonly page: Page;
  /** Uncaught errors the page has thrown so far. */
  readonly errors: readonly string[];
  close(): Promise<void>;
}

/**
 * Serves `script` as /app.js on 127.0.0.1 and opens it in Chromium. Waits for the load event and, with
 * `readyGlobal`, until the script has defined that global; an error thrown by the page meanwhile fails.
 */
export async function servePage(script: string, options: { readonly readyGlobal?: string } = {}): Promise<PageServer> {
  const server = createServer((req, res) => {
    if (req.url === "/app.js") res.writeHead(200, { "content-type": "text/javascript" }).end(script);
    else
      res
        .writeHead(200, { "content-type": "text/html" })
        .end(`<!doctype html><script type="module" src="/app.js"></script>`);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { chromium } = await import("playwright-core");
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--enable-unsafe-webgpu", "--no-sandbox"],
  });
  const close = async () => {
    await browser.close();
    await new Promise((resolve) => server.close(resolve));
  };
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`http://localhost:${(server.address() as AddressInfo).port}/`);
  await page.waitForLoadState("load");
  if (options.readyGlobal !== undefined) await page.waitForFunction((name) => name in globalThis, options.readyGlobal);
  if (errors.length) {
    await close();
    throw new Error(`the page failed: ${errors.join("; ")}`);
  }
  return { page, errors, close };
}
