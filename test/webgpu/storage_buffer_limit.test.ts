/**
 * On a Dawn device requested with WebGPU's default limits (8 storage buffers
 * per shader stage, what a page gets without asking): the benchmark layer
 * (small sizes, the same kernels) and a layer whose gathered gate+up GEMM
 * checks its indices run with the checks in and equal the interpreter, every
 * kernel within the device's limit (the runtime refuses a wider one).
 */
import { afterAll, describe, expect, it } from "vitest";
import { runOnWebGPU, webgpuExecutable } from "../../backends/webgpu/index";
import type { WebGPUContext } from "../../backends/webgpu/device";
import { moeInputs, moePrograms } from "../../bench/moe_layer";
import type { Program } from "../../dsl/program";
import type { Tensor } from "../../dsl/tensor";
import { mulberry32, randomFloats, runAndCompare } from "../../testing/random_programs";
import { gatheredInputs, gatheredLayer } from "../codegen/binding_limit_cases";
import { separateWebGPUForTests } from "./test_device";

/** Dawn's GPU and adapter stay referenced while the device is in use (Dawn crashes when they are collected). */
const keepAlive: unknown[] = [];

async function defaultLimitsDevice(): Promise<GPUDevice> {
  const specifier = "webgpu";
  const dawn = (await import(/* @vite-ignore */ specifier)) as { create(options: string[]): GPU };
  const gpu = dawn.create([]);
  const adapter = await gpu.requestAdapter();
  if (!adapter) throw new Error("Dawn found no adapter");
  keepAlive.push(gpu, adapter);
  return adapter.requestDevice(); // no requiredLimits: the defaults
}

const ctx: WebGPUContext | undefined = await separateWebGPUForTests({ device: await defaultLimitsDevice() }).catch(
  (e: Error) => {
    if (process.env.CI) throw e;
    console.warn(`\n*** SKIPPING WebGPU default-limits tests: ${e.message}\n`);
    return undefined;
  },
);
afterAll(() => ctx?.device.destroy());

const onDefaultLimits = (p: Program, xs: readonly Tensor[]) => runOnWebGPU(ctx!, p, xs);

function expectWithinLimit(program: Program): void {
  const kernels = webgpuExecutable(program, ctx!).bundle.kernels;
  const wide = kernels.filter((k) => k.params.length > ctx!.maxStorageBuffersPerStage);
  expect(wide.map((k) => `${k.name}: ${k.params.length}`)).toEqual([]);
}

describe.runIf(ctx)("webgpu, a device with the default limits", () => {
  it("the device has WebGPU's default 8 storage buffers per stage", () => {
    expect(ctx!.maxStorageBuffersPerStage).toBe(8);
  });

  it("a layer with a checked gather in its gate+up GEMM: forward and gradient equal the interpreter", async () => {
    const sizes = { T: 13, D: 6, H: 5, E: 4, K: 2 };
    const { forward, gradient } = gatheredLayer(sizes);
    await runAndCompare(onDefaultLimits, forward, gatheredInputs(sizes, 5, false));
    await runAndCompare(onDefaultLimits, gradient, gatheredInputs(sizes, 6, true));
    for (const p of [forward, gradient]) expectWithinLimit(p);
  }, 600_000);

  it("the benchmark layer (T = 37, D = 8, H = 16, E = 4, top-2): forward and gradient equal the interpreter", async () => {
    const cfg = { T: 37, D: 8, H: 16, E: 4, K: 2 };
    const { forward, gradient } = moePrograms(cfg);
    const inputs = moeInputs(cfg, 7);
    await runAndCompare(onDefaultLimits, forward, inputs);
    await runAndCompare(onDefaultLimits, gradient, [...inputs, randomFloats(mulberry32(8), "f32", [])]);
    for (const p of [forward, gradient]) expectWithinLimit(p);
  }, 600_000);
});
