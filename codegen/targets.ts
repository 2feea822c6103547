/**
 * What each code-generation target can do, as data. Scheduling, lowering and
 * `compile` read these records, never a target's name, so a new target is a
 * record here plus an emitter (codegen/emit/) — and the mapped type below makes
 * a missing record a compile error.
 */
import { I32_MAX } from "./analysis/ranges";
import type { Target } from "./kernel_ir";

export interface TargetCapabilities {
  readonly name: Target;
  /**
   * How a workgroup runs: `parallel` (many threads that share workgroup memory
   * and meet at barriers: GPUs) or `serial` (one thread does the workgroup's
   * work in order: CPU targets, where rows are reduced in a loop and scatters
   * run in index order).
   */
  readonly threads: "parallel" | "serial";
  /** Workgroup shared memory and barriers are available. */
  readonly sharedMemory: boolean;
  /** Integer atomics on storage buffers (used only for integer scatter-adds, when asked for). */
  readonly integerAtomics: boolean;
  /** Float sums accumulate in `f64` (CPU targets, matching the interpreter) or in the element type. */
  readonly floatAccumulator: "f64" | "element";
  /**
   * The renderer widens index math to 64 bits wherever range analysis shows a
   * value can pass 2^31; without it, buffers must stay under 2^31 elements.
   */
  readonly wideIndices: boolean;
  /** Data-dependent index checks are on unless `compile(..., { checks: false })`. */
  readonly runtimeChecksByDefault: boolean;
  /** Hoist loop-invariant code in kernel IR (the target's own compiler does little code motion, e.g. V8). */
  readonly hoistInvariants: boolean;
  /**
   * The target renders GEMM kernels (`Kernel.contraction`) with micro-kernels of its
   * own on output tiles of this shape (its serial register tile); their operands are
   * first written to plain buffers when they would be computed in place. null: none.
   */
  readonly contractionTile: { readonly rows: number; readonly cols: number } | null;
  /**
   * Storage buffers one kernel may bind, where the target has such a limit: WebGPU's
   * `maxStorageBuffersPerShaderStage` is 8 unless a device asks for more (the default
   * limit, also the least any adapter offers). Every binding counts: inputs, outputs,
   * scratch and the run-time check flag. null: no limit (fusion still plans within
   * `FUSION_BUFFER_BUDGET`, codegen/passes/fusion.ts).
   */
  readonly maxStorageBuffers: number | null;
  /**
   * Warp-level tensor-core GEMMs the renderer can emit (CUDA: TF32 `mma.sync` from sm_80) and the
   * least compute capability (major * 10 + minor) they need; null: none. Used only when a schedule
   * asks for them (`ScheduleKnobs.tensorCoreMatmul`) on a device that has them.
   */
  readonly tensorCores: { readonly minComputeCapability: number } | null;
  /** The sizes it computes exactly (buffer elements, index values, threads, named dims). */
  readonly sizeLimits: TargetSizeLimits;
}

/**
 * What a target computes exactly, for the range analysis's limits
 * (`codegen/analysis/limits.ts`): element counts per buffer, index values,
 * threads per launch and named-dim values, each with why (for messages).
 */
export interface TargetSizeLimits {
  readonly elements: number;
  readonly elementsWhy: string;
  /** Largest index value; `undefined` when the target computes every unproven index value wide. */
  readonly index?: number;
  readonly indexWhy: string;
  /**
   * Set where a kernel whose index math has a static bound past `index` is
   * rendered another way that computes it exactly (wasm: as JS, see
   * `staticIndexPastI32`): that kernel's limit.
   */
  readonly staticWide?: { readonly index: number; readonly why: string };
  readonly threads?: number;
  readonly dims?: number;
  readonly dimsWhy: string;
}

/** Every target's capabilities. */
export const TARGETS: { readonly [T in Target]: TargetCapabilities & { readonly name: T } } = {
  wgsl: {
    name: "wgsl",
    threads: "parallel",
    sharedMemory: true,
    integerAtomics: true,
    floatAccumulator: "element",
    wideIndices: false,
    runtimeChecksByDefault: true,
    hoistInvariants: false,
    contractionTile: null,
    maxStorageBuffers: 8,
    tensorCores: null,
    sizeLimits: {
      elements: I32_MAX,
      elementsWhy: "WGSL index math is i32",
      index: I32_MAX,
      indexWhy: "WGSL index math is i32",
      threads: I32_MAX,
      dims: I32_MAX,
      dimsWhy: "WGSL kernels take sizes as i32",
    },
  },
  cuda: {
    name: "cuda",
    threads: "parallel",
    sharedMemory: true,
    integerAtomics: true,
    floatAccumulator: "element",
    wideIndices: true,
    runtimeChecksByDefault: true,
    hoistInvariants: false,
    contractionTile: null,
    maxStorageBuffers: null,
    tensorCores: { minComputeCapability: 80 },
    sizeLimits: {
      elements: Number.MAX_SAFE_INTEGER,
      elementsWhy: "buffer sizes are computed exactly up to 2^53",
      indexWhy: "",
      dims: I32_MAX,
      dimsWhy: "CUDA kernels take sizes as int",
    },
  },
  js: {
    name: "js",
    threads: "serial",
    sharedMemory: false,
    integerAtomics: false,
    floatAccumulator: "f64",
    wideIndices: false,
    runtimeChecksByDefault: true,
    hoistInvariants: true,
    contractionTile: null,
    maxStorageBuffers: null,
    tensorCores: null,
    sizeLimits: {
      elements: I32_MAX,
      elementsWhy: "the cpu backend addresses typed arrays with 32-bit indices",
      index: Number.MAX_SAFE_INTEGER,
      indexWhy: "JS numbers are exact integers up to 2^53",
      threads: I32_MAX,
      dimsWhy: "",
    },
  },
  wasm: {
    name: "wasm",
    threads: "serial",
    sharedMemory: false,
    integerAtomics: false,
    floatAccumulator: "f64",
    wideIndices: false,
    runtimeChecksByDefault: true,
    hoistInvariants: true,
    // SIMD128: 4 rows x two f32x4 columns (8 accumulators), the tile that measured best (larger ones spill).
    contractionTile: { rows: 4, cols: 8 },
    maxStorageBuffers: null,
    tensorCores: null,
    sizeLimits: {
      elements: I32_MAX,
      elementsWhy: "wasm kernels address linear memory with 32-bit indices",
      index: I32_MAX,
      indexWhy: "wasm index math is i32",
      staticWide: { index: Number.MAX_SAFE_INTEGER, why: "kernels past 2^31 run as JS, exact integers up to 2^53" },
      threads: I32_MAX,
      dims: I32_MAX,
      dimsWhy: "wasm kernels take sizes as i32",
    },
  },
};

/**
 * The capabilities of `target`; throws naming the known targets for an unknown one.
 * @example targetCapabilities("wgsl").sharedMemory // true
 */
export function targetCapabilities(target: Target): TargetCapabilities {
  const caps = (TARGETS as Record<string, TargetCapabilities | undefined>)[target];
  if (!caps)
    throw new Error(
      `unknown code-generation target "${String(target)}"; expected one of ${Object.keys(TARGETS).join(", ")}`,
    );
  return caps;
}
