/**
 * The generated host module in a real browser: a page on localhost imports
 * the module (bundled with esbuild: only the module, no moeforge) and runs it
 * in headless Chromium (Debian's /usr/bin/chromium, SwiftShader); its outputs
 * and gradients equal the same module's run in Node (Dawn), value for value,
 * and the interpreter's. One model (the Switch layer, T = 7): the Node test
 * covers the others. In CI a missing Chromium is a failure; locally the suite
 * is skipped loudly.
 */
import { existsSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { build } from "esbuild";
import type { Browser } from "playwright-core";
import { afterAll, describe, expect, it } from "vitest";
import { webgpuForTests } from "../webgpu/test_device";
import { EXAMPLES, caseInputs, compileExample, importModule, relativeError, traceExample } from "./examples";
import { interpreterForwardBackward } from "./oracle";
import { runHarness, type HarnessJob, type HostModule } from "./page_harness";

const CHROMIUM = "/usr/bin/chromium";
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  if (process.env.CI) throw new Error(`the browser export test needs ${CHROMIUM} (apt-get install chromium)`);
  console.warn(`\n*** SKIPPING the headless-Chromium export test: ${CHROMIUM} is not installed\n`);
}
const ctx = haveChromium ? await webgpuForTests() : undefined;

let server: Server | undefined;
let browser: Browser | undefined;
let out: string | undefined;
afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  if (out) rmSync(out, { recursive: true, force: true });
});

describe.runIf(haveChromium && ctx)("an exported host module in headless Chromium", () => {
  it("runs the Switch layer forward and backward with the same results as in Node", async () => {
    const m = EXAMPLES[0]!;
    out = await compileExample(m, "wgsl");
    const traced = await traceExample(m);
    const T = 7;
    const { shapes, data, cotangents } = caseInputs(m, traced, T, "random", 5);
    const job: HarnessJob = {
      T,
      inputs: traced.inputs.leaves.map((l, i) => [l.path, Array.from(data[i]!)] as const),
      cotangents: traced.outputs.map((o, i) => [o.path, Array.from(cotangents[i]!.data)] as const),
      outputs: traced.outputs.map((o, i) => [o.path, cotangents[i]!.data.length] as const),
      gradients: traced.inputs.leaves.map((l, i) => [l.path, data[i]!.length] as const),
    };
    // The page: the generated module and the harness, bundled for the browser.
    const page = await build({
      stdin: {
        contents: `import { createSwitchLayer, readBuffer } from ${JSON.stringify(join(out, "switchLayer.ts"))};
import { runHarness } from ${JSON.stringify(new URL("./page_harness.ts", import.meta.url).pathname)};
globalThis.runJob = async (job) => {
  const adapter = await navigator.gpu.requestAdapter();
  const device = await adapter.requestDevice();
  return runHarness({ create: createSwitchLayer, readBuffer }, device, job);
};`,
        resolveDir: out,
        loader: "ts",
      },
      bundle: true,
      format: "esm",
      platform: "browser",
      write: false,
      metafile: true,
      logLevel: "silent",
    });
    const bundled = Object.keys(page.metafile.inputs);
    expect(bundled.filter((f) => !f.endsWith("page_harness.ts") && f !== "<stdin>")).toEqual([
      expect.stringMatching(/switchLayer\.ts$/),
    ]);
    const script = page.outputFiles[0]!.text;
    server = createServer((req, res) => {
      if (req.url === "/page.js") res.writeHead(200, { "content-type": "text/javascript" }).end(script);
      else
        res
          .writeHead(200, { "content-type": "text/html" })
          .end(`<!doctype html><script type="module" src="/page.js"></script>`);
    });
    await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
    const { chromium } = await import("playwright-core");
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ["--enable-unsafe-webgpu", "--no-sandbox"],
    });
    const tab = await browser.newPage();
    const errors: string[] = [];
    tab.on("pageerror", (e) => errors.push(e.message));
    await tab.goto(`http://localhost:${(server.address() as AddressInfo).port}/`);
    await tab.waitForFunction(() => "runJob" in globalThis);
    const inBrowser = await tab.evaluate(
      (j) => (globalThis as unknown as { runJob(j: unknown): Promise<Record<string, number[]>> }).runJob(j),
      job,
    );
    expect(errors).toEqual([]);

    const mod = await importModule(out, "switchLayer");
    const inNode = await runHarness(
      { create: mod.createSwitchLayer as HostModule["create"], readBuffer: mod.readBuffer as HostModule["readBuffer"] },
      ctx!.device,
      job,
    );
    expect(Object.keys(inBrowser).sort()).toEqual(Object.keys(inNode).sort());
    for (const k of Object.keys(inNode)) expect(inBrowser[k], k).toEqual(inNode[k]);

    const want = interpreterForwardBackward(
      traced.program,
      shapes.map((shape, i) => ({ shape, data: data[i]! })),
      cotangents,
    );
    expect(relativeError(inBrowser["output output"]!, want.outputs[0]!)).toBeLessThan(1e-4);
    traced.inputs.leaves.forEach((l, i) =>
      expect(relativeError(inBrowser[`gradient ${l.path}`]!, want.gradients[i]!), l.path).toBeLessThan(1e-4),
    );
  }, 240_000);
});
