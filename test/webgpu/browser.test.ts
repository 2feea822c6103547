/**
 * The WebGPU runtime in a real browser: headless Chromium (Debian's
 * /usr/bin/chromium, SwiftShader without a GPU) loads a page from a localhost
 * server (navigator.gpu needs a secure context), runs WGSL bundles compiled
 * in Node with the same runtime the Node backend uses, and the outputs must
 * equal the interpreter's. 3 programs per run (a fused elementwise chain, a
 * softmax of a matmul, and the gradient of a small loss).
 * In CI a missing Chromium is a failure; locally the suite is skipped loudly.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { compile } from "../../codegen/compile";
import { grad, ops, trace, type Tensor } from "../../index";
import { evalProgram } from "../../dsl/trace";
import type { Program } from "../../dsl/program";
import { mulberry32, randomFloats, relativeError } from "../../testing/random_programs";
import type { BrowserJob } from "./browser_runner";
import { chromiumAvailable, servePage, type PageServer } from "../helpers/chromium_page";
import type { Page } from "playwright-core";

const haveChromium = chromiumAvailable("the headless-Chromium WebGPU test");

let server: PageServer | undefined;
let page: Page | undefined;

async function runnerScript(): Promise<string> {
  const out = await build({
    entryPoints: [fileURLToPath(new URL("./browser_runner.ts", import.meta.url))],
    bundle: true,
    format: "esm",
    platform: "browser",
    write: false,
    logLevel: "silent",
  });
  return out.outputFiles[0]!.text;
}

function job(program: Program, inputs: readonly Tensor[]): BrowserJob {
  const bundle = compile(program, { target: "wgsl" });
  return { bundle, inputs: inputs.map((t) => ({ type: t.dtype, data: Array.from(t.dataSync()) })), dims: [] };
}

async function runInPage(program: Program, inputs: readonly Tensor[]): Promise<{ adapter: string; errors: number[] }> {
  const result = await page!.evaluate(
    (j) =>
      (
        globalThis as unknown as { moeforgeRunJob(j: unknown): Promise<{ adapter: string; outputs: number[][] }> }
      ).moeforgeRunJob(j),
    job(program, inputs),
  );
  const want = evalProgram(program, inputs);
  return { adapter: result.adapter, errors: want.map((w, i) => relativeError(result.outputs[i]!, w.dataSync())) };
}

describe.runIf(haveChromium)("WebGPU in headless Chromium", () => {
  beforeAll(async () => {
    server = await servePage(await runnerScript(), { readyGlobal: "moeforgeRunJob" });
    page = server.page;
  });

  afterAll(async () => {
    await server?.close();
    expect(server?.errors ?? [], "errors the page threw").toEqual([]);
  });

  it("the page has navigator.gpu and an adapter", async () => {
    const info = await page!.evaluate(async () => {
      const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
      return { hasGpu: gpu !== undefined, adapter: gpu ? (await gpu.requestAdapter()) !== null : false };
    });
    expect(info).toEqual({ hasGpu: true, adapter: true });
  });

  it("fused elementwise chain, softmax of a matmul, and a gradient program equal the interpreter", async () => {
    const rng = mulberry32(3);
    const x = randomFloats(rng, "f32", [7, 5]);
    const w = randomFloats(rng, "f32", [5, 13]);
    const cases: [string, Program, Tensor[]][] = [
      ["elementwise", trace((a: Tensor) => ops.tanh(ops.add(ops.mul(ops.exp(a), 0.5), ops.sin(a))), x), [x]],
      ["softmax(x @ w)", trace((a: Tensor, b: Tensor) => ops.softmax(ops.matmul(a, b), -1), x, w), [x, w]],
      [
        "grad",
        trace(
          grad((a: Tensor, b: Tensor) => ops.sum(ops.square(ops.relu(ops.matmul(a, b)))), { argnums: [0, 1] }),
          x,
          w,
        ),
        [x, w],
      ],
    ];
    for (const [name, program, inputs] of cases) {
      const { adapter, errors } = await runInPage(program, inputs);
      expect(adapter, name).toMatch(/\S/);
      for (const e of errors) expect(e, name).toBeLessThanOrEqual(1e-4);
    }
  });
});
