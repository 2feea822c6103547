/**
 * WebGPU benchmarks, called by the bench runner (bench/run.ts): the generic-path
 * time of the benchmark MoE layer (bench/moe_layer.ts: T=1024, D=256, H=512,
 * E=8, k=2, f32; top-2 router, SwiGLU experts as grouped GEMMs) forward and
 * forward+backward, and a 1024^3 f32 matmul,
 * each with its compile times split into tracing, code generation
 * (`compile(..., { target: "wgsl" })`) and the device's shader compilation.
 *
 * Run times are medians over `reps` calls on inputs already on the device,
 * each measured from the call to `queue.onSubmittedWorkDone()` (no readback);
 * host times are the synchronous part of a call (what the caller waits for).
 * On a machine without a GPU this is Dawn on SwiftShader (2 CPU cores here):
 * the numbers say the path works end to end, not how fast a GPU is.
 *
 * @example
 * const r = await benchMatmulWebGPU(1024);
 * console.log(`${r.gflops?.toFixed(1)} GFLOP/s on ${r.device}`);
 */
import { ones, ops, random, trace, type Program, type Tensor } from "../index";
import { initWebGPU, type WebGPUContext } from "../backends/webgpu/device";
import { profileOnWebGPU, runOnWebGPU, webgpuExecutable } from "../backends/webgpu/backend";
import { executorCounters, type LaunchTime } from "../backends/webgpu/executor";
import { BENCH_MOE, moeInputs, moePrograms, type MoeConfig } from "./moe_layer";
import { median } from "./stats";

/** One benchmark's timings on WebGPU. */
export interface WebGPUTiming {
  readonly name: string;
  /** The adapter, e.g. "google swiftshader ...". */
  readonly device: string;
  /** Tracing the function(s) into Programs, when the benchmark traced them. */
  readonly traceMs?: number;
  /** Graph passes, fusion, lowering and WGSL emission. */
  readonly codegenMs: number;
  /** The device compiling and validating every pipeline. */
  readonly pipelineMs: number;
  /** Median time per call, submit to idle queue. */
  readonly runMs: number;
  /**
   * Median host time per call: the synchronous part (planning, bind groups, encoding, submit), which a
   * caller pays before the device starts; the device works while the caller goes on.
   */
  readonly hostMs: number;
  /** Bind groups created per steady-state call (cached per bundle: 0 when outputs are disposed). */
  readonly bindGroupsPerCall: number;
  readonly reps: number;
  readonly kernels: number;
  readonly launches: number;
  /** Useful floating-point work per call / runMs, when the benchmark states its FLOPs. */
  readonly gflops?: number;
}

export interface TimeOptions {
  /** Timed calls after one warm-up call (default 3). */
  readonly reps?: number;
  /** FLOPs per call, for `gflops`. */
  readonly flops?: number;
}

/** Moves host tensors to the device once, so timed calls measure compute, not uploads. */
export function toDevice(ctx: WebGPUContext, xs: readonly Tensor[]): Tensor[] {
  const identity = trace((...ts: Tensor[]) => ts, ...xs);
  return runOnWebGPU(ctx, identity, xs);
}

/**
 * Times a Program on WebGPU: code generation, pipeline compilation, then the
 * median of `reps` steady-state calls on inputs already on the device.
 * @example const t = await timeProgramOnWebGPU("relu", trace((x) => ops.relu(x), x), [x]);
 */
export async function timeProgramOnWebGPU(
  name: string,
  program: Program,
  inputs: readonly Tensor[],
  options: TimeOptions = {},
): Promise<WebGPUTiming> {
  const ctx = await initWebGPU();
  const reps = options.reps ?? 3;
  let t = performance.now();
  const exe = webgpuExecutable(program, ctx);
  const codegenMs = performance.now() - t;
  t = performance.now();
  await exe.warm();
  const pipelineMs = performance.now() - t;
  const onDevice = toDevice(ctx, inputs);
  const hostTimes: number[] = [];
  const call = async () => {
    const start = performance.now();
    const outs = runOnWebGPU(ctx, program, onDevice);
    hostTimes.push(performance.now() - start);
    await ctx.device.queue.onSubmittedWorkDone();
    const took = performance.now() - start;
    for (const t of outs) t.dispose(); // a steady loop: the next call gets the same buffers and bind groups
    return took;
  };
  await call();
  hostTimes.length = 0;
  const groupsBefore = executorCounters.bindGroups;
  const times: number[] = [];
  for (let i = 0; i < reps; i++) times.push(await call());
  const runMs = median(times);
  const hostMs = median(hostTimes);
  const bindGroupsPerCall = (executorCounters.bindGroups - groupsBefore) / reps;
  return {
    name,
    device: ctx.adapterName,
    codegenMs,
    pipelineMs,
    runMs,
    hostMs,
    bindGroupsPerCall,
    reps,
    kernels: exe.bundle.kernels.length,
    launches: exe.bundle.schedule.length,
    ...(options.flops ? { gflops: options.flops / (runMs * 1e6) } : {}),
  };
}

