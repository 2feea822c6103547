/**
 * Per-device runtime state (buffer pool, pipeline cache) and a direct way to
 * run a WGSL `KernelBundle` on host data, without the tensor API.
 */
import type { KernelBundle, ScalarType } from "../../codegen/kernel_ir";
import {
  BufferPool,
  allocArray,
  downloadArray,
  releaseArray,
  uploadArray,
  type DeviceArray,
  type WebGPUMemoryStats,
} from "./buffers";
import { requireWebGPU, type WebGPUContext } from "./device";
import { WebGPUExecutable } from "./executor";
import { PipelineCache } from "./pipelines";

export interface WebGPURuntime {
  readonly ctx: WebGPUContext;
  readonly pool: BufferPool;
  readonly pipelines: PipelineCache;
}

const runtimes = new WeakMap<WebGPUContext, WebGPURuntime>();
/** Pipelines belong to the device: contexts over one GPUDevice (e.g. `initWebGPU({ device })`) share them. */
const pipelineCaches = new WeakMap<GPUDevice, PipelineCache>();

/** The runtime of a context (created on first use). */
export function runtimeFor(ctx: WebGPUContext): WebGPURuntime {
  let r = runtimes.get(ctx);
  if (!r) {
    let pipelines = pipelineCaches.get(ctx.device);
    if (!pipelines) pipelineCaches.set(ctx.device, (pipelines = new PipelineCache(ctx)));
    r = { ctx, pool: new BufferPool(ctx.device), pipelines };
    runtimes.set(ctx, r);
  }
  return r;
}

/**
 * What the WebGPU buffer pool of a context holds: live bytes (tensors,
 * constants, runs in flight), free bytes kept for reuse, the budget, and
 * counts of buffers created and destroyed and of collections asked for.
 * @example
 * const { liveBytes, freeBytes } = webgpuMemoryStats();
 * console.log(`${(liveBytes / 2 ** 20).toFixed(1)} MiB live, ${(freeBytes / 2 ** 20).toFixed(1)} MiB pooled`);
 */
export function webgpuMemoryStats(ctx: WebGPUContext = requireWebGPU()): WebGPUMemoryStats {
  return runtimeFor(ctx).pool.stats();
}

/**
 * Sets the byte budget of a context's buffer pool (default 1 GiB): past it,
 * free buffers are destroyed and, when live bytes alone pass it, a garbage
 * collection is asked for so that unreachable tensors return their buffers.
 * Never frees a tensor that is still referenced.
 * @example setWebGPUMemoryBudget(256 * 2 ** 20);
 */
export function setWebGPUMemoryBudget(bytes: number, ctx: WebGPUContext = requireWebGPU()): void {
  if (!Number.isFinite(bytes) || bytes < 0)
    throw new RangeError(`setWebGPUMemoryBudget: ${bytes} must be a byte count >= 0`);
  runtimeFor(ctx).pool.budgetBytes = bytes;
}

/** Host data for one bundle input. */
export interface HostArray {
  readonly type: ScalarType;
  readonly data: ArrayLike<number>;
}

/**
 * Runs a WGSL bundle once on host inputs and reads every output back.
 * @example
 * const [y] = await runWgslBundle(ctx, compile(program, { target: "wgsl" }), [{ type: "f32", data: x }]);
 */
export async function runWgslBundle(
  ctx: WebGPUContext,
  bundle: KernelBundle,
  inputs: readonly HostArray[],
  dims: ReadonlyMap<string, number> = new Map(),
): Promise<(Float32Array | Int32Array | Uint32Array | Uint8Array)[]> {
  const rt = runtimeFor(ctx);
  const exe = new WebGPUExecutable(ctx, rt.pool, rt.pipelines, bundle);
  const uploaded: DeviceArray[] = inputs.map((x) => {
    const a = allocArray(ctx, rt.pool, x.type, x.data.length);
    uploadArray(ctx, a, x.data);
    return a;
  });
  try {
    const sub = exe.run(dims, uploaded);
    await sub.done;
    const out = await sub.pace.poll(() => Promise.all(sub.outputs.map((a) => downloadArray(ctx, a))));
    new Set(sub.outputs.filter((_, i) => sub.owned[i])).forEach((a) => releaseArray(rt.pool, a));
    return out;
  } finally {
    uploaded.forEach((a) => releaseArray(rt.pool, a));
    exe.dispose();
  }
}
