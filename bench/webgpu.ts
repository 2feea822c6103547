/**
 * WebGPU benchmarks, called by the bench runner (bench/run.ts): the generic-path
 * time of the benchmark MoE layer (T=1024, D=256, H=512, E=8, k=2, f32; top-k
 * gate, FFN experts) forward and forward+backward, and a 1024^3 f32 matmul,
 * each with its compile times split into tracing, code generation
 * (`compile(..., { target: "wgsl" })`) and the device's shader compilation.
 *
 * Run times are medians over `reps` calls on inputs already on the device,
 * each measured from the call to `queue.onSubmittedWorkDone()` (no readback).
 * On a machine without a GPU this is Dawn on SwiftShader (2 CPU cores here):
 * the numbers say the path works end to end, not how fast a GPU is.
 *
 * @example
 * const r = await benchMatmulWebGPU(1024);
 * console.log(`${r.gflops?.toFixed(1)} GFLOP/s on ${r.device}`);
 */
import { add, mean, moe, ops, random, square, trace, treeFlatten, valueAndGrad, type Tensor } from "../index";
import { initWebGPU, type WebGPUContext } from "../backends/webgpu/device";
import { profileOnWebGPU, runOnWebGPU, webgpuExecutable } from "../backends/webgpu/backend";
import type { LaunchTime } from "../backends/webgpu/executor";

/** One benchmark's timings on WebGPU. */
export interface WebGPUTiming {
  readonly name: string;
  /** The adapter, e.g. "google swiftshader ...". */
  readonly device: string;
  /** Tracing the function into a Program. */
  readonly traceMs: number;
  /** Graph passes, fusion, lowering and WGSL emission. */
  readonly codegenMs: number;
  /** The device compiling and validating every pipeline. */
  readonly pipelineMs: number;
  /** Median time per call, submit to idle queue. */
  readonly runMs: number;
  readonly reps: number;
  readonly kernels: number;
  readonly launches: number;
  /** Useful floating-point work per call / runMs, when the benchmark states its FLOPs. */
  readonly gflops?: number;
}

export interface TimeOptions {
  /** Timed calls after one warm-up call (default 5). */
  readonly reps?: number;
  /** FLOPs per call, for `gflops`. */
  readonly flops?: number;
}

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Moves host tensors to the device once, so timed calls measure compute, not uploads. */
function toDevice(ctx: WebGPUContext, xs: readonly Tensor[]): Tensor[] {
  const identity = trace((...ts: Tensor[]) => ts, ...xs);
  return runOnWebGPU(ctx, identity, xs);
}

/**
 * Times `fn(...args)` on WebGPU: trace, code generation, pipeline compilation,
 * then the median of `reps` steady-state calls.
 * @example const t = await timeOnWebGPU("relu", (x) => ops.relu(x), [x]);
 */
export async function timeOnWebGPU(name: string, fn: (...args: never[]) => unknown, args: readonly unknown[], options: TimeOptions = {}): Promise<WebGPUTiming> {
  const ctx = await initWebGPU();
  const reps = options.reps ?? 5;
  let t = performance.now();
  const program = trace(fn, ...args);
  const traceMs = performance.now() - t;
  t = performance.now();
  const exe = webgpuExecutable(program, ctx);
  const codegenMs = performance.now() - t;
  t = performance.now();
  await exe.warm();
  const pipelineMs = performance.now() - t;
  const [leaves] = treeFlatten<Tensor>(args, undefined, "args");
  const inputs = toDevice(ctx, leaves);
  const call = async () => {
    const start = performance.now();
    runOnWebGPU(ctx, program, inputs);
    await ctx.device.queue.onSubmittedWorkDone();
    return performance.now() - start;
  };
  await call();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) times.push(await call());
  const runMs = median(times);
  return {
    name,
    device: ctx.adapterName,
    traceMs,
    codegenMs,
    pipelineMs,
    runMs,
    reps,
    kernels: exe.bundle.kernels.length,
    launches: exe.bundle.schedule.length,
    ...(options.flops ? { gflops: options.flops / (runMs * 1e6) } : {}),
  };
}

