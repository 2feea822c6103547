/**
 * The `webgpu` backend: compiles a Program for the WGSL target (once per
 * program: `jit` already caches programs per input signature), uploads host
 * inputs, submits the launch schedule, and returns tensors that stay on the
 * device (`await t.data()` reads them). Needs `await initWebGPU()` once.
 */
import { compile } from "../../codegen/compile";
import "../../codegen/emit/wgsl"; // registers the WGSL emitter with compile()
import type { Program } from "../../dsl/program";
import { resolveShape, shapeToString } from "../../dsl/shape";
import { Tensor } from "../../dsl/tensor";
import { bindDims } from "../../dsl/trace";
import type { Backend, RunOptions as BackendRunOptions } from "../registry";
import { allocArray, releaseArray, uploadArray, type DeviceArray } from "./buffers";
import { requireWebGPU, webgpuAvailability, type WebGPUContext } from "./device";
import { WebGPUExecutable, type LaunchTime, type RunOptions } from "./executor";
import { runtimeFor } from "./runtime";
import { webgpuTuning } from "./tuning";
import { WebGPUValue, webgpuValueOf } from "./value";

const executables = new WeakMap<Program, WeakMap<WebGPUContext, Map<string, WebGPUExecutable>>>();

/**
 * The compiled form of `program` on a device (WGSL bundle + pipelines), made on first use.
 * `checks` (default true) compiles the run-time index and group-size checks in. The schedule is the
 * default one, or the adapter's tuned knobs (`webgpuTuning`: `npm run webgpu:tune -- --save`).
 * @example webgpuExecutable(program, await initWebGPU()).bundle.kernels.length
 */
export function webgpuExecutable(
  program: Program,
  ctx: WebGPUContext = requireWebGPU(),
  checks = true,
): WebGPUExecutable {
  let byCtx = executables.get(program);
  if (!byCtx) executables.set(program, (byCtx = new WeakMap()));
  let byChecks = byCtx.get(ctx);
  if (!byChecks) byCtx.set(ctx, (byChecks = new Map()));
  const knobs = webgpuTuning(ctx);
  const key = `${checks}|${knobs ? JSON.stringify(knobs) : ""}`;
  let exe = byChecks.get(key);
  if (!exe) {
    const rt = runtimeFor(ctx);
    const bundle = compile(program, {
      target: "wgsl",
      checks,
      device: ctx.deviceProfile,
      ...(knobs ? { knobs } : {}),
    });
    exe = new WebGPUExecutable(ctx, rt.pool, rt.pipelines, bundle);
    byChecks.set(key, exe);
  }
  return exe;
}

/**
 * Runs `program` on a WebGPU context: host inputs are uploaded, webgpu inputs
 * used in place; returns device tensors (one per program output).
 */
export function runOnWebGPU(
  ctx: WebGPUContext,
  program: Program,
  inputs: readonly Tensor[],
  options: BackendRunOptions = {},
): Tensor[] {
  return submitOnWebGPU(ctx, program, inputs, {}, options.checks ?? true).outputs;
}

/**
 * Runs `program` once with every launch timed on the device (timestamp
 * queries; the device needs the `timestamp-query` feature).
 * @example
 * const times = await profileOnWebGPU(ctx, program, inputs);
 * times.sort((a, b) => b.ms - a.ms)[0]; // the slowest kernel
 */
export async function profileOnWebGPU(
  ctx: WebGPUContext,
  program: Program,
  inputs: readonly Tensor[],
): Promise<LaunchTime[]> {
  const { launchTimes } = submitOnWebGPU(ctx, program, inputs, { timeLaunches: true });
  return launchTimes!;
}

function submitOnWebGPU(
  ctx: WebGPUContext,
  program: Program,
  inputs: readonly Tensor[],
  options: RunOptions = {},
  checks = true,
): { outputs: Tensor[]; launchTimes?: Promise<LaunchTime[]> } {
  const dims = bindDims(program, inputs, "webgpu backend");
  const exe = webgpuExecutable(program, ctx, checks);
  const rt = runtimeFor(ctx);
  const uploaded = new Map<DeviceArray, number>();
  const arrays = inputs.map((t, i) => {
    const dev = webgpuValueOf(t);
    if (dev) {
      if (dev.ctx !== ctx)
        throw new Error(
          `webgpu backend: input ${i} lives on another WebGPU device; read it (await t.data()) and pass the host tensor`,
        );
      if (dev.isReleased)
        throw new Error(
          `webgpu backend: input ${i} (${t.dtype}${shapeToString(t.shape)}) was released (dispose() or releaseWebGPU())`,
        );
      return dev.array;
    }
    if (t.isDevice)
      throw new Error(
        `webgpu backend: input ${i} (${t.dtype}${shapeToString(t.shape)}) lives on another backend's device; ` +
          "read it to the host first (await t.data())",
      );
    if (t.isTracer) throw new Error(`webgpu backend: input ${i} is a traced value; run programs on concrete tensors`);
    const host = t._value();
    const a = allocArray(ctx, rt.pool, host.dtype, host.size);
    uploadArray(ctx, a, host.data);
    uploaded.set(a, i);
    return a;
  });
  const sub = exe.run(dims, arrays, options);
  // One value per distinct output array: a program returning x twice gives two tensors sharing one buffer.
  const values = new Map<DeviceArray, WebGPUValue>();
  inputs.forEach((t, i) => {
    const dev = webgpuValueOf(t);
    if (dev) values.set(arrays[i]!, dev);
  });
  const outs = program.outputs.map((v, i) => {
    const a = sub.outputs[i]!;
    let value = values.get(a);
    if (!value) {
      // Fresh outputs and uploaded inputs returned as outputs are owned by the new value; constants are not.
      const owned = sub.owned[i] || uploaded.has(a);
      const shape = resolveShape(v.shape, dims);
      value = new WebGPUValue(ctx, a, v.dtype, shape, sub.done, owned ? rt.pool : undefined, sub.pace);
      values.set(a, value);
      uploaded.delete(a);
    }
    return Tensor._device(value);
  });
  for (const a of uploaded.keys()) releaseArray(rt.pool, a); // queue order: the submitted work reads them first
  return { outputs: outs, ...(sub.launchTimes ? { launchTimes: sub.launchTimes } : {}) };
}

export const webgpuBackend: Backend = {
  name: "webgpu",
  available: webgpuAvailability,
  run(program: Program, inputs: readonly Tensor[], options: BackendRunOptions = {}): Tensor[] {
    return runOnWebGPU(requireWebGPU(), program, inputs, options);
  },
};