/** Expert FLOPs of one forward call: three grouped GEMMs (gate, up, down) over T·k token slots. */
export function moeExpertFlops(cfg: MoeConfig = BENCH_MOE): number {
  return cfg.T * cfg.K * 3 * (2 * cfg.D * cfg.H);
}

/** The gradient program's inputs: the layer's inputs, then the loss cotangent 1. */
function gradientInputs(cfg: MoeConfig): Tensor[] {
  return [...moeInputs(cfg), ones([])];
}

/**
 * The benchmark MoE layer (bench/moe_layer.ts) on WebGPU: forward, and
 * forward+backward (the gradient program of its loss, from `vjpProgram`).
 * GFLOP/s count the expert GEMMs only (x3 for forward+backward).
 */
export async function benchMoeWebGPU(
  cfg: MoeConfig = BENCH_MOE,
  options: TimeOptions = {},
): Promise<{ forward: WebGPUTiming; forwardBackward: WebGPUTiming }> {
  const t = performance.now();
  const { forward, gradient } = moePrograms(cfg);
  const traceMs = performance.now() - t;
  const flops = moeExpertFlops(cfg);
  const fwd = await timeProgramOnWebGPU("moe forward", forward, moeInputs(cfg), { ...options, flops });
  const fwdBwd = await timeProgramOnWebGPU("moe forward+backward", gradient, gradientInputs(cfg), {
    ...options,
    flops: 3 * flops,
  });
  return { forward: { ...fwd, traceMs }, forwardBackward: { ...fwdBwd, traceMs } };
}

/** An n x n x n f32 matmul on WebGPU, with GFLOP/s (2 n^3 FLOPs per call). */
export async function benchMatmulWebGPU(n = 1024, options: TimeOptions = {}): Promise<WebGPUTiming> {
  const [ka, kb] = random.split(random.key(1), 2);
  const a = random.normal(ka!, [n, n]);
  const b = random.normal(kb!, [n, n]);
  const t = performance.now();
  const program = trace((p: Tensor, q: Tensor) => ops.matmul(p, q), a, b);
  const traceMs = performance.now() - t;
  const r = await timeProgramOnWebGPU(`matmul ${n}^3`, program, [a, b], { ...options, flops: 2 * n ** 3 });
  return { ...r, traceMs };
}

/**
 * Where the time of the MoE layer's forward+backward goes on WebGPU: every
 * launch timed with timestamp queries, slowest first (after one warm-up run).
 * @example (await profileMoeWebGPU()).slice(0, 5).forEach((t) => console.log(t.kernel, t.ms));
 */
export async function profileMoeWebGPU(cfg: MoeConfig = BENCH_MOE): Promise<LaunchTime[]> {
  const ctx = await initWebGPU();
  const { gradient } = moePrograms(cfg);
  const inputs = toDevice(ctx, gradientInputs(cfg));
  await profileOnWebGPU(ctx, gradient, inputs);
  return (await profileOnWebGPU(ctx, gradient, inputs)).sort((a, b) => b.ms - a.ms);
}

/**
 * GPU time of the benchmark MoE layer, forward and forward+backward: the sum of
 * its launches' timestamp-query times (median of `reps` profiled runs after one
 * warm-up), without the host's encoding, submission and completion wait. Undefined
 * when the device has no `timestamp-query` feature.
 */
export async function kernelTimeMoeWebGPU(
  cfg: MoeConfig = BENCH_MOE,
  reps = 5,
): Promise<{ forwardMs: number; forwardBackwardMs: number } | undefined> {
  const ctx = await initWebGPU();
  if (!ctx.hasTimestamps) return undefined;
  const { forward, gradient } = moePrograms(cfg);
  const total = async (program: Program, host: Tensor[]): Promise<number> => {
    const inputs = toDevice(ctx, host);
    await profileOnWebGPU(ctx, program, inputs);
    const sums: number[] = [];
    for (let i = 0; i < reps; i++)
      sums.push((await profileOnWebGPU(ctx, program, inputs)).reduce((s, t) => s + t.ms, 0));
    return median(sums);
  };
  return {
    forwardMs: await total(forward, moeInputs(cfg)),
    forwardBackwardMs: await total(gradient, gradientInputs(cfg)),
  };
}
