/**
 * The host side of `npm run cuda:tc` (scripts/cuda_tc.ts), kept apart so it is testable without a GPU:
 * the benchmark cases and their FLOPs, the two schedules compared (f32 FMA tiles, the default, and TF32
 * tensor cores), the peaks a result is reported against, and parsing of the PyTorch peers' output.
 */
import { BENCH_MOE, moeInputs, moePrograms } from "../bench/moe_layer";
import type { CompileOptions } from "../codegen/compile";
import { cudaDeviceProfile, type DeviceProfile } from "../codegen/device";
import { ops, trace, vjpProgram, type Program, type Tensor } from "../index";
import { mulberry32, randomFloats } from "../testing/random_programs";
import { tensor } from "../dsl/creation";

/** One timed program: checked against the interpreter (`oracle`) or against the FMA schedule's run (large ones). */
export interface TcCase {
  readonly name: string;
  readonly program: Program;
  readonly inputs: readonly Tensor[];
  /** Multiply-adds x 2 of the GEMMs it runs (for TFLOP/s), when it is one GEMM. */
  readonly flops?: number;
  readonly oracle: "interpreter" | "fma";
}

/** The grouped GEMM timed for the roofline: M rows in E balanced groups, x [M, K] @ w [E, K, N]. */
export const GROUPED_BENCH = { M: 8192, K: 1024, N: 1024, E: 8 } as const;

/** Relative 2-norm error allowed: f32 FMA as everywhere (1e-4); TF32 inputs keep 10 mantissa bits (~1e-3). */
export const RTOL = { fma: 1e-4, tf32: 5e-3 } as const;

/** The schedules compared: compile options per name (the device: the GPU's profile, or sm_90 to build here). */
export function schedules(device: DeviceProfile = cudaDeviceProfile(9, 0)): Record<"fma" | "tf32", CompileOptions> {
  return {
    fma: { target: "cuda" },
    tf32: { target: "cuda", device, knobs: { tensorCoreMatmul: true } },
  };
}

/** A grouped GEMM (raggedMatmul) with balanced group sizes, and its gradient when `gradient`. */
function groupedCase(M: number, K: number, N: number, E: number, seed: number, big: boolean): TcCase {
  const rng = mulberry32(seed);
  const x = randomFloats(rng, "f32", [M, K]);
  const w = randomFloats(rng, "f32", [E, K, N], 1 / Math.sqrt(K));
  const base = Math.floor(M / E);
  const sizes = tensor(
    Array.from({ length: E }, (_, g) => (g < E - 1 ? base : M - base * (E - 1))),
    [E],
    "i32",
  );
  const program = trace((a: Tensor, b: Tensor, s: Tensor) => ops.raggedMatmul(a, b, s), x, w, sizes);
  return {
    name: `grouped GEMM [${M},${K}] @ [${E},${K},${N}]`,
    program,
    inputs: [x, w, sizes],
    flops: 2 * M * K * N,
    oracle: big ? "fma" : "interpreter",
  };
}

/**
 * The cases of `npm run cuda:tc`: small GEMMs with tails (interpreter), the benchmark MoE layer forward and
 * forward + backward (interpreter), a 1024^3 matmul (interpreter) and the large grouped GEMM (against FMA).
 */
export function tcCases(): TcCase[] {
  const rng = mulberry32(11);
  const [a, b] = [randomFloats(rng, "f32", [1024, 1024]), randomFloats(rng, "f32", [1024, 1024])];
  const matmul = trace((x: Tensor, y: Tensor) => ops.matmul(x, y), a, b);
  const { forward, gradient } = moePrograms(BENCH_MOE);
  const xs = moeInputs(BENCH_MOE);
  const small = groupedCase(77, 33, 70, 3, 5, false);
  const smallGrad = vjpProgram(small.program);
  const cot = randomFloats(rng, "f32", [77, 70]);
  const { M, K, N, E } = GROUPED_BENCH;
  return [
    small,
    { name: `grad of ${small.name}`, program: smallGrad, inputs: [...small.inputs, cot], oracle: "interpreter" },
    { name: "MoE layer fwd (T=1024 D=256 H=512 E=8 k=2)", program: forward, inputs: xs, oracle: "interpreter" },
    {
      name: "MoE layer fwd+bwd",
      program: gradient,
      inputs: [...xs, randomFloats(rng, "f32", [])],
      oracle: "interpreter",
    },
    { name: "matmul 1024^3", program: matmul, inputs: [a, b], flops: 2 * 1024 ** 3, oracle: "interpreter" },
    groupedCase(M, K, N, E, 6, true),
  ];
}

/** Dense peaks in TFLOP/s (NVIDIA data sheets, SXM parts, without sparsity) by GPU name. */
const PEAKS: readonly { readonly match: RegExp; readonly f32: number; readonly tf32: number }[] = [
  { match: /H200|H100.*(SXM|HBM3)/i, f32: 67, tf32: 494.7 },
  { match: /H100/i, f32: 51, tf32: 378 },
  { match: /A100/i, f32: 19.5, tf32: 156 },
];

/**
 * The f32 and TF32 peaks of a GPU (`nvidia-smi -L` name), or undefined when unknown (pass --peak-tf32).
 * @example peakFor("GPU 0: NVIDIA H200 (UUID: ...)")?.tf32 // 494.7
 */
export function peakFor(gpu: string): { f32: number; tf32: number } | undefined {
  const p = PEAKS.find((x) => x.match.test(gpu));
  return p && { f32: p.f32, tf32: p.tf32 };
}

/**
 * Measurements of the PyTorch peers (bench/torch_moe.py, bench/torch_gemm.py): lines `torch <name> <ms> ms`.
 * @example parseTorch("torch MoE fwd 0.512 ms\n") // Map { "MoE fwd" => 0.512 }
 */
export function parseTorch(stdout: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of stdout.split("\n")) {
    const m = /^torch (.+?) (\d+(?:\.\d+)?) ms\b/.exec(line.trim());
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

/** TFLOP/s of `flops` in `ms`, and its share of `peak` (TFLOP/s), as text: "312.4 TFLOP/s (63% of 494.7)". */
export function throughput(flops: number, ms: number, peak?: number): string {
  const t = flops / (ms * 1e9);
  return `${t.toFixed(1)} TFLOP/s${peak ? ` (${((100 * t) / peak).toFixed(0)}% of ${peak})` : ""}`;
}
