/**
 * A page for headless Chromium: a localhost server (navigator.gpu needs a secure
 * context) serving one ES module script, and the page that loaded it.
 * Flags from /work/shared/WEBGPU-ON-CPU.md (SwiftShader without a GPU).
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { Page } from "playwright-core";

export interface PageServer {
  readonly page: Page;
  close(): Promise<void>;
}

/** Serves `script` as /app.js on 127.0.0.1 and opens it in Chromium; page errors fail loudly. */
export async function servePage(chromiumPath: string, script: string): Promise<PageServer> {
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
    executablePath: chromiumPath,
    headless: true,
    args: ["--enable-unsafe-webgpu", "--no-sandbox"],
  });
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`http://localhost:${(server.address() as AddressInfo).port}/`);
  await page.waitForLoadState("load");
  if (errors.length) throw new Error(`the page failed: ${errors.join("; ")}`);
  return {
    page,
    async close() {
      await browser.close();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