/** Sizes of the benchmark MoE layer. */
export interface MoeBenchDims {
  readonly T: number;
  readonly D: number;
  readonly H: number;
  readonly E: number;
  readonly k: number;
}

export const MOE_BENCH_DIMS: MoeBenchDims = { T: 1024, D: 256, H: 512, E: 8, k: 2 };

/** The benchmark layer (top-k gate, FFN experts), its parameters and tokens. */
export function moeBenchSetup(dims: MoeBenchDims = MOE_BENCH_DIMS) {
  const layer = moe.moeLayer({ numExperts: dims.E, gate: { type: "topK", k: dims.k }, experts: moe.ffnExperts });
  const [kp, kx] = random.split(random.key(0), 2);
  const params = layer.init(kp!, { dModel: dims.D, hidden: dims.H });
  const x = random.normal(kx!, [dims.T, dims.D]);
  const forward = (p: typeof params, xs: Tensor) => layer.apply(p, xs).y;
  const loss = (p: typeof params, xs: Tensor) => {
    const { y, report } = layer.apply(p, xs);
    return add(mean(square(y)), report.auxLoss);
  };
  return { layer, params, x, forward, loss };
}

/** Expert FLOPs of one forward call (two matmuls of each token's k experts). */
export function moeExpertFlops(d: MoeBenchDims = MOE_BENCH_DIMS): number {
  return d.T * d.k * 2 * (2 * d.D * d.H);
}

/**
 * The benchmark MoE layer on WebGPU, forward and forward+backward (value and
 * gradient of a scalar loss with respect to every parameter).
 */
export async function benchMoeWebGPU(dims: MoeBenchDims = MOE_BENCH_DIMS, options: TimeOptions = {}): Promise<{ forward: WebGPUTiming; forwardBackward: WebGPUTiming }> {
  const { params, x, forward, loss } = moeBenchSetup(dims);
  const flops = moeExpertFlops(dims);
  const fwd = await timeOnWebGPU("moe forward", forward as never, [params, x], { ...options, flops });
  const fwdBwd = await timeOnWebGPU("moe forward+backward", valueAndGrad(loss) as never, [params, x], { ...options, flops: 3 * flops });
  return { forward: fwd, forwardBackward: fwdBwd };
}

/** An n x n x n f32 matmul on WebGPU, with GFLOP/s (2 n^3 FLOPs per call). */
export async function benchMatmulWebGPU(n = 1024, options: TimeOptions = {}): Promise<WebGPUTiming> {
  const [ka, kb] = random.split(random.key(1), 2);
  const a = random.normal(ka!, [n, n]);
  const b = random.normal(kb!, [n, n]);
  return timeOnWebGPU(`matmul ${n}^3`, (p: Tensor, q: Tensor) => ops.matmul(p, q), [a, b], { ...options, flops: 2 * n ** 3 });
}

/**
 * Where the time of the MoE layer's forward+backward goes on WebGPU: every
 * launch timed with timestamp queries, slowest first (one warm-up run first).
 * @example (await profileMoeWebGPU()).slice(0, 5).forEach((t) => console.log(t.kernel, t.ms));
 */
export async function profileMoeWebGPU(dims: MoeBenchDims = MOE_BENCH_DIMS): Promise<LaunchTime[]> {
  const ctx = await initWebGPU();
  const { params, x, loss } = moeBenchSetup(dims);
  const program = trace(valueAndGrad(loss) as never, params, x);
  const [leaves] = treeFlatten<Tensor>([params, x], undefined, "args");
  const inputs = toDevice(ctx, leaves);
  await profileOnWebGPU(ctx, program, inputs);
  return (await profileOnWebGPU(ctx, program, inputs)).sort((a, b) => b.ms - a.ms);
}
